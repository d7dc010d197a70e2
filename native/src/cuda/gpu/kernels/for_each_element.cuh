// The one launch shape every custom kernel uses: a grid-stride loop over the output elements, each
// computed by the kernel's per-element function from kernel_math.h, exactly as the host emulation
// (kernel_host.cc) loops over them on the CPU.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "status.h"

namespace resnet {
namespace cuda {

constexpr int kThreadsPerBlock = 256;
/// Enough blocks to fill any current GPU many times over; larger tensors loop (the grid stride).
constexpr int64_t kMaxBlocks = int64_t{65535} * 8;

/// Calls `element(args, i)` for every i in [0, count), spread over the grid.
template <typename Args, void (*element)(const Args&, int64_t)>
__global__ void for_each_element_kernel(Args args, int64_t count) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count; i += stride) {
    element(args, i);
  }
}

/// Launches for_each_element_kernel on `stream` after checking `args` with `validation` (its Status
/// becomes cudaErrorInvalidValue): nothing for zero elements, else 256 threads a block and
/// min(⌈count / 256⌉, kMaxBlocks) blocks. Returns the launch's error.
template <typename Args, void (*element)(const Args&, int64_t)>
cudaError_t launch_for_each_element(const Args& args, const Status& validation, int64_t count, cudaStream_t stream) {
  if (!validation.ok()) return cudaErrorInvalidValue;
  if (count == 0) return cudaSuccess;
  const int64_t blocks = std::min((count + kThreadsPerBlock - 1) / kThreadsPerBlock, kMaxBlocks);
  const unsigned int grid = static_cast<unsigned int>(blocks);
  for_each_element_kernel<Args, element><<<grid, kThreadsPerBlock, 0, stream>>>(args, count);
  return cudaGetLastError();
}

}  // namespace cuda
}  // namespace resnet
