#include "cpu/lowering.h"

#include <algorithm>
#include <cstdlib>
#include <string>

#include "cpu/lowering_state.h"

namespace resnet {
namespace cpu_lowering {
namespace {

// Winograd F(4x4, 3x3) (oneDNN's avx512_core kernel) for 3x3 stride-1 undilated ungrouped convs: 2.25x
// fewer multiplications, measured 1.5-2x faster on resnet18/50 than direct here, and within the tests'
// tolerances (every op ≤ 1e-5 of a float64 reference, whole networks ≤ 1e-4 of onnxruntime). oneDNN has no
// f32 Winograd below AVX-512, where the direct kernel is used. RESNET_CPU_WINOGRAD=0 turns it off (direct
// convs everywhere, bit-for-bit the earlier numerics), read when a graph is compiled. Float convs only:
// oneDNN's int8 Winograd is slower than its direct int8 kernel and far less exact.
bool winograd_eligible(const Op& op) {
  const char* setting = std::getenv("RESNET_CPU_WINOGRAD");
  if (setting && std::string(setting) == "0") return false;
  return op.kernel.h == 3 && op.kernel.w == 3 && op.stride.h == 1 && op.stride.w == 1 && op.dilation.h == 1 &&
         op.dilation.w == 1 && op.groups == 1;
}

}  // namespace

Program Lowering::run() {
  find_last_readers();
  value_view_.assign(graph_.values.size(), -1);
  conversions_.assign(graph_.values.size(), {});
  const int input = add_buffer(BufferKind::kInput, plain(graph_.input).get_size());
  value_view_[graph_.input] = add_view(plain(graph_.input), input);
  quantize_if_declared(graph_.input);

  for (size_t i = 0; i < graph_.ops.size(); ++i) lower(graph_.ops[i], static_cast<int>(i));

  for (size_t k = 0; k < graph_.outputs.size(); ++k) {
    const int value = graph_.outputs[k];
    const int buffer = add_buffer(BufferKind::kOutput, plain(value).get_size());
    program_.buffers[buffer].output_index = static_cast<int>(k);
    add_reorder(value_view_[value], add_view(plain(value), buffer));
  }
  find_buffer_lifetimes();
  return std::move(program_);
}

void Lowering::lower(const Op& op, int index) {
  switch (op.kind) {
    case OpKind::kConv: runs_int8(op) ? conv_int8(op, index) : conv(op, index); break;
    case OpKind::kMaxPool: max_pool(op); break;
    case OpKind::kAdaptiveAvgPool: adaptive_avg_pool(op); break;
    case OpKind::kLinear: linear(op, index); break;
    case OpKind::kRelu: relu(op, index); break;
    case OpKind::kAdd: add(op, index); break;
    case OpKind::kFlatten: flatten(op); break;
  }
  quantize_if_declared(op.dst);
}

void Lowering::conv(const Op& op, int index) {
  const memory::dims src_dims = dims(op.src);
  const memory::dims dst_dims = dims(op.dst);
  const int64_t in_channels = src_dims[1];
  const bool grouped = op.groups > 1;
  const memory::dims weight_dims = conv_weight_dims(op, in_channels);
  const bool has_residual = op.residual >= 0;
  const dnnl::primitive_attr attr = make_attr(has_residual, op.relu);
  // A source already in a blocked layout (nChw16c, which Winograd convs read and write) is taken as it
  // is rather than reordered back to nhwc: measured on resnet50 at batch 1 here, the reorders around each
  // Winograd conv cost more than the Winograd conv saved (27.1 ms either way), while taking the blocked
  // source brought it to 24.2 ms. A plain source stays `any`: oneDNN's choice (nhwc) is faster at batch 1.
  const memory::desc& current_src = view(value_view_[op.src]).desc;
  const bool blocked_src = current_src.data.format_kind == dnnl_blocked &&
                           current_src.data.format_desc.blocking.inner_nblks > 0;
  auto make_pd = [&](const memory::desc& src, const memory::desc& dst, dnnl::algorithm algorithm) {
    const dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_inference, algorithm, src,
                                               compute_any(weight_dims), any({op.out_channels}), dst,
                                               {op.stride.h, op.stride.w}, {op.dilation.h - 1, op.dilation.w - 1},
                                               {op.padding.h, op.padding.w}, {op.padding.h, op.padding.w});
    return dnnl::convolution_forward::primitive_desc(desc, attr, engine_);
  };

  // The sum post-op adds into dst, so dst must hold the residual in dst's layout: ask for the residual's
  // own layout first, which lets the conv write over it in place. Winograd first where it applies (see
  // winograd_eligible), direct where oneDNN has no Winograd kernel for this machine or shape. Each
  // candidate is tried with the source's own layout first when that is blocked, then with oneDNN's choice;
  // a reference (unoptimised) kernel is never taken while another candidate remains.
  std::vector<memory::desc> sources;
  if (blocked_src) sources.push_back(current_src);
  sources.push_back(compute_any(src_dims));
  std::vector<dnnl::algorithm> algorithms{dnnl::algorithm::convolution_direct};
  if (winograd_eligible(op)) algorithms.insert(algorithms.begin(), dnnl::algorithm::convolution_winograd);
  std::vector<std::pair<memory::desc, memory::desc>> layouts;  // (src, dst) in order of preference
  // bf16: nChw16c first (oneDNN's jit_bf16 kernels), measured on resnet50 here (AVX512-BF16, 1 thread, CPU
  // time per forward) at 170-180 ms for batch 8 against 200 ms with oneDNN's own choice (nhwc, brgconv), and
  // level at batch 1 (25 ms). A residual written by an earlier conv is then nChw16c too.
  if (compute_ == memory::data_type::bf16) {
    const memory::desc blocked_dst(dst_dims, compute_, tag::nChw16c);
    layouts.emplace_back(in_channels % 16 == 0 ? memory::desc(src_dims, compute_, tag::nChw16c) : compute_any(src_dims),
                         blocked_dst);
  }
  for (const memory::desc& src : sources) {
    if (has_residual) layouts.emplace_back(src, view(value_view_[op.residual]).desc);
    layouts.emplace_back(src, compute_any(dst_dims));
  }
  dnnl::convolution_forward::primitive_desc pd;
  bool chosen = false;
  for (size_t a = 0; a < algorithms.size() && !chosen; ++a) {
    for (const auto& [src, dst] : layouts) {
      try {
        pd = make_pd(src, dst, algorithms[a]);
        if (!is_reference(pd)) {
          chosen = true;
          break;
        }
      } catch (const dnnl::error&) {
        // no implementation for this combination: try the next
      }
    }
  }
  // Nothing but reference kernels (or nothing at all): oneDNN's own choice of direct, whatever it is.
  if (!chosen) pd = make_pd(compute_any(src_dims), compute_any(dst_dims), dnnl::algorithm::convolution_direct);

  const int src = view_as(op.src, pd.src_desc());
  const int dst = has_residual ? residual_destination(op.residual, pd.dst_desc(), src, index)
                               : add_arena_view(pd.dst_desc());
  Step step;
  step.primitive = dnnl::convolution_forward(pd);
  step.views = {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}};
  step.constants = {
      {DNNL_ARG_WEIGHTS,
       constant(index, DNNL_ARG_WEIGHTS, op.weight, memory::desc(weight_dims, kF32, grouped ? tag::goihw : tag::oihw),
                pd.weights_desc())},
      {DNNL_ARG_BIAS,
       constant(index, DNNL_ARG_BIAS, op.bias, memory::desc({op.out_channels}, kF32, tag::x), pd.bias_desc())},
  };
  step.scratchpad = pd.scratchpad_desc();
  add_step(std::move(step));
  value_view_[op.dst] = dst;
}

// dst of a conv with a residual, already holding the residual in layout `desc`: the residual's own buffer
// when nothing reads it later (the normal ResNet case), else a copy.
int Lowering::residual_destination(int residual, const memory::desc& desc, int src_view, int index) {
  std::vector<int> candidates{value_view_[residual]};
  candidates.insert(candidates.end(), conversions_[residual].begin(), conversions_[residual].end());
  for (int candidate : candidates) {
    if (view(candidate).desc == desc && can_overwrite(residual, candidate, index) &&
        view(candidate).buffer != view(src_view).buffer) {
      return add_view(desc, view(candidate).buffer);
    }
  }
  const int dst = add_arena_view(desc);
  add_reorder(value_view_[residual], dst);
  return dst;
}

// `src`: a view of op.src; an integer one (max pooling) gives dst its type and scale.
void Lowering::pool(const Op& op, int src, dnnl::algorithm algorithm, const memory::dims& kernel,
                    const memory::dims& stride, const memory::dims& dilation, const memory::dims& padding_l,
                    const memory::dims& padding_r) {
  const memory::desc dst_any(dims(op.dst), view(src).desc.data_type(), tag::any);
  const dnnl::pooling_v2_forward::desc desc(dnnl::prop_kind::forward_inference, algorithm, view(src).desc, dst_any,
                                            stride, kernel, dilation, padding_l, padding_r);
  const dnnl::pooling_v2_forward::primitive_desc pd(desc, make_attr(false, false), engine_);
  const int dst = add_arena_view(pd.dst_desc(), view_scale_[src]);
  Step step;
  step.primitive = dnnl::pooling_v2_forward(pd);
  step.views = {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}};
  step.scratchpad = pd.scratchpad_desc();
  add_step(std::move(step));
  value_view_[op.dst] = dst;
}

void Lowering::max_pool(const Op& op) {
  const Shape& in = graph_.values[op.src];
  const Shape& out = graph_.values[op.dst];
  // oneDNN sizes the output by floor((in + l + r - window) / stride) + 1; ceil mode's extra window (and
  // PyTorch's implicit -inf padding) is expressed by widening the right/bottom padding just enough.
  // Max pooling ignores padded positions, which is the -inf semantics.
  auto right = [](int64_t size, int64_t out_size, int64_t kernel, int64_t stride, int64_t pad, int64_t dilation) {
    return std::max<int64_t>(0, (out_size - 1) * stride + (kernel - 1) * dilation + 1 - size - pad);
  };
  pool(op, value_view_[op.src], dnnl::algorithm::pooling_max, {op.kernel.h, op.kernel.w}, {op.stride.h, op.stride.w},
       {op.dilation.h - 1, op.dilation.w - 1}, {op.padding.h, op.padding.w},
       {right(in[1], out[1], op.kernel.h, op.stride.h, op.padding.h, op.dilation.h),
        right(in[2], out[2], op.kernel.w, op.stride.w, op.padding.w, op.dilation.w)});
}

void Lowering::adaptive_avg_pool(const Op& op) {
  const Shape& in = graph_.values[op.src];
  const Shape& out = graph_.values[op.dst];
  if (AdaptiveAvgPool::uniform(in[1], in[2], out[1], out[2])) {
    const memory::dims window{in[1] / out[1], in[2] / out[2]};
    pool(op, real(op.src), dnnl::algorithm::pooling_avg_exclude_padding, window, window, {0, 0}, {0, 0}, {0, 0});
    return;
  }
  const int src = view_as(op.src, plain(op.src));
  const int dst = add_arena_view(plain(op.dst));
  Step step;
  step.adaptive_pool = AdaptiveAvgPool{batch_ * in[0], in[1], in[2], out[1], out[2]};
  step.views = {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}};
  add_step(std::move(step));
  value_view_[op.dst] = dst;
}

void Lowering::linear(const Op& op, int index) {
  const memory::dims src_dims = dims(op.src);
  // The weight [O, I] read as [O, C, H, W] is the same numbers: src is flattened in C, H, W order.
  memory::dims weight_dims{op.out_channels};
  weight_dims.insert(weight_dims.end(), src_dims.begin() + 1, src_dims.end());
  const dnnl::inner_product_forward::desc desc(dnnl::prop_kind::forward_inference, compute_any(src_dims),
                                               compute_any(weight_dims), any({op.out_channels}),
                                               any({batch_, op.out_channels}));
  const dnnl::inner_product_forward::primitive_desc pd(desc, make_attr(false, false), engine_);
  const int src = view_as(op.src, pd.src_desc());
  const int dst = add_arena_view(pd.dst_desc());
  Step step;
  step.primitive = dnnl::inner_product_forward(pd);
  step.views = {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}};
  step.constants = {
      {DNNL_ARG_WEIGHTS,
       constant(index, DNNL_ARG_WEIGHTS, op.weight,
                memory::desc(weight_dims, kF32, src_dims.size() == 4 ? tag::oihw : tag::oi), pd.weights_desc())},
      {DNNL_ARG_BIAS,
       constant(index, DNNL_ARG_BIAS, op.bias, memory::desc({op.out_channels}, kF32, tag::x), pd.bias_desc())},
  };
  step.scratchpad = pd.scratchpad_desc();
  add_step(std::move(step));
  value_view_[op.dst] = dst;
}

void Lowering::relu(const Op& op, int index) {
  const int src = real(op.src);
  const memory::desc& desc = view(src).desc;
  const dnnl::eltwise_forward::desc eltwise(dnnl::prop_kind::forward_inference, dnnl::algorithm::eltwise_relu, desc,
                                            0.f, 0.f);
  const dnnl::eltwise_forward::primitive_desc pd(eltwise, make_attr(false, false), engine_);
  const int dst = can_overwrite(op.src, src, index) ? add_view(desc, view(src).buffer) : add_arena_view(desc);
  Step step;
  step.primitive = dnnl::eltwise_forward(pd);
  step.views = {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}};
  step.scratchpad = pd.scratchpad_desc();
  add_step(std::move(step));
  value_view_[op.dst] = dst;
}

void Lowering::add(const Op& op, int index) {
  const int a = real(op.src);
  const memory::desc desc = view(a).desc;
  const int b = view_as(op.src2, desc);
  const dnnl::binary::desc binary(dnnl::algorithm::binary_add, desc, desc, desc);
  const dnnl::binary::primitive_desc pd(binary, make_attr(false, op.relu), engine_);
  const int dst = can_overwrite(op.src, a, index) ? add_view(desc, view(a).buffer) : add_arena_view(desc);
  Step step;
  step.primitive = dnnl::binary(pd);
  step.views = {{DNNL_ARG_SRC_0, a}, {DNNL_ARG_SRC_1, b}, {DNNL_ARG_DST, dst}};
  step.scratchpad = pd.scratchpad_desc();
  add_step(std::move(step));
  value_view_[op.dst] = dst;
}

// Flatten is free once src is plain: dst is the same bytes read as [N, F]. The two values then share a
// buffer, so neither may be overwritten while the other is still read.
void Lowering::flatten(const Op& op) {
  // bf16 stays bf16; a quantized value is read as its real numbers (f32), as every float op reads it.
  memory::data_type type = view(value_view_[op.src]).desc.data_type();
  if (type == memory::data_type::u8 || type == memory::data_type::s8) type = kF32;
  const int src = view_as(op.src, plain(op.src, type));
  value_view_[op.dst] = add_view(plain(op.dst, type), view(src).buffer);
  const int last = std::max(last_reader_[op.src], last_reader_[op.dst]);
  last_reader_[op.src] = last_reader_[op.dst] = last;
}

}  // namespace cpu_lowering

Program lower_graph(const Graph& graph, int64_t batch, Precision precision, const dnnl::engine& engine,
                    WeightCache& weights) {
  return cpu_lowering::Lowering(graph, batch, precision, engine, weights).run();
}

}  // namespace resnet
