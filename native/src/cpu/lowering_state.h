// The Lowering that lower_graph runs, shared by its source files: lowering_views.cc (values, views,
// buffers, reorders, constants), lowering.cc (the float ops) and lowering_int8.cc (a quantized graph's
// integer convs and the quantize/dequantize reorders around its float ops). Private to the CPU backend.
#pragma once

#include <dnnl.hpp>

#include <cstdint>
#include <vector>

#include "backend.h"
#include "cpu/program.h"
#include "cpu/weight_cache.h"
#include "graph.h"

namespace resnet {
namespace cpu_lowering {

using dnnl::memory;
using tag = dnnl::memory::format_tag;

constexpr memory::data_type kF32 = memory::data_type::f32;

/// Added to a weight cache key (the DNNL_ARG_* of constant()) for an integer conv's weights and bias: they
/// hold other numbers than the float conv's in a desc the float conv may want too (the bias).
constexpr int kInt8CacheKey = 1 << 20;

memory::desc any(const memory::dims& dims);

/// oneDNN's reference kernels are orders of magnitude slower than its JIT ones; a layout that only they
/// support is worth a reorder.
bool is_reference(const dnnl::primitive_desc_base& pd);

/// Every primitive takes its scratchpad from the context (one buffer, steps run one at a time) instead of
/// oneDNN's own allocations.
dnnl::primitive_attr make_attr(bool sum, bool relu);

/// `desc` with another element type, same dims and strides.
memory::desc with_type(const memory::desc& desc, memory::data_type type);

/// Conv weight dims: OIHW, or GOIHW when grouped.
memory::dims conv_weight_dims(const Op& op, int64_t in_channels);

class Lowering {
 public:
  Lowering(const Graph& graph, int64_t batch, Precision precision, const dnnl::engine& engine, WeightCache& weights);

  Program run();

 private:
  // ---- values, views and buffers (lowering_views.cc) -------------------------------------------------

  memory::dims dims(int value) const;
  memory::desc plain(int value, memory::data_type type = kF32) const;
  /// Conv and linear activations and weights in the compute type (f32, or bf16 at Precision::kBFloat16),
  /// layout left to oneDNN. Biases, linear outputs and the run's input and outputs stay f32 (any(), plain()):
  /// oneDNN's bf16 primitives accumulate in f32 and take an f32 bias.
  memory::desc compute_any(const memory::dims& dims) const { return memory::desc(dims, compute_, tag::any); }
  const View& view(int id) const { return program_.views[id]; }
  const Buffer& buffer_of(int view_id) const { return program_.buffers[view(view_id).buffer]; }
  int add_buffer(BufferKind kind, size_t bytes);
  // `scale`: real = scale · stored element (1 for float views, the quantization scale for integer ones).
  int add_view(const memory::desc& desc, int buffer, float scale = 1.f);
  int add_arena_view(const memory::desc& desc, float scale = 1.f);
  void find_last_readers();
  bool can_overwrite(int value, int view_id, int op_index) const;
  int view_as(int value, const memory::desc& desc);
  void add_step(Step step);
  void add_reorder(int from, int to);
  memory constant(int op, int arg, const std::vector<float>& data, const memory::desc& user, const memory::desc& wanted,
                  const dnnl::primitive_attr* reorder_attr = nullptr);
  void find_buffer_lifetimes();

  // ---- ops (lowering.cc) -------------------------------------------------------------------------------

  void lower(const Op& op, int index);
  void conv(const Op& op, int index);
  int residual_destination(int residual, const memory::desc& desc, int src_view, int index);
  void pool(const Op& op, int src, dnnl::algorithm algorithm, const memory::dims& kernel, const memory::dims& stride,
            const memory::dims& dilation, const memory::dims& padding_l, const memory::dims& padding_r);
  void max_pool(const Op& op);
  void adaptive_avg_pool(const Op& op);
  void linear(const Op& op, int index);
  void relu(const Op& op, int index);
  void add(const Op& op, int index);
  void flatten(const Op& op);

  // ---- quantized graphs (lowering_int8.cc) ------------------------------------------------------------

  /// True for a conv that runs in integers (graph.h: weight scales, src, dst and residual quantized), but
  /// for an s8 source on a CPU without VNNI (see lowering_int8.cc).
  bool runs_int8(const Op& op) const;
  void conv_int8(const Op& op, int index);
  int int8_residual_destination(int residual, const memory::desc& dst_desc, float dst_scale, int src_view, int index);
  /// The view holding `value`'s real numbers: its own when it is float, else a dequantized copy.
  int real(int value);
  /// Quantizes `value` as the graph says when its producer wrote it as float (graph input, float ops).
  void quantize_if_declared(int value);
  /// The scale of `value` stored as `desc` (1 for float, else the scale its integers carry).
  float stored_scale(int value, const memory::desc& desc) const;

  const Graph& graph_;
  const int64_t batch_;
  const dnnl::engine& engine_;
  dnnl::stream stream_;  // for the one-time weight reorders
  WeightCache& weights_;
  const memory::data_type compute_;  // f32, or bf16 (conv and linear weights and activations)
  Program program_;
  std::vector<ValueQuant> quant_;              // by value: graph_.quant at precision int8, else all none
  std::vector<float> view_scale_;              // by view: real = scale · stored element
  std::vector<int> value_view_;                // by value: the view its producer wrote
  std::vector<std::vector<int>> conversions_;  // by value: reordered copies in other layouts
  std::vector<int> last_reader_;               // by value
};

}  // namespace cpu_lowering
}  // namespace resnet
