#include "graph.h"

#include <cmath>
#include <limits>

namespace resnet {
namespace {

// Floor division for a possibly negative numerator (PyTorch's div_rtn).
int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

// a * b, or false when it leaves [0, limit].
bool checked_mul(int64_t a, int64_t b, int64_t limit, int64_t* out) {
  int64_t product = 0;
  if (__builtin_mul_overflow(a, b, &product) || product > limit) return false;
  *out = product;
  return true;
}

std::string value_name(int id) { return cat("value ", id); }

class Validator {
 public:
  Validator(const Graph& graph, int64_t batch) : graph_(graph), batch_(batch) {}

  Status run() {
    RESNET_CHECK(batch_ >= 1, Code::kInvalidArgument, cat("Expected a positive batch size but received ", batch_));
    RESNET_CHECK(!graph_.values.empty(), Code::kInvalidArgument, "Expected a graph with at least one value");
    for (size_t id = 0; id < graph_.values.size(); ++id) RESNET_RETURN_IF_ERROR(check_shape(static_cast<int>(id)));
    RESNET_CHECK(graph_.quant.empty() || graph_.quant.size() == graph_.values.size(), Code::kInvalidArgument,
                 cat("graph.quant has ", graph_.quant.size(), " entries for ", graph_.values.size(), " values"));
    for (size_t id = 0; id < graph_.quant.size(); ++id) RESNET_RETURN_IF_ERROR(check_quant(static_cast<int>(id)));
    written_.assign(graph_.values.size(), false);
    RESNET_RETURN_IF_ERROR(check_id(graph_.input, "graph.input"));
    written_[graph_.input] = true;
    for (size_t i = 0; i < graph_.ops.size(); ++i) {
      const Op& op = graph_.ops[i];
      path_ = cat("graph.ops[", i, "]");
      where_ = cat(path_, " (", op_name(op.kind), ")");
      for (int id : op.inputs()) {
        RESNET_RETURN_IF_ERROR(check_id(id, where_));
        RESNET_CHECK(written_[id], Code::kInvalidArgument,
                     cat(where_, " reads ", value_name(id),
                         " before any op writes it: ops must come in execution order"));
      }
      RESNET_RETURN_IF_ERROR(check_id(op.dst, where_));
      RESNET_CHECK(!written_[op.dst], Code::kInvalidArgument,
                   cat(where_, " writes ", value_name(op.dst),
                       ", which is already written (the graph input or an earlier op): each value is written once"));
      RESNET_RETURN_IF_ERROR(check_op(op));
      written_[op.dst] = true;
    }
    RESNET_CHECK(!graph_.outputs.empty(), Code::kInvalidArgument, "Expected at least one graph output");
    for (int id : graph_.outputs) {
      RESNET_RETURN_IF_ERROR(check_id(id, "graph.outputs"));
      RESNET_CHECK(written_[id], Code::kInvalidArgument,
                   cat("graph.outputs names ", value_name(id), ", which no op writes"));
    }
    return Status();
  }

 private:
  const Shape& shape(int id) const { return graph_.values[id]; }

  Status check_shape(int id) {
    const Shape& s = shape(id);
    RESNET_CHECK(s.size() == 1 || s.size() == 3, Code::kInvalidShape,
                 cat(value_name(id), " has shape ", format_shape(s), ": expected [C, H, W] or [F] per sample"));
    int64_t elements = batch_;
    for (int64_t d : s) {
      RESNET_CHECK(d >= 1, Code::kInvalidShape,
                   cat(value_name(id), " has shape ", format_shape(s), ": every dimension must be at least 1"));
      RESNET_CHECK(checked_mul(elements, d, kMaxTensorBytes / 4, &elements), Code::kInvalidShape,
                   cat(value_name(id), " has shape ", format_shape(s), ", too large at batch ", batch_,
                       " (more than 2^48 bytes): use a smaller input or batch"));
    }
    return Status();
  }

  ValueQuant quant(int id) const { return graph_.quant.empty() ? ValueQuant{} : graph_.quant[id]; }

  Status check_quant(int id) {
    const ValueQuant& q = graph_.quant[id];
    if (!q.quantized()) return Status();
    RESNET_CHECK(std::isfinite(q.scale) && q.scale > 0.f, Code::kInvalidArgument,
                 cat(value_name(id), " has quantization scale ", q.scale, ": it must be positive and finite"));
    return Status();
  }

  // A quantized conv's weights must lie on its channels' grids (within 127 steps): the backends quantize
  // them with these scales and would otherwise saturate silently.
  Status check_weight_scales(const Op& op) {
    if (op.weight_scales.empty()) return Status();
    RESNET_RETURN_IF_ERROR(expect_length(op.weight_scales, op.out_channels, "weightScales"));
    const size_t per_channel = op.weight.size() / static_cast<size_t>(op.out_channels);
    for (int64_t o = 0; o < op.out_channels; ++o) {
      const float scale = op.weight_scales[o];
      RESNET_CHECK(std::isfinite(scale) && scale > 0.f, Code::kInvalidArgument,
                   cat(path_, ".weightScales[", o, "] is ", scale, ": it must be positive and finite"));
      const float limit = 127.5f * scale;
      for (size_t i = o * per_channel; i < (o + 1) * per_channel; ++i) {
        RESNET_CHECK(std::fabs(op.weight[i]) <= limit, Code::kInvalidArgument,
                     cat(path_, ".weight[", i, "] is ", op.weight[i], ", more than 127 steps of weightScales[", o,
                         "] = ", scale, ": quantize the weights with these scales first"));
      }
    }
    return Status();
  }

  Status check_id(int id, const std::string& where) {
    RESNET_CHECK(id >= 0 && static_cast<size_t>(id) < graph_.values.size(), Code::kInvalidArgument,
                 cat(where, " refers to value ", id, ", but the graph has values 0..",
                     static_cast<int64_t>(graph_.values.size()) - 1));
    return Status();
  }

  Status expect_rank(int id, size_t rank) {
    RESNET_CHECK(shape(id).size() == rank, Code::kInvalidShape,
                 cat(where_, ": ", value_name(id), " has shape ", format_shape(shape(id)), ", expected ",
                     rank == 3 ? "[C, H, W]" : "[F]"));
    return Status();
  }

  Status expect_same_shape(int a, int b) {
    RESNET_CHECK(shape(a) == shape(b), Code::kInvalidShape,
                 cat(where_, ": ", value_name(a), " has shape ", format_shape(shape(a)), " but ", value_name(b),
                     " has shape ", format_shape(shape(b)), "; they must match"));
    return Status();
  }

  Status expect_at_least(int64_t value, int64_t min, const char* field) {
    RESNET_CHECK(value >= min, Code::kInvalidArgument,
                 cat("Expected an integer >= ", min, " for ", path_, ".", field, " but received ", value));
    return Status();
  }

  Status check_window(const Op& op, bool is_pool) {
    RESNET_RETURN_IF_ERROR(expect_at_least(op.kernel.h, 1, "kernel[0]"));
    RESNET_RETURN_IF_ERROR(expect_at_least(op.kernel.w, 1, "kernel[1]"));
    RESNET_RETURN_IF_ERROR(expect_at_least(op.stride.h, 1, "stride[0]"));
    RESNET_RETURN_IF_ERROR(expect_at_least(op.stride.w, 1, "stride[1]"));
    RESNET_RETURN_IF_ERROR(expect_at_least(op.padding.h, 0, "padding[0]"));
    RESNET_RETURN_IF_ERROR(expect_at_least(op.padding.w, 0, "padding[1]"));
    RESNET_RETURN_IF_ERROR(expect_at_least(op.dilation.h, 1, "dilation[0]"));
    RESNET_RETURN_IF_ERROR(expect_at_least(op.dilation.w, 1, "dilation[1]"));
    // Bounded so that the window arithmetic below stays far from overflow.
    const int64_t limit = int64_t{1} << 31;
    for (int64_t v : {op.kernel.h, op.kernel.w, op.stride.h, op.stride.w, op.padding.h, op.padding.w, op.dilation.h,
                      op.dilation.w}) {
      RESNET_CHECK(v < limit, Code::kInvalidArgument,
                   cat(where_, " has a kernel, stride, padding or dilation of ", v, ", above 2^31"));
    }
    if (is_pool) {
      // PyTorch's rule; with more padding a window could lie wholly in the padding.
      RESNET_CHECK(op.padding.h <= op.kernel.h / 2 && op.padding.w <= op.kernel.w / 2, Code::kInvalidArgument,
                   cat(where_, ": padding must be at most half the kernel size (PyTorch's rule), got padding [",
                       op.padding.h, ", ", op.padding.w, "] for kernel [", op.kernel.h, ", ", op.kernel.w, "]"));
    }
    const Shape& in = shape(op.src);
    const Shape& out = shape(op.dst);
    const bool ceil = is_pool && op.ceil_mode;
    const int64_t oh = window_output_size(in[1], op.kernel.h, op.stride.h, op.padding.h, op.dilation.h, ceil);
    const int64_t ow = window_output_size(in[2], op.kernel.w, op.stride.w, op.padding.w, op.dilation.w, ceil);
    RESNET_CHECK(oh >= 1 && ow >= 1, Code::kInvalidShape,
                 cat(where_, ": the window (kernel, dilation) is larger than the padded input ", format_shape(in)));
    RESNET_CHECK(out[1] == oh && out[2] == ow, Code::kInvalidShape,
                 cat(where_, ": output ", value_name(op.dst), " has spatial size [", out[1], ", ", out[2],
                     "] but the input ", format_shape(in), " with this window gives [", oh, ", ", ow, "]"));
    return Status();
  }

  Status expect_length(const std::vector<float>& array, int64_t expected, const char* field) {
    RESNET_CHECK(static_cast<int64_t>(array.size()) == expected, Code::kInvalidShape,
                 cat(path_, ".", field, " has ", array.size(), " elements, expected ", expected));
    return Status();
  }

  Status check_op(const Op& op) {
    switch (op.kind) {
      case OpKind::kConv: return check_conv(op);
      case OpKind::kMaxPool: {
        RESNET_RETURN_IF_ERROR(expect_rank(op.src, 3));
        RESNET_RETURN_IF_ERROR(expect_rank(op.dst, 3));
        RESNET_RETURN_IF_ERROR(expect_same_channels(op));
        RESNET_CHECK(!quant(op.dst).quantized() || quant(op.dst) == quant(op.src), Code::kInvalidArgument,
                     cat(where_, ": a maxpool's output keeps its input's quantization, but ", value_name(op.dst),
                         " is quantized as ", quant_type_name(quant(op.dst).type), " scale ", quant(op.dst).scale,
                         " and ", value_name(op.src), " as ", quant_type_name(quant(op.src).type), " scale ",
                         quant(op.src).scale));
        return check_window(op, /*is_pool=*/true);
      }
      case OpKind::kAdaptiveAvgPool: {
        RESNET_RETURN_IF_ERROR(expect_rank(op.src, 3));
        RESNET_RETURN_IF_ERROR(expect_rank(op.dst, 3));
        return expect_same_channels(op);
      }
      case OpKind::kLinear: {
        RESNET_RETURN_IF_ERROR(expect_rank(op.dst, 1));
        RESNET_RETURN_IF_ERROR(expect_at_least(op.out_channels, 1, "outFeatures"));
        RESNET_CHECK(shape(op.dst)[0] == op.out_channels, Code::kInvalidShape,
                     cat(where_, ": outFeatures is ", op.out_channels, " but ", value_name(op.dst), " has shape ",
                         format_shape(shape(op.dst))));
        const int64_t in_features = numel(shape(op.src));
        int64_t weights = 0;
        RESNET_CHECK(checked_mul(op.out_channels, in_features, kMaxTensorBytes / 4, &weights), Code::kInvalidShape,
                     cat(where_, ": the weight [", op.out_channels, ", ", in_features, "] is too large"));
        RESNET_RETURN_IF_ERROR(expect_length(op.weight, weights, "weight"));
        return expect_length(op.bias, op.out_channels, "bias");
      }
      case OpKind::kRelu: return expect_same_shape(op.src, op.dst);
      case OpKind::kAdd: {
        RESNET_RETURN_IF_ERROR(expect_same_shape(op.src, op.dst));
        return expect_same_shape(op.src2, op.dst);
      }
      case OpKind::kFlatten: {
        RESNET_RETURN_IF_ERROR(expect_rank(op.dst, 1));
        RESNET_CHECK(shape(op.dst)[0] == numel(shape(op.src)), Code::kInvalidShape,
                     cat(where_, ": flattening ", format_shape(shape(op.src)), " gives [", numel(shape(op.src)),
                         "] but ", value_name(op.dst), " has shape ", format_shape(shape(op.dst))));
        return Status();
      }
    }
    return Status(Code::kUnsupported, cat(where_, ": unknown op kind"));
  }

  Status expect_same_channels(const Op& op) {
    RESNET_CHECK(shape(op.src)[0] == shape(op.dst)[0], Code::kInvalidShape,
                 cat(where_, ": input ", format_shape(shape(op.src)), " and output ", format_shape(shape(op.dst)),
                     " must have the same number of channels"));
    return Status();
  }

  Status check_conv(const Op& op) {
    RESNET_RETURN_IF_ERROR(expect_rank(op.src, 3));
    RESNET_RETURN_IF_ERROR(expect_rank(op.dst, 3));
    RESNET_RETURN_IF_ERROR(expect_at_least(op.out_channels, 1, "outChannels"));
    RESNET_RETURN_IF_ERROR(expect_at_least(op.groups, 1, "groups"));
    const int64_t in_channels = shape(op.src)[0];
    RESNET_CHECK(shape(op.dst)[0] == op.out_channels, Code::kInvalidShape,
                 cat(where_, ": outChannels is ", op.out_channels, " but ", value_name(op.dst), " has shape ",
                     format_shape(shape(op.dst))));
    RESNET_CHECK(in_channels % op.groups == 0 && op.out_channels % op.groups == 0, Code::kInvalidArgument,
                 cat(where_, ": groups (", op.groups, ") must divide both the input channels (", in_channels,
                     ") and outChannels (", op.out_channels, ")"));
    RESNET_RETURN_IF_ERROR(check_window(op, /*is_pool=*/false));
    int64_t weights = 0;
    const bool fits = checked_mul(op.out_channels, in_channels / op.groups, kMaxTensorBytes / 4, &weights) &&
                      checked_mul(weights, op.kernel.h, kMaxTensorBytes / 4, &weights) &&
                      checked_mul(weights, op.kernel.w, kMaxTensorBytes / 4, &weights);
    RESNET_CHECK(fits, Code::kInvalidShape, cat(where_, ": the weight is too large"));
    RESNET_RETURN_IF_ERROR(expect_length(op.weight, weights, "weight"));
    RESNET_RETURN_IF_ERROR(expect_length(op.bias, op.out_channels, "bias"));
    if (op.residual >= 0) RESNET_RETURN_IF_ERROR(expect_same_shape(op.residual, op.dst));
    return check_weight_scales(op);
  }

  const Graph& graph_;
  int64_t batch_;
  std::vector<bool> written_;
  std::string path_;   // "graph.ops[3]", for fields
  std::string where_;  // "graph.ops[3] (conv)", for the op as a whole
};

}  // namespace

int64_t numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string format_shape(const Shape& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

const char* quant_type_name(QuantType type) {
  switch (type) {
    case QuantType::kNone: return "none";
    case QuantType::kUint8: return "uint8";
    case QuantType::kInt8: return "int8";
  }
  return "unknown";
}

bool is_quantized(const Graph& graph) {
  for (const ValueQuant& q : graph.quant) {
    if (q.quantized()) return true;
  }
  return false;
}

const char* op_name(OpKind kind) {
  switch (kind) {
    case OpKind::kConv: return "conv";
    case OpKind::kMaxPool: return "maxpool";
    case OpKind::kAdaptiveAvgPool: return "adaptive_avgpool";
    case OpKind::kLinear: return "linear";
    case OpKind::kRelu: return "relu";
    case OpKind::kAdd: return "add";
    case OpKind::kFlatten: return "flatten";
  }
  return "unknown";
}

std::vector<int> Op::inputs() const {
  std::vector<int> ids{src};
  if (kind == OpKind::kAdd) ids.push_back(src2);
  if (kind == OpKind::kConv && residual >= 0) ids.push_back(residual);
  return ids;
}

int64_t window_output_size(int64_t size, int64_t kernel, int64_t stride, int64_t padding, int64_t dilation,
                           bool ceil_mode) {
  const int64_t span = size + 2 * padding - dilation * (kernel - 1) - 1;
  int64_t out = floor_div(span + (ceil_mode ? stride - 1 : 0), stride) + 1;
  // PyTorch: in ceil mode the last window must start inside the input or the left padding.
  if (ceil_mode && (out - 1) * stride >= size + padding) --out;
  return out;
}

Status validate(const Graph& graph, int64_t batch) { return Validator(graph, batch).run(); }

}  // namespace resnet
