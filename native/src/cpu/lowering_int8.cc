// A quantized graph at precision int8 (lib/compile/graph.ts, "Quantized graphs") on oneDNN 2.6: a
// quantized value lives as u8/s8 (real = scale · q); a conv whose src, dst (and residual) are quantized and
// that has weight scales runs oneDNN's integer convolution; every other op reads real numbers through a
// dequantizing reorder and its quantized result is quantized by another.
//
// oneDNN 2.6's integer conv computes, per output channel o (its bias is added to the int32 accumulator
// before the output scale):
//   dst = saturate(round_half_even(relu(oscale[o] · (acc + bias[o]) + sum_scale · residual_q)))
// so with x = sx·qx, w[o] = sw[o]·qw, y = sy·qy and residual = sr·qr the contract's
//   y = acc·sx·sw[o] + b[o] + residual
// is oscale[o] = sx·sw[o]/sy, bias[o] = b[o]/(sx·sw[o]) and sum_scale = sr/sy.
#include <string>

#include "cpu/lowering_state.h"

namespace resnet {
namespace cpu_lowering {
namespace {

memory::data_type data_type(QuantType type) {
  return type == QuantType::kUint8 ? memory::data_type::u8 : memory::data_type::s8;
}

// VPDPBUSD (VNNI) accumulates u8 · s8 products in int32. Without it oneDNN multiplies an s8 source by
// weights it halved (its s8 compensation, to dodge 16-bit overflow): measured 1-2 steps off the contract on
// 6-20 % of outputs at avx512_core and avx2, so such convs run as float convs there (the contract's numbers,
// slower). u8 sources stay integer: exact there as long as activations stay within [0, 127] (the quantizer's
// job on such CPUs; full-range u8 saturates 16-bit pair sums and was measured 30-40 steps off).
bool has_vnni() {
  switch (dnnl::get_effective_cpu_isa()) {
    case dnnl::cpu_isa::avx2_vnni:
    case dnnl::cpu_isa::avx512_core_vnni:
    case dnnl::cpu_isa::avx512_core_bf16:
    case dnnl::cpu_isa::avx512_core_amx: return true;
    default: return false;
  }
}

bool is_integer(const memory::desc& desc) {
  return desc.data_type() == memory::data_type::u8 || desc.data_type() == memory::data_type::s8;
}

}  // namespace

bool Lowering::runs_int8(const Op& op) const {
  return op.kind == OpKind::kConv && !op.weight_scales.empty() && quant_[op.src].quantized() &&
         quant_[op.dst].quantized() && (op.residual < 0 || quant_[op.residual].quantized()) &&
         (quant_[op.src].type == QuantType::kUint8 || has_vnni());
}

float Lowering::stored_scale(int value, const memory::desc& desc) const {
  if (!is_integer(desc)) return 1.f;
  const int current = value_view_[value];
  return is_integer(view(current).desc) ? view_scale_[current] : quant_[value].scale;
}

int Lowering::real(int value) {
  const memory::desc& current = view(value_view_[value]).desc;
  return is_integer(current) ? view_as(value, with_type(current, kF32)) : value_view_[value];
}

void Lowering::quantize_if_declared(int value) {
  const ValueQuant& quant = quant_[value];
  const memory::desc& current = view(value_view_[value]).desc;
  if (!quant.quantized() || is_integer(current)) return;
  // nhwc: the layout oneDNN's integer convs and pooling read (format_tag::any picks it for them).
  const memory::desc desc(dims(value), data_type(quant.type), graph_.values[value].size() == 3 ? tag::nhwc : tag::nc);
  const int quantized = add_arena_view(desc, quant.scale);
  add_reorder(value_view_[value], quantized);
  value_view_[value] = quantized;
  conversions_[value].clear();  // copies of the float numbers: every reader must see the quantized ones
}

void Lowering::conv_int8(const Op& op, int index) {
  const memory::dims src_dims = dims(op.src);
  const memory::dims dst_dims = dims(op.dst);
  const memory::dims weight_dims = conv_weight_dims(op, src_dims[1]);
  const bool grouped = op.groups > 1;
  const bool has_residual = op.residual >= 0;
  const ValueQuant& x = quant_[op.src];
  const ValueQuant& y = quant_[op.dst];
  const memory::data_type src_type = data_type(x.type);
  const memory::data_type dst_type = data_type(y.type);

  std::vector<float> output_scales(op.out_channels), bias(op.out_channels), weight_quantize(op.out_channels);
  for (int64_t o = 0; o < op.out_channels; ++o) {
    const double acc_scale = static_cast<double>(x.scale) * op.weight_scales[o];  // real value of one acc unit
    output_scales[o] = static_cast<float>(acc_scale / y.scale);
    bias[o] = static_cast<float>(op.bias[o] / acc_scale);
    weight_quantize[o] = static_cast<float>(1.0 / op.weight_scales[o]);
  }
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  attr.set_output_scales(1 << 1, output_scales);
  dnnl::post_ops post_ops;
  if (has_residual) {
    const ValueQuant& r = quant_[op.residual];
    // The residual is read as its own type from dst's buffer (s8 from a downsample into a u8 block output).
    post_ops.append_sum(static_cast<float>(static_cast<double>(r.scale) / y.scale), data_type(r.type));
  }
  if (op.relu) post_ops.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
  attr.set_post_ops(post_ops);

  auto make_pd = [&](const memory::desc& src, const memory::desc& dst) {
    const dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                                               src, memory::desc(weight_dims, memory::data_type::s8, tag::any),
                                               any({op.out_channels}), dst, {op.stride.h, op.stride.w},
                                               {op.dilation.h - 1, op.dilation.w - 1}, {op.padding.h, op.padding.w},
                                               {op.padding.h, op.padding.w});
    return dnnl::convolution_forward::primitive_desc(desc, attr, engine_);
  };
  // As the float conv: the source's own layout first (integer values flow in nhwc, so no reorder between
  // integer convs), dst in the residual's layout (written in place), then oneDNN's choice; never a
  // reference kernel while another candidate remains.
  std::vector<memory::desc> sources{view(value_view_[op.src]).desc, memory::desc(src_dims, src_type, tag::any)};
  std::vector<memory::desc> destinations{memory::desc(dst_dims, dst_type, tag::any)};
  if (has_residual) destinations.insert(destinations.begin(), with_type(view(value_view_[op.residual]).desc, dst_type));
  dnnl::convolution_forward::primitive_desc pd;
  bool chosen = false;
  for (size_t s = 0; s < sources.size() && !chosen; ++s) {
    for (const memory::desc& dst : destinations) {
      try {
        pd = make_pd(sources[s], dst);
        if (!is_reference(pd)) {
          chosen = true;
          break;
        }
      } catch (const dnnl::error&) {
        // no implementation for this combination: try the next
      }
    }
  }
  if (!chosen) pd = make_pd(sources.back(), destinations.back());

  const int src = view_as(op.src, pd.src_desc());
  const int dst = has_residual ? int8_residual_destination(op.residual, pd.dst_desc(), y.scale, src, index)
                               : add_arena_view(pd.dst_desc(), y.scale);
  dnnl::primitive_attr weight_attr;
  weight_attr.set_output_scales(grouped ? (1 << 0) | (1 << 1) : 1 << 0, weight_quantize);
  Step step;
  step.primitive = dnnl::convolution_forward(pd);
  step.views = {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}};
  step.constants = {
      {DNNL_ARG_WEIGHTS,
       constant(index, DNNL_ARG_WEIGHTS | kInt8CacheKey, op.weight,
                memory::desc(weight_dims, kF32, grouped ? tag::goihw : tag::oihw), pd.weights_desc(), &weight_attr)},
      {DNNL_ARG_BIAS, constant(index, DNNL_ARG_BIAS | kInt8CacheKey, bias,
                               memory::desc({op.out_channels}, kF32, tag::x), pd.bias_desc())},
  };
  step.scratchpad = pd.scratchpad_desc();
  add_step(std::move(step));
  value_view_[op.dst] = dst;
}

// As residual_destination, for the sum post-op of an integer conv: dst's buffer must hold the residual in
// dst's layout and the residual's own type (same size as dst's).
int Lowering::int8_residual_destination(int residual, const memory::desc& dst_desc, float dst_scale, int src_view,
                                        int index) {
  const memory::desc sum_desc = with_type(dst_desc, data_type(quant_[residual].type));
  std::vector<int> candidates{value_view_[residual]};
  candidates.insert(candidates.end(), conversions_[residual].begin(), conversions_[residual].end());
  for (int candidate : candidates) {
    if (view(candidate).desc == sum_desc && can_overwrite(residual, candidate, index) &&
        view(candidate).buffer != view(src_view).buffer) {
      return add_view(dst_desc, view(candidate).buffer, dst_scale);
    }
  }
  const int copy = add_arena_view(sum_desc, quant_[residual].scale);
  add_reorder(value_view_[residual], copy);
  return add_view(dst_desc, view(copy).buffer, dst_scale);
}

}  // namespace cpu_lowering
}  // namespace resnet
