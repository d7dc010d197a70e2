// Planning for the CUDA backend, apart from launching (so it is tested on machines without a GPU):
// from a validated Graph, a batch size and a precision, the device layout of every value (NHWC, channels
// padded where cuDNN needs alignment), the steps of a run with everything a descriptor needs, the packed
// weight blob (KRSC in the storage type, BN already folded by the JS lowering), and the activation arena
// laid out by liveness. Nothing here includes a CUDA or cuDNN header; the executable turns a CudaPlan into
// descriptors, algorithm choices, buffers and a captured CUDA graph.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "backend.h"
#include "graph.h"
#include "status.h"

namespace resnet {
namespace cuda {

/// Element type in device memory.
enum class StorageType { kFloat32, kFloat16, kBFloat16 };

/// Bytes per element of `type`.
size_t storage_bytes(StorageType type);

/// "float32", "float16", "bfloat16".
const char* storage_name(StorageType type);

/// Storage of activations and weights for a precision: float32 and tf32 store float.
StorageType storage_of(Precision precision);

/// Every device buffer (arena slices, weight blob entries, workspace) starts at a multiple of this.
constexpr size_t kDeviceAlignment = 256;

/// Channel multiple of device tensors: 16-byte vectors (4 floats, 8 halves), the alignment cuDNN's NHWC
/// tensor-core kernels need. A value whose channel count is not a multiple is padded with zero channels.
int64_t channel_multiple(StorageType type);

/// A value as it lives on the device: NHWC, `stored_channels` ≥ `channels` (the padding channels are
/// zero in every value a step writes, so a consumer may read them), `n` = batch. Flat values ([F]) are
/// NHWC with h = w = 1.
struct DeviceValue {
  int64_t n = 0, h = 1, w = 1;
  int64_t channels = 0;         // logical
  int64_t stored_channels = 0;  // a multiple of channel_multiple(storage)
  size_t bytes = 0;             // n·h·w·stored_channels·storage_bytes
  /// Where it lives: an offset into the context's arena (values that are not graph input aliases).
  size_t arena_offset = 0;
  /// A graph output: the context converts it to NCHW float32 for the host after the last step.
  int output_index = -1;
  /// Set when this value shares the memory of another (a flatten): the id of that value, else -1.
  int alias_of = -1;
};

enum class StepKind {
  kInput,         // host NCHW (float32/uint8) → device NHWC value `dst` (normalisation fused)
  kConv,          // conv + bias [+ residual] [+ relu]; linear layers become 1×1 or full-window convs
  kMaxPool,
  kAdaptiveAvgPool,  // global or adaptive, PyTorch's windows
  kAdd,           // dst = a + b [relu], elementwise over stored channels
  kRelu,          // dst = max(src, 0)
  kOutput,        // device NHWC value `src` → NCHW float32 staging for graph output `output_index`
};

/// One step of a run, with every number a descriptor or a kernel launch needs.
struct Step {
  StepKind kind = StepKind::kConv;
  int src = -1;   // value ids (kAdd: src = a)
  int src2 = -1;  // kAdd: b
  int residual = -1;  // kConv: added after the bias, or -1
  int dst = -1;
  bool relu = false;
  // Convolution (kConv): NHWC tensors x [n, h, w, c_in_stored] → y [n, out_h, out_w, k_stored];
  // filter KRSC [k_stored, r, s, c_in_stored / groups]. Pooling uses kernel/stride/padding/dilation too.
  int64_t groups = 1;
  Pair kernel{1, 1}, stride{1, 1}, padding{0, 0}, dilation{1, 1};
  bool ceil_mode = false;
  /// kConv: byte offsets into the weight blob of the packed filter and of the bias (k_stored floats, always
  /// float32: the epilogue adds it in float).
  size_t filter_offset = 0, filter_bytes = 0;
  size_t bias_offset = 0, bias_bytes = 0;
  /// kConv: the graph op this step came from (for messages: "conv #12 (layer3.1.conv2)" is the JS side's).
  int op_index = -1;
  /// kOutput: which graph output.
  int output_index = -1;
};

/// Everything a run does, for one (graph, batch, precision).
struct CudaPlan {
  int64_t batch = 0;
  Precision precision = Precision::kFloat32;
  StorageType storage = StorageType::kFloat32;
  std::vector<DeviceValue> values;  // by graph value id
  std::vector<Step> steps;          // in execution order: kInput first, kOutput steps last
  /// Host input: [batch, C, H, W] of the graph input.
  int64_t input_channels = 0, input_h = 0, input_w = 0;
  /// Bytes of the activation arena (every value but aliases, placed by liveness).
  size_t arena_bytes = 0;
  /// Bytes of the packed weight blob (filters in storage type, biases in float32), each entry aligned.
  size_t weight_blob_bytes = 0;
  /// Elements of each graph output as the host receives it (NCHW float32 or [N, F]).
  std::vector<int64_t> output_elements;
};

/// Plans `graph` (validated) for `batch` samples at `precision`. Fails with kUnsupported for an op the CUDA
/// backend does not run, naming it.
Result<CudaPlan> plan_cuda(const Graph& graph, int64_t batch, Precision precision);

/// Writes the weight blob of `plan` into `blob` (weight_blob_bytes bytes, zeroed by the caller): each conv's
/// filter OIHW float → KRSC in the storage type with zero padding of channels, each bias as float32
/// [k_stored]. The bytes are exactly what the device receives.
void pack_weights(const Graph& graph, const CudaPlan& plan, uint8_t* blob);

/// A human-readable dump of the plan (one line per step and value), for errors and the testing export.
std::string describe(const CudaPlan& plan);

}  // namespace cuda
}  // namespace resnet
