// Planning for the CUDA backend, apart from launching (so it is tested on machines without a GPU):
// from a validated Graph, a batch size and a precision, the device layout of every value (NHWC, channels
// padded where cuDNN needs alignment), the steps of a run with everything a descriptor needs, the packed
// weight blob (KRSC in the storage type, BN already folded by the JS lowering), and the activation arena
// laid out by liveness. Nothing here includes a CUDA or cuDNN header; the executable turns a CudaPlan into
// descriptors, algorithm choices, buffers and a captured CUDA graph.
//
// The padding invariant: every step writes zeros into the padding channels (stored_channels − channels)
// of the value it writes, so a consumer may read all stored channels. The planner keeps its side of it:
// a conv's padded output channels get all-zero filter rows and a zero bias (so they come out zero, and
// zero again after the residual add and ReLU), its filter columns for padded input channels are zero too
// (so padding could never leak into real channels), and values that an elementwise op, a pool or a fused
// residual combine are given one layout. The kernels keep theirs: the input conversion, the epilogue,
// add/relu and the pools write zeros (or pool zeros) there.
//
// Grouped convolutions: cuDNN splits the stored channels into `groups` contiguous blocks, so padding may
// only add whole groups at the end. With c input and k output channels in g groups (c/g and k/g per
// group), the planner pads the input to c' and the output to k' and runs g' = c'/(c/g) groups when
// c' % (c/g) == 0, k' % (k/g) == 0 and c'/(c/g) == k'/(k/g): the extra groups have zero filters and bias,
// so they write zero padding channels. Depthwise convs (a lone BatchNorm: c/g = k/g = 1) always qualify;
// ResNeXt's grouped 3×3 convs have channel counts that need no padding. Otherwise both the conv's input
// and output (and every value sharing their layout) keep stored_channels == channels, and the plan says
// so in `notes` (cuDNN may then have fewer fast algorithms for that conv).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "backend.h"
#include "cuda/stem_form.h"
#include "graph.h"
#include "status.h"

namespace resnet {
namespace cuda {

/// Element type in device memory. kFloat8E4M3 holds the quantized values between FP8 convs of an int8 plan
/// (plan_fp8.h): the stored code is real / scale, the scale being the plan's for that value.
enum class StorageType { kFloat32, kFloat16, kBFloat16, kFloat8E4M3 };

/// Bytes per element of `type`.
size_t storage_bytes(StorageType type);

/// "float32", "float16", "bfloat16", "float8_e4m3".
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
/// NHWC with h = w = 1, unless they are (or are computed elementwise from) a flattened feature map: see
/// `alias_of`.
struct DeviceValue {
  int64_t n = 0, h = 1, w = 1;
  int64_t channels = 0;         // logical
  int64_t stored_channels = 0;  // a multiple of channel_multiple(storage), or = channels (see `notes`)
  size_t bytes = 0;             // n·h·w·stored_channels·storage_bytes(storage)
  /// Element type: the plan's storage, except in an int8 plan, whose values between FP8 convs are kFloat8E4M3
  /// (plan_fp8.h) with `fp8_scale` (the real value is code · fp8_scale; 0 for other storages).
  StorageType storage = StorageType::kFloat32;
  float fp8_scale = 0.0f;
  /// Where it lives: an offset into the context's arena. An alias carries its source's offset.
  size_t arena_offset = 0;
  /// A graph output: the context converts it to NCHW float32 for the host after the last step.
  int output_index = -1;
  /// Set when this value shares the memory of another (a flatten): the id of that value (never itself an
  /// alias), else -1. An alias copies its source's geometry (n, h, w, channels, stored_channels, bytes):
  /// a flattened [F] value stays NHWC on the device, and its consumers read it that way (a linear layer
  /// as a full-window conv, the output conversion as NCHW = the flatten's C, H, W order). Flat values that
  /// relu or add compute from such a value keep that geometry too.
  int alias_of = -1;
};

enum class StepKind {
  kInput,  // host input (any InputFormat) → device NHWC value `dst`, normalisation fused; with `block` > 1
           // a space-to-depth of the zero-padded input (see Step::block)
  kConv,   // conv + bias [+ residual] [+ relu]; linear layers become 1×1 or full-window convs
  kMaxPool,
  kAdaptiveAvgPool,  // global or adaptive, PyTorch's windows
  kAdd,              // dst = a + b [relu], elementwise over stored channels
  kRelu,             // dst = max(src, 0)
  kOutput,           // device NHWC value `src` → NCHW float32 staging for graph output `output_index`
  kConvert,          // int8 plans: dst = src · scale in dst's storage (FP16 ↔ FP8 at a boundary, plan_fp8.h)
};

/// "input", "conv", "maxpool", "adaptive_avgpool", "add", "relu", "output", "convert".
const char* step_kind_name(StepKind kind);

/// One step of a run, with every number a descriptor or a kernel launch needs.
struct Step {
  StepKind kind = StepKind::kConv;
  int src = -1;       // value ids (kAdd: src = a)
  int src2 = -1;      // kAdd: b
  int residual = -1;  // kConv: added after the bias, or -1
  int dst = -1;
  bool relu = false;
  // Convolution (kConv): NHWC tensors x [n, h, w, c_in_stored] → y [n, out_h, out_w, k_stored];
  // filter KRSC [k_stored, r, s, c_in_stored / groups]. `groups` is the stored group count (the graph's,
  // plus any whole zero groups that padding added; see the top of this file). A linear layer is a conv
  // with kernel = the source's (h, w), stride 1, no padding. Pooling uses kernel/stride/padding/dilation.
  int64_t groups = 1;
  Pair kernel{1, 1}, stride{1, 1}, padding{0, 0}, dilation{1, 1};
  bool ceil_mode = false;
  /// kInput: the value `dst` is the space-to-depth, in `block`×`block` cells, of the input with `padding.h`
  /// rows of zeros above and `padding.w` columns of zeros to its left (and zeros wherever a cell reaches past
  /// the input): channel ((dy·block + dx)·C + c) of pixel (y, x) is input channel c at row y·block + dy −
  /// padding.h, column x·block + dx − padding.w. block = 1 with no padding is the plain NHWC copy.
  int64_t block = 1;
  /// kConv: byte offsets into the weight blob of the packed filter and of the bias (k_stored floats, always
  /// float32: the epilogue adds it in float).
  size_t filter_offset = 0, filter_bytes = 0;
  size_t bias_offset = 0, bias_bytes = 0;
  /// The graph op this step came from, -1 for kInput and kOutput (for messages, and pack_weights' source).
  int op_index = -1;
  /// kOutput: which graph output.
  int output_index = -1;
  /// kConvert: the factor applied before rounding to dst's storage (1 / fp8_scale into FP8, fp8_scale out of it).
  float scale = 1.0f;
  /// kConv of an int8 plan run as an FP8 conv (plan_fp8.h: y / o = γ·relu(α[k]·acc + β[k] [+ r / d])): the
  /// blob holds the FP8 filter codes (the weights' integers q), β at bias_offset, α (k_stored floats) at
  /// scale_offset and, when γ ≠ 1, γ (one float) at output_scale_offset. `fp8_divisor` is d, `output_scale` γ.
  bool fp8 = false;
  size_t scale_offset = 0, scale_bytes = 0;
  size_t output_scale_offset = 0, output_scale_bytes = 0;
  float fp8_divisor = 1.0f, output_scale = 1.0f;
};

/// One form of the stem: the input value as the input conversion writes it, and the conv over it.
struct StemOption {
  StemForm form = StemForm::kDirect;
  /// The input value (NHWC, per sample): its geometry, the channels that hold input data (C·block²) and the
  /// stored ones, and its bytes at the plan's batch.
  int64_t h = 0, w = 0, channels = 0, stored_channels = 0;
  size_t bytes = 0;
  /// The input conversion's arrangement (Step::block and Step::padding of the kInput step).
  int64_t block = 1;
  Pair input_padding{0, 0};
  /// The conv over it (dilation 1, one group), and its filter in the weight blob: KRSC [k_stored, kernel.h,
  /// kernel.w, stored_channels], the graph's weights rearranged (pack_weights). The bias is the step's own.
  Pair kernel{1, 1}, stride{1, 1}, padding{0, 0};
  size_t filter_offset = 0, filter_bytes = 0;
};

/// The stem's forms. `forms` lists what this graph and storage allow, direct first; the plan's steps and values
/// are laid out for `chosen` (plan_cuda chooses direct; with_stem_form another).
struct StemPlan {
  int step = -1;  // index of the stem conv step; -1 when the graph has no stem (then `forms` is empty)
  std::vector<StemOption> forms;
  StemForm chosen = StemForm::kDirect;
  /// Arena bytes held for the input value: the largest form's, so that any form fits at the planned offset.
  size_t input_arena_bytes = 0;
  /// Why a form is not offered (one line per form left out), for describe() and error messages.
  std::vector<std::string> unavailable;

  /// The option of `form`, or null when it is not offered.
  const StemOption* find(StemForm form) const;
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
  /// Bytes of the activation arena (every value but aliases, placed by liveness: a value lives from the
  /// step that writes it to the last step that reads it, or its kOutput step). Values alive at one step
  /// never overlap, so no step's output shares memory with its inputs; in particular a fused conv's
  /// residual never aliases its output (cuDNN's z and y must not).
  size_t arena_bytes = 0;
  /// Bytes of the packed weight blob (filters in storage type, biases in float32), each entry aligned.
  size_t weight_blob_bytes = 0;
  /// Elements of each graph output as the host receives it (NCHW float32 or [N, F]).
  std::vector<int64_t> output_elements;
  /// Remarks for humans: layouts left unpadded and why (see grouped convolutions above).
  std::vector<std::string> notes;
  /// The stem's forms and which one the steps and values are laid out for.
  StemPlan stem;
};

/// Plans `graph` (validated) for `batch` samples at `precision`. Fails with kUnsupported for an op the CUDA
/// backend does not run, naming it, and with kInvalidShape when a padded size would not fit in memory. At
/// precision int8 the graph's FP8 convs, value storages and boundary conversions follow plan_fp8.h; the
/// other layers are planned as for float16 (the plan's `storage`).
Result<CudaPlan> plan_cuda(const Graph& graph, int64_t batch, Precision precision);

/// The same plan laid out for stem form `form`: the input value's geometry, the kInput step's arrangement and
/// the stem conv's kernel, stride, padding and filter become the form's (arena offsets, the weight blob and
/// every other step stay as they are). kInvalidArgument, naming the forms offered and why the others are not,
/// when `form` is not among plan.stem.forms.
Result<CudaPlan> with_stem_form(const CudaPlan& plan, StemForm form);

/// Writes the weight blob of `plan` into `blob` (weight_blob_bytes bytes, zeroed by the caller, aligned to
/// at least 4 bytes: elements are written as floats and halves): each conv's filter OIHW float → KRSC in
/// the storage type (kernel_math.h's rounding) with zero padding of channels, the stem's filter once per
/// form (rearranged for it), each bias as float32 [k_stored]. The bytes are exactly what the device
/// receives, and the same whichever stem form the plan is laid out for.
void pack_weights(const Graph& graph, const CudaPlan& plan, uint8_t* blob);

/// A human-readable dump of the plan (one line per step and value), for errors and the testing export.
std::string describe(const CudaPlan& plan);

}  // namespace cuda
}  // namespace resnet
