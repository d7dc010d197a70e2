// CUDA runtime and cuDNN failures as Statuses: every call the CUDA backend makes is checked with one of the
// macros below, which return from the enclosing function (nothing here aborts or throws). The code says
// what kind of failure it was (no GPU, out of GPU memory, a broken device) and the message what to do.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <string>

#include "cuda/cudnn_loader.h"
#include "status.h"

namespace resnet {
namespace cuda {

/// Whether `error` is one of CUDA's sticky errors: the context is corrupt and every later call in this
/// process fails the same way (an illegal address, a failed launch, …). Only a new process recovers.
bool is_sticky(cudaError_t error);

/// The Status for a CUDA runtime call that returned `error` while doing `what`: kNoGpu for a missing
/// driver or device, kGpuOutOfMemory for exhausted device memory, kBackend otherwise (saying that the
/// process must restart after a sticky error).
Status cuda_error(cudaError_t error, const std::string& what);

/// kGpuOutOfMemory for an allocation of `bytes` on `device` (the current device) for `what` ("the weights")
/// that failed: how many bytes were needed, how many the device has free (cudaMemGetInfo), and to use a
/// smaller batch.
Status gpu_out_of_memory(int device, size_t bytes, const std::string& what);

}  // namespace cuda
}  // namespace resnet

/// Returns the Status for a failed CUDA runtime call `expr` from the enclosing function; `what` (built only
/// on failure) says what the call was doing, e.g. "copying the input to the GPU".
#define RESNET_CUDA_CHECK(expr, what)                                                                     \
  do {                                                                                                    \
    const cudaError_t resnet_cuda_error_ = (expr);                                                        \
    if (resnet_cuda_error_ != cudaSuccess) return ::resnet::cuda::cuda_error(resnet_cuda_error_, (what)); \
  } while (0)

/// The same for a cuDNN call through the loaded `api` (a CudnnApi): cudnn_error's code and message.
#define RESNET_CUDNN_CHECK(api, expr, what)                                    \
  do {                                                                         \
    const ::resnet::cudnn::cudnnStatus_t resnet_cudnn_status_ = (expr);        \
    if (resnet_cudnn_status_ != ::resnet::cudnn::CUDNN_STATUS_SUCCESS)         \
      return ::resnet::cuda::cudnn_error((api), resnet_cudnn_status_, (what)); \
  } while (0)
