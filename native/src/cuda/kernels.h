// The few kernels cuDNN does not cover, one entry point each (ggml's habit): input conversion, the
// epilogue of a conv that cuDNN could not fuse, elementwise add/relu, pooling and output conversion.
// Their per-element logic lives in kernel_math.h as __host__ __device__ functions, which the host
// emulation (kernel_host.h) runs on the CPU for the tests. Every launcher returns the launch's
// cudaError_t; none synchronises, and each is safe inside a stream capture.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "backend.h"
#include "cuda/cuda_plan.h"

namespace resnet {
namespace cuda {

/// Host NCHW input (already on the device, float32 or uint8) → NHWC storage with zero padding channels.
/// With `mean`/`inv_std` (device arrays of `channels` floats, or both null):
/// x' = (x · scale − mean[c]) · inv_std[c].
struct InputConvertArgs {
  const void* src = nullptr;
  InputType src_type = InputType::kFloat32;
  void* dst = nullptr;
  StorageType storage = StorageType::kFloat32;
  int64_t n = 0, channels = 0, h = 0, w = 0, stored_channels = 0;
  float scale = 1.0f;
  const float* mean = nullptr;
  const float* inv_std = nullptr;
};
cudaError_t launch_input_convert(const InputConvertArgs& args, cudaStream_t stream);

/// Device NHWC storage → NCHW float32 (padding channels dropped). For h = w = 1 this is [n, channels].
struct OutputConvertArgs {
  const void* src = nullptr;
  StorageType storage = StorageType::kFloat32;
  float* dst = nullptr;
  int64_t n = 0, channels = 0, h = 0, w = 0, stored_channels = 0;
};
cudaError_t launch_output_convert(const OutputConvertArgs& args, cudaStream_t stream);

/// In place over a conv's output y (NHWC, `stored_channels` innermost, `count` elements):
/// y = [relu](y + bias[c] + residual). `residual` may be null; bias is float32 [stored_channels].
struct EpilogueArgs {
  void* y = nullptr;
  const void* residual = nullptr;
  const float* bias = nullptr;
  StorageType storage = StorageType::kFloat32;
  int64_t count = 0, stored_channels = 0;
  bool relu = false;
};
cudaError_t launch_epilogue(const EpilogueArgs& args, cudaStream_t stream);

/// dst = [relu](a + b) elementwise (`b` null: dst = [relu](a)), `count` elements of `storage`.
struct ElementwiseArgs {
  const void* a = nullptr;
  const void* b = nullptr;
  void* dst = nullptr;
  StorageType storage = StorageType::kFloat32;
  int64_t count = 0;
  bool relu = false;
};
cudaError_t launch_elementwise(const ElementwiseArgs& args, cudaStream_t stream);

/// NHWC pooling over `channels` (= stored channels: padding channels pool to zero). Max pool follows
/// PyTorch (implicit −inf padding, ceil mode, dilation, NaN propagates); the adaptive average pool uses
/// PyTorch's windows start = ⌊i·in/out⌋, end = ⌈(i+1)·in/out⌉.
struct PoolArgs {
  const void* src = nullptr;
  void* dst = nullptr;
  StorageType storage = StorageType::kFloat32;
  int64_t n = 0, channels = 0, in_h = 0, in_w = 0, out_h = 0, out_w = 0;
  Pair kernel{1, 1}, stride{1, 1}, padding{0, 0}, dilation{1, 1};  // max pool only
};
cudaError_t launch_maxpool(const PoolArgs& args, cudaStream_t stream);
cudaError_t launch_adaptive_avgpool(const PoolArgs& args, cudaStream_t stream);

}  // namespace cuda
}  // namespace resnet
