#include "cpu/lowering.h"

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <string>

namespace resnet {
namespace {

using dnnl::memory;
using tag = dnnl::memory::format_tag;

constexpr memory::data_type kF32 = memory::data_type::f32;

memory::desc any(const memory::dims& dims) { return memory::desc(dims, kF32, tag::any); }

// oneDNN's reference kernels are orders of magnitude slower than its JIT ones; a layout that only they
// support is worth a reorder.
bool is_reference(const dnnl::primitive_desc_base& pd) { return std::string(pd.impl_info_str()).rfind("ref", 0) == 0; }

// Every primitive takes its scratchpad from the context (one buffer, steps run one at a time) instead of
// oneDNN's own allocations.
// Winograd F(4x4, 3x3) (oneDNN's avx512_core kernel) for 3x3 stride-1 undilated ungrouped convs: 2.25x
// fewer multiplications, measured 1.5-2x faster on resnet18/50 than direct here, and within the tests'
// tolerances (every op ≤ 1e-5 of a float64 reference, whole networks ≤ 1e-4 of onnxruntime). oneDNN has no
// f32 Winograd below AVX-512, where the direct kernel is used. RESNET_CPU_WINOGRAD=0 turns it off (direct
// convs everywhere, bit-for-bit the earlier numerics), read when a graph is compiled.
bool winograd_eligible(const Op& op) {
  const char* setting = std::getenv("RESNET_CPU_WINOGRAD");
  if (setting && std::string(setting) == "0") return false;
  return op.kernel.h == 3 && op.kernel.w == 3 && op.stride.h == 1 && op.stride.w == 1 && op.dilation.h == 1 &&
         op.dilation.w == 1 && op.groups == 1;
}

dnnl::primitive_attr make_attr(bool sum, bool relu) {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  dnnl::post_ops ops;
  if (sum) ops.append_sum(1.f);
  if (relu) ops.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
  attr.set_post_ops(ops);
  return attr;
}

class Lowering {
 public:
  Lowering(const Graph& graph, int64_t batch, const dnnl::engine& engine, WeightCache& weights)
      : graph_(graph), batch_(batch), engine_(engine), stream_(engine), weights_(weights) {}

  Program run() {
    find_last_readers();
    value_view_.assign(graph_.values.size(), -1);
    conversions_.assign(graph_.values.size(), {});
    const int input = add_buffer(BufferKind::kInput, plain(graph_.input).get_size());
    value_view_[graph_.input] = add_view(plain(graph_.input), input);

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

 private:
  // ---- values, views and buffers ------------------------------------------------------------------

  memory::dims dims(int value) const {
    const Shape& shape = graph_.values[value];
    if (shape.size() == 3) return {batch_, shape[0], shape[1], shape[2]};
    return {batch_, shape[0]};
  }

  memory::desc plain(int value) const {
    return memory::desc(dims(value), kF32, graph_.values[value].size() == 3 ? tag::nchw : tag::nc);
  }

  const View& view(int id) const { return program_.views[id]; }
  const Buffer& buffer_of(int view_id) const { return program_.buffers[view(view_id).buffer]; }

  int add_buffer(BufferKind kind, size_t bytes) {
    Buffer buffer;
    buffer.kind = kind;
    buffer.bytes = bytes;
    program_.buffers.push_back(buffer);
    return static_cast<int>(program_.buffers.size()) - 1;
  }

  int add_view(const memory::desc& desc, int buffer) {
    program_.views.push_back(View{desc, buffer});
    return static_cast<int>(program_.views.size()) - 1;
  }

  int add_arena_view(const memory::desc& desc) {
    return add_view(desc, add_buffer(BufferKind::kArena, desc.get_size()));
  }

  // The last op reading each value (INT_MAX for graph outputs, -1 for values nobody reads).
  void find_last_readers() {
    last_reader_.assign(graph_.values.size(), -1);
    for (size_t i = 0; i < graph_.ops.size(); ++i) {
      for (int value : graph_.ops[i].inputs()) last_reader_[value] = static_cast<int>(i);
    }
    for (int value : graph_.outputs) last_reader_[value] = INT_MAX;
  }

  // True when op `op_index` may write over `view_id`, a view of `value`: nothing reads the value later and
  // the view lives in the arena (never in the caller's input).
  bool can_overwrite(int value, int view_id, int op_index) const {
    return last_reader_[value] == op_index && buffer_of(view_id).kind == BufferKind::kArena;
  }

  // `value` in layout `desc`: its own view when the layouts agree, else a reordered copy, made once and
  // shared by every consumer that needs that layout.
  int view_as(int value, const memory::desc& desc) {
    if (view(value_view_[value]).desc == desc) return value_view_[value];
    for (int converted : conversions_[value]) {
      if (view(converted).desc == desc) return converted;
    }
    const int converted = add_arena_view(desc);
    add_reorder(value_view_[value], converted);
    conversions_[value].push_back(converted);
    return converted;
  }

  // ---- steps ----------------------------------------------------------------------------------------

  void add_step(Step step) { program_.steps.push_back(std::move(step)); }

  void add_reorder(int from, int to) {
    const dnnl::reorder::primitive_desc pd(engine_, view(from).desc, engine_, view(to).desc, make_attr(false, false));
    Step step;
    step.primitive = dnnl::reorder(pd);
    step.views = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
    step.scratchpad = pd.scratchpad_desc();
    add_step(std::move(step));
  }

  // User data (plain, PyTorch's layout) of op `op`'s argument `arg` in the layout a primitive wants:
  // shared with another program of the same graph when one placed it so already, else reordered once.
  memory constant(int op, int arg, const std::vector<float>& data, const memory::desc& user,
                  const memory::desc& wanted) {
    std::shared_ptr<const memory> placed = weights_.find(op, arg, wanted);
    if (!placed) {
      memory source(user, engine_, const_cast<float*>(data.data()));
      auto fresh = std::make_shared<memory>(wanted, engine_);
      dnnl::reorder(source, *fresh).execute(stream_, source, *fresh);
      stream_.wait();
      placed = weights_.insert(op, arg, wanted, fresh);
      // A concurrent compile of the same graph may have placed the same weights meanwhile: its copy wins.
      if (placed != fresh) program_.shared_weight_bytes += wanted.get_size();
    } else {
      program_.shared_weight_bytes += wanted.get_size();
    }
    program_.weight_bytes += wanted.get_size();
    program_.weights.push_back(placed);
    return *placed;
  }

  void lower(const Op& op, int index) {
    switch (op.kind) {
      case OpKind::kConv: return conv(op, index);
      case OpKind::kMaxPool: return max_pool(op);
      case OpKind::kAdaptiveAvgPool: return adaptive_avg_pool(op);
      case OpKind::kLinear: return linear(op, index);
      case OpKind::kRelu: return relu(op, index);
      case OpKind::kAdd: return add(op, index);
      case OpKind::kFlatten: return flatten(op);
    }
  }

  void conv(const Op& op, int index) {
    const memory::dims src_dims = dims(op.src);
    const memory::dims dst_dims = dims(op.dst);
    const int64_t in_channels = src_dims[1];
    const bool grouped = op.groups > 1;
    const memory::dims weight_dims = grouped ? memory::dims{op.groups, op.out_channels / op.groups,
                                                            in_channels / op.groups, op.kernel.h, op.kernel.w}
                                             : memory::dims{op.out_channels, in_channels, op.kernel.h, op.kernel.w};
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
      const dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_inference, algorithm, src, any(weight_dims),
                                                 any({op.out_channels}), dst, {op.stride.h, op.stride.w},
                                                 {op.dilation.h - 1, op.dilation.w - 1}, {op.padding.h, op.padding.w},
                                                 {op.padding.h, op.padding.w});
      return dnnl::convolution_forward::primitive_desc(desc, attr, engine_);
    };

    // The sum post-op adds into dst, so dst must hold the residual in dst's layout: ask for the residual's
    // own layout first, which lets the conv write over it in place. Winograd first where it applies (see
    // winograd_eligible), direct where oneDNN has no Winograd kernel for this machine or shape. Each
    // candidate is tried with the source's own layout first when that is blocked, then with oneDNN's choice;
    // a reference (unoptimised) kernel is never taken while another candidate remains.
    std::vector<memory::desc> sources;
    if (blocked_src) sources.push_back(current_src);
    sources.push_back(any(src_dims));
    std::vector<dnnl::algorithm> algorithms{dnnl::algorithm::convolution_direct};
    if (winograd_eligible(op)) algorithms.insert(algorithms.begin(), dnnl::algorithm::convolution_winograd);
    std::vector<std::pair<memory::desc, memory::desc>> layouts;  // (src, dst) in order of preference
    for (const memory::desc& src : sources) {
      if (has_residual) layouts.emplace_back(src, view(value_view_[op.residual]).desc);
      layouts.emplace_back(src, any(dst_dims));
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
    if (!chosen) pd = make_pd(any(src_dims), any(dst_dims), dnnl::algorithm::convolution_direct);

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
  int residual_destination(int residual, const memory::desc& desc, int src_view, int index) {
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

  void pool(const Op& op, dnnl::algorithm algorithm, const memory::dims& kernel, const memory::dims& stride,
            const memory::dims& dilation, const memory::dims& padding_l, const memory::dims& padding_r) {
    const int src = value_view_[op.src];
    const dnnl::pooling_v2_forward::desc desc(dnnl::prop_kind::forward_inference, algorithm, view(src).desc,
                                              any(dims(op.dst)), stride, kernel, dilation, padding_l, padding_r);
    const dnnl::pooling_v2_forward::primitive_desc pd(desc, make_attr(false, false), engine_);
    const int dst = add_arena_view(pd.dst_desc());
    Step step;
    step.primitive = dnnl::pooling_v2_forward(pd);
    step.views = {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}};
    step.scratchpad = pd.scratchpad_desc();
    add_step(std::move(step));
    value_view_[op.dst] = dst;
  }

  void max_pool(const Op& op) {
    const Shape& in = graph_.values[op.src];
    const Shape& out = graph_.values[op.dst];
    // oneDNN sizes the output by floor((in + l + r - window) / stride) + 1; ceil mode's extra window (and
    // PyTorch's implicit -inf padding) is expressed by widening the right/bottom padding just enough.
    // Max pooling ignores padded positions, which is the -inf semantics.
    auto right = [](int64_t size, int64_t out_size, int64_t kernel, int64_t stride, int64_t pad, int64_t dilation) {
      return std::max<int64_t>(0, (out_size - 1) * stride + (kernel - 1) * dilation + 1 - size - pad);
    };
    pool(op, dnnl::algorithm::pooling_max, {op.kernel.h, op.kernel.w}, {op.stride.h, op.stride.w},
         {op.dilation.h - 1, op.dilation.w - 1}, {op.padding.h, op.padding.w},
         {right(in[1], out[1], op.kernel.h, op.stride.h, op.padding.h, op.dilation.h),
          right(in[2], out[2], op.kernel.w, op.stride.w, op.padding.w, op.dilation.w)});
  }

  void adaptive_avg_pool(const Op& op) {
    const Shape& in = graph_.values[op.src];
    const Shape& out = graph_.values[op.dst];
    if (AdaptiveAvgPool::uniform(in[1], in[2], out[1], out[2])) {
      const memory::dims window{in[1] / out[1], in[2] / out[2]};
      pool(op, dnnl::algorithm::pooling_avg_exclude_padding, window, window, {0, 0}, {0, 0}, {0, 0});
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

  void linear(const Op& op, int index) {
    const memory::dims src_dims = dims(op.src);
    // The weight [O, I] read as [O, C, H, W] is the same numbers: src is flattened in C, H, W order.
    memory::dims weight_dims{op.out_channels};
    weight_dims.insert(weight_dims.end(), src_dims.begin() + 1, src_dims.end());
    const dnnl::inner_product_forward::desc desc(dnnl::prop_kind::forward_inference, any(src_dims), any(weight_dims),
                                                 any({op.out_channels}), any({batch_, op.out_channels}));
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

  void relu(const Op& op, int index) {
    const int src = value_view_[op.src];
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

  void add(const Op& op, int index) {
    const int a = value_view_[op.src];
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
  void flatten(const Op& op) {
    const int src = view_as(op.src, plain(op.src));
    value_view_[op.dst] = add_view(plain(op.dst), view(src).buffer);
    const int last = std::max(last_reader_[op.src], last_reader_[op.dst]);
    last_reader_[op.src] = last_reader_[op.dst] = last;
  }

  void find_buffer_lifetimes() {
    for (size_t i = 0; i < program_.steps.size(); ++i) {
      for (const auto& [arg, view_id] : program_.steps[i].views) {
        (void)arg;
        Buffer& buffer = program_.buffers[view(view_id).buffer];
        const int step = static_cast<int>(i);
        if (buffer.first_step < 0 || step < buffer.first_step) buffer.first_step = step;
        buffer.last_step = std::max(buffer.last_step, step);
      }
    }
  }

  const Graph& graph_;
  const int64_t batch_;
  const dnnl::engine& engine_;
  dnnl::stream stream_;  // for the one-time weight reorders
  WeightCache& weights_;
  Program program_;
  std::vector<int> value_view_;                // by value: the view its producer wrote
  std::vector<std::vector<int>> conversions_;  // by value: reordered copies in other layouts
  std::vector<int> last_reader_;               // by value
};

}  // namespace

Program lower_graph(const Graph& graph, int64_t batch, const dnnl::engine& engine, WeightCache& weights) {
  return Lowering(graph, batch, engine, weights).run();
}

}  // namespace resnet
