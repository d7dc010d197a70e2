#include "cuda/plan_fp8.h"

#include "cuda/fp8_math.h"

namespace resnet {
namespace cuda {
namespace {

// FP8's 16-byte vectors: channel counts an FP8 conv reads and writes unpadded.
constexpr int64_t kFp8ChannelMultiple = 16;

// Why conv op `index` stays in FP16, or "" when it runs FP8.
std::string fp16_reason(const Graph& graph, const GraphLayout& layout, size_t index) {
  const Op& op = graph.ops[index];
  const auto quantized = [&](int id) { return id >= 0 && graph.quant[static_cast<size_t>(id)].quantized(); };
  if (op.weight_scales.empty()) return "it has no weight scales";
  if (!quantized(op.src) || !quantized(op.dst)) return "its source or output is not quantized";
  if (op.residual >= 0 && !quantized(op.residual)) return "its residual is not quantized";
  if (op.src == graph.input) return "it reads the graph input (the stem: cuDNN has no FP8 plan for 3 channels)";
  if (op.groups != 1) return cat("it has ", op.groups, " groups");
  const int64_t in = layout.values[static_cast<size_t>(op.src)].channels;
  const int64_t out = layout.values[static_cast<size_t>(op.dst)].channels;
  if (in % kFp8ChannelMultiple != 0 || out % kFp8ChannelMultiple != 0) {
    return cat("its channels (", in, " in, ", out, " out) are not multiples of ", kFp8ChannelMultiple);
  }
  return "";
}

}  // namespace

float fp8_scale_of(const ValueQuant& quant) {
  switch (quant.type) {
    case QuantType::kInt8: return 127.0f * quant.scale / kFp8E4M3Max;
    case QuantType::kUint8: return 255.0f * quant.scale / kFp8E4M3Max;
    case QuantType::kNone: break;
  }
  return 0.0f;
}

Fp8Layout plan_fp8(const Graph& graph, const GraphLayout& layout) {
  Fp8Layout result;
  const size_t values = graph.values.size();
  result.fp8_conv.assign(graph.ops.size(), false);
  result.storage.assign(values, StorageType::kFloat16);
  result.needs_fp8_copy.assign(values, false);
  result.needs_fp16_copy.assign(values, false);
  if (!is_quantized(graph)) return result;
  for (size_t i = 0; i < graph.ops.size(); ++i) {
    if (graph.ops[i].kind != OpKind::kConv) continue;
    const std::string why = fp16_reason(graph, layout, i);
    result.fp8_conv[i] = why.empty();
    if (!why.empty() && !graph.ops[i].weight_scales.empty()) {
      result.notes.push_back(cat("conv graph.ops[", i, "] runs in float16: ", why));
    }
  }

  // Who reads each value, and how. A flatten's readers read its source's memory as float.
  std::vector<bool> fp8_source(values, false), fp8_residual(values, false), float_reader(values, false);
  std::vector<bool> aliased(values, false);
  std::vector<bool> fp8_writer(values, false);
  for (size_t i = 0; i < graph.ops.size(); ++i) {
    const Op& op = graph.ops[i];
    if (op.kind == OpKind::kFlatten) {
      aliased[static_cast<size_t>(op.src)] = true;
      continue;
    }
    if (result.fp8_conv[i]) {
      fp8_source[static_cast<size_t>(op.src)] = true;
      if (op.residual >= 0) fp8_residual[static_cast<size_t>(op.residual)] = true;
      fp8_writer[static_cast<size_t>(op.dst)] = true;
      continue;
    }
    for (int id : op.inputs()) float_reader[static_cast<size_t>(id)] = true;
  }
  for (int id : graph.outputs) float_reader[static_cast<size_t>(id)] = true;

  for (size_t id = 0; id < values; ++id) {
    const bool fp8 = fp8_writer[id] && !aliased[id] && (fp8_source[id] || (fp8_residual[id] && !float_reader[id]));
    result.storage[id] = fp8 ? StorageType::kFloat8E4M3 : StorageType::kFloat16;
    result.needs_fp8_copy[id] = !fp8 && fp8_source[id];
    result.needs_fp16_copy[id] = fp8 && float_reader[id];
  }
  return result;
}

Status fp8_device_support(int major, int minor) {
  RESNET_CHECK(major >= 9, Code::kUnsupported,
               cat("int8 on the GPU runs as FP8 (E4M3) convolutions, which need a Hopper GPU or newer (compute "
                   "capability 9.0); this device has compute capability ",
                   major, ".", minor, ": use dtype 'float16' on this GPU, or 'int8' on the CPU"));
  return Status();
}

}  // namespace cuda
}  // namespace resnet
