// The op list the JS side hands over (lib/compile/graph.ts, mirrored field by field) as plain structs,
// and its validation. Parsing from JS values lives in graph_from_js.h; nothing here touches Node-API,
// so backends and tests of the planner can use these types alone.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "status.h"

namespace resnet {

/// Per-sample shape of a value: [C, H, W] for feature maps, [F] for flat vectors.
using Shape = std::vector<int64_t>;

/// Number of elements of a per-sample shape.
int64_t numel(const Shape& shape);

/// "[64, 56, 56]".
std::string format_shape(const Shape& shape);

enum class OpKind { kConv, kMaxPool, kAdaptiveAvgPool, kLinear, kRelu, kAdd, kFlatten };

/// The JS spelling of an op kind ("conv", "maxpool", …).
const char* op_name(OpKind kind);

/// 8-bit storage of a quantized value (lib/compile/graph.ts, "Quantized graphs"): real = scale · q, zero
/// point 0; kUint8 for values never negative.
enum class QuantType { kNone, kUint8, kInt8 };

/// How a value is quantized; kNone (the default) for a float value.
struct ValueQuant {
  QuantType type = QuantType::kNone;
  float scale = 0.f;

  bool quantized() const { return type != QuantType::kNone; }
  bool operator==(const ValueQuant& other) const { return type == other.type && scale == other.scale; }
  bool operator!=(const ValueQuant& other) const { return !(*this == other); }
};

/// "uint8", "int8" or "none".
const char* quant_type_name(QuantType type);

/// `[height, width]`.
struct Pair {
  int64_t h = 0;
  int64_t w = 0;
};

/// One fused op. Fields beyond `kind`, `src` and `dst` are used only by the kinds named beside them.
struct Op {
  OpKind kind = OpKind::kRelu;
  int src = -1;  // `a` for add
  int dst = -1;
  int src2 = -1;                           // add: `b`
  int residual = -1;                       // conv: value added after the bias, or -1
  bool relu = false;                       // conv, add
  int64_t out_channels = 0;                // conv: O; linear: outFeatures
  Pair kernel, stride, padding, dilation;  // conv, maxpool
  int64_t groups = 1;                      // conv
  bool ceil_mode = false;                  // maxpool
  std::vector<float> weight;               // conv: OIHW; linear: [O, I]
  std::vector<float> bias;                 // conv, linear: [O]
  std::vector<float> weight_scales;        // conv of a quantized graph: [O], weight already on that grid

  /// Values this op reads, in argument order (src, then b or residual).
  std::vector<int> inputs() const;
};

/// A lowered, fused network: per-sample value shapes, the input, the outputs and the ops in order.
struct Graph {
  std::vector<Shape> values;
  /// By value, parallel to `values`: how each is quantized (all kNone in a float graph).
  std::vector<ValueQuant> quant;
  int input = -1;
  std::vector<int> outputs;
  std::vector<Op> ops;
};

/// Largest tensor (batch included) a graph may describe, in bytes. Far above any real network; its job
/// is to keep every size computation of the backends clear of int64 overflow.
constexpr int64_t kMaxTensorBytes = int64_t{1} << 48;

/// True when some value of the graph is quantized (a graph for precision int8).
bool is_quantized(const Graph& graph);

/// Checks everything a backend relies on: ids in range, each value written once before it is read,
/// shapes positive and consistent with each op's formula, weight lengths, groups dividing channels,
/// and no size (times `batch`) overflowing; for quantized graphs, scales positive and finite, weights within
/// 127 steps of their channel's scale, and a maxpool's dst quantized as its src. Returns the first problem found.
Status validate(const Graph& graph, int64_t batch);

/// Output spatial size of a convolution or pooling window (PyTorch's formula, ceil mode included).
int64_t window_output_size(int64_t size, int64_t kernel, int64_t stride, int64_t padding, int64_t dilation,
                           bool ceil_mode);

}  // namespace resnet
