// The Lowering's bookkeeping: values, the views (layout + buffer) they live in, reordered copies, the
// one-time placement of weights, and buffer lifetimes for the memory plan.
#include <algorithm>
#include <climits>
#include <string>

#include "cpu/lowering_state.h"

namespace resnet {
namespace cpu_lowering {

memory::desc any(const memory::dims& dims) { return memory::desc(dims, kF32, tag::any); }

bool is_reference(const dnnl::primitive_desc_base& pd) { return std::string(pd.impl_info_str()).rfind("ref", 0) == 0; }

dnnl::primitive_attr make_attr(bool sum, bool relu) {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  dnnl::post_ops ops;
  if (sum) ops.append_sum(1.f);
  if (relu) ops.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
  attr.set_post_ops(ops);
  return attr;
}

memory::desc with_type(const memory::desc& desc, memory::data_type type) {
  dnnl_memory_desc_t data = desc.data;
  data.data_type = static_cast<dnnl_data_type_t>(type);
  return memory::desc(data);
}

memory::dims conv_weight_dims(const Op& op, int64_t in_channels) {
  if (op.groups > 1) {
    return {op.groups, op.out_channels / op.groups, in_channels / op.groups, op.kernel.h, op.kernel.w};
  }
  return {op.out_channels, in_channels, op.kernel.h, op.kernel.w};
}

Lowering::Lowering(const Graph& graph, int64_t batch, Precision precision, const dnnl::engine& engine,
                   WeightCache& weights)
    : graph_(graph), batch_(batch), engine_(engine), stream_(engine), weights_(weights),
      compute_(precision == Precision::kBFloat16 ? memory::data_type::bf16 : kF32) {
  // Other precisions ignore the quantization (graph.ts, "Quantized graphs").
  const bool int8 = precision == Precision::kInt8 && !graph_.quant.empty();
  quant_ = int8 ? graph_.quant : std::vector<ValueQuant>(graph_.values.size());
}

memory::dims Lowering::dims(int value) const {
  const Shape& shape = graph_.values[value];
  if (shape.size() == 3) return {batch_, shape[0], shape[1], shape[2]};
  return {batch_, shape[0]};
}

memory::desc Lowering::plain(int value, memory::data_type type) const {
  return memory::desc(dims(value), type, graph_.values[value].size() == 3 ? tag::nchw : tag::nc);
}

int Lowering::add_buffer(BufferKind kind, size_t bytes) {
  Buffer buffer;
  buffer.kind = kind;
  buffer.bytes = bytes;
  program_.buffers.push_back(buffer);
  return static_cast<int>(program_.buffers.size()) - 1;
}

int Lowering::add_view(const memory::desc& desc, int buffer, float scale) {
  program_.views.push_back(View{desc, buffer});
  view_scale_.push_back(scale);
  return static_cast<int>(program_.views.size()) - 1;
}

int Lowering::add_arena_view(const memory::desc& desc, float scale) {
  return add_view(desc, add_buffer(BufferKind::kArena, desc.get_size()), scale);
}

// The last op reading each value (INT_MAX for graph outputs, -1 for values nobody reads).
void Lowering::find_last_readers() {
  last_reader_.assign(graph_.values.size(), -1);
  for (size_t i = 0; i < graph_.ops.size(); ++i) {
    for (int value : graph_.ops[i].inputs()) last_reader_[value] = static_cast<int>(i);
  }
  for (int value : graph_.outputs) last_reader_[value] = INT_MAX;
}

// True when op `op_index` may write over `view_id`, a view of `value`: nothing reads the value later and
// the view lives in the arena (never in the caller's input).
bool Lowering::can_overwrite(int value, int view_id, int op_index) const {
  return last_reader_[value] == op_index && buffer_of(view_id).kind == BufferKind::kArena;
}

// `value` in layout `desc`: its own view when the layouts agree, else a reordered copy, made once and
// shared by every consumer that needs that layout. A float desc of an integer value is its real numbers
// (dequantized by the reorder).
int Lowering::view_as(int value, const memory::desc& desc) {
  if (view(value_view_[value]).desc == desc) return value_view_[value];
  for (int converted : conversions_[value]) {
    if (view(converted).desc == desc) return converted;
  }
  const int converted = add_arena_view(desc, stored_scale(value, desc));
  add_reorder(value_view_[value], converted);
  conversions_[value].push_back(converted);
  return converted;
}

void Lowering::add_step(Step step) { program_.steps.push_back(std::move(step)); }

// A reorder between two views of the same real numbers: it also quantizes or dequantizes when their
// scales differ (oneDNN: to = saturate(round_half_even(scale · from))).
void Lowering::add_reorder(int from, int to) {
  dnnl::primitive_attr attr = make_attr(false, false);
  const float scale = view_scale_[from] / view_scale_[to];
  if (scale != 1.f) attr.set_output_scales(0, {scale});
  const dnnl::reorder::primitive_desc pd(engine_, view(from).desc, engine_, view(to).desc, attr);
  Step step;
  step.primitive = dnnl::reorder(pd);
  step.views = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
  step.scratchpad = pd.scratchpad_desc();
  add_step(std::move(step));
}

// User data (plain, PyTorch's layout) of op `op`'s argument `arg` in the layout a primitive wants:
// shared with another program of the same graph when one placed it so already, else reordered once
// (with `reorder_attr` when given: an integer conv's weights are quantized by it).
memory Lowering::constant(int op, int arg, const std::vector<float>& data, const memory::desc& user,
                          const memory::desc& wanted, const dnnl::primitive_attr* reorder_attr) {
  std::shared_ptr<const memory> placed = weights_.find(op, arg, wanted);
  if (!placed) {
    memory source(user, engine_, const_cast<float*>(data.data()));
    auto fresh = std::make_shared<memory>(wanted, engine_);
    if (reorder_attr) {
      const dnnl::reorder::primitive_desc pd(engine_, user, engine_, wanted, *reorder_attr);
      dnnl::reorder(pd).execute(stream_, source, *fresh);
    } else {
      dnnl::reorder(source, *fresh).execute(stream_, source, *fresh);
    }
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

void Lowering::find_buffer_lifetimes() {
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

}  // namespace cpu_lowering
}  // namespace resnet
