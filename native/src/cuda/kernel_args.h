// The arguments of the custom kernels (kernels.h launches them on the device, kernel_host.h runs them on
// the CPU), kept free of CUDA headers so that the host emulation and its tests build everywhere. Each
// struct is trivially copyable: a launcher passes it to its kernel by value.
#pragma once

#include <cstdint>

#include "backend.h"
#include "cuda/cuda_plan.h"
#include "graph.h"
#include "status.h"

namespace resnet {
namespace cuda {

/// The run's input (already on the device: float32, float16 or uint8, NCHW or NHWC; [n, channels, h, w]) →
/// NHWC storage [n, out_h, out_w, stored_channels], the layout of the stem's form (cuda_plan.h's Step::block):
/// channel (dy·block + dx)·channels + c of pixel (y, x) is input channel c at (y·block + dy − pad_top,
/// x·block + dx − pad_left), zero where that lies outside the input and in the channels past
/// channels·block². block = 1, no padding and out = (h, w) is the plain NHWC copy. Every input element is
/// x' = x · scale; with `mean`/`inv_std` (arrays of `channels` floats, or both null) x' = (x · scale − mean[c]) ·
/// inv_std[c], where the caller computes inv_std[c] = 1.0f / std[c] in float. Padding positions stay 0 (the
/// conv pads the normalised input with zeros).
struct InputConvertArgs {
  const void* src = nullptr;
  InputFormat src_format;
  void* dst = nullptr;
  StorageType storage = StorageType::kFloat32;
  int64_t n = 0, channels = 0, h = 0, w = 0;
  int64_t out_h = 0, out_w = 0, stored_channels = 0;
  int64_t block = 1, pad_top = 0, pad_left = 0;
  float scale = 1.0f;
  const float* mean = nullptr;
  const float* inv_std = nullptr;
};

/// Device NHWC storage → NCHW float32 (padding channels dropped). For h = w = 1 this is [n, channels].
struct OutputConvertArgs {
  const void* src = nullptr;
  StorageType storage = StorageType::kFloat32;
  float* dst = nullptr;
  int64_t n = 0, channels = 0, h = 0, w = 0, stored_channels = 0;
};

/// In place over a conv's output y (NHWC, `stored_channels` innermost, `count` elements):
/// y = [relu]((y + bias[c]) + residual). `residual` may be null; bias is float32 [stored_channels].
struct EpilogueArgs {
  void* y = nullptr;
  const void* residual = nullptr;
  const float* bias = nullptr;
  StorageType storage = StorageType::kFloat32;
  int64_t count = 0, stored_channels = 0;
  bool relu = false;
};

/// dst = [relu](a + b) elementwise (`b` null: dst = [relu](a)), `count` elements of `storage`. `dst` may
/// be `a` or `b` (each element reads its inputs before writing).
struct ElementwiseArgs {
  const void* a = nullptr;
  const void* b = nullptr;
  void* dst = nullptr;
  StorageType storage = StorageType::kFloat32;
  int64_t count = 0;
  bool relu = false;
};

/// dst = src · scale, converted from `src_storage` to `dst_storage`, `count` elements (stored channels
/// included: zero padding stays zero). The boundaries of an int8 plan (plan_fp8.h): FP16 real values → FP8
/// codes with scale = 1 / s_fp8 (saturating at ±448), FP8 codes → FP16 real values with scale = s_fp8.
struct ScaleConvertArgs {
  const void* src = nullptr;
  void* dst = nullptr;
  StorageType src_storage = StorageType::kFloat16;
  StorageType dst_storage = StorageType::kFloat8E4M3;
  float scale = 1.0f;
  int64_t count = 0;
};

/// NHWC pooling over `channels` (= stored channels: padding channels pool to zero). Max pool follows
/// PyTorch (implicit −inf padding, ceil mode, dilation, NaN propagates); the adaptive average pool uses
/// PyTorch's windows start = ⌊i·in/out⌋, end = ⌈(i+1)·in/out⌉. The output sizes are the caller's (the
/// planner's window_output_size for max pool).
struct PoolArgs {
  const void* src = nullptr;
  void* dst = nullptr;
  StorageType storage = StorageType::kFloat32;
  int64_t n = 0, channels = 0, in_h = 0, in_w = 0, out_h = 0, out_w = 0;
  Pair kernel{1, 1}, stride{1, 1}, padding{0, 0}, dilation{1, 1};  // max pool only
};

/// Elements each kernel writes (the range of its per-element index).
int64_t element_count(const InputConvertArgs& args);
int64_t element_count(const OutputConvertArgs& args);
int64_t element_count(const EpilogueArgs& args);
int64_t element_count(const ElementwiseArgs& args);
int64_t element_count(const PoolArgs& args);
int64_t element_count(const ScaleConvertArgs& args);

/// Whether the arguments describe a launch the per-element functions handle: sizes non-negative and
/// consistent, pointers present where elements are read or written, windows PyTorch would accept. The
/// launchers answer cudaErrorInvalidValue and the host emulation ERR_INVALID_ARGUMENT when not.
Status validate_args(const InputConvertArgs& args);
Status validate_args(const OutputConvertArgs& args);
Status validate_args(const EpilogueArgs& args);
Status validate_args(const ElementwiseArgs& args);
Status validate_args(const ScaleConvertArgs& args);
Status validate_maxpool_args(const PoolArgs& args);
Status validate_adaptive_avgpool_args(const PoolArgs& args);

}  // namespace cuda
}  // namespace resnet
