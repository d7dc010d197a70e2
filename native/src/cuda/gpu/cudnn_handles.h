// RAII for cuDNN objects created through the loaded API: the library handle (bound to one device, the one
// current when it was created) and the descriptors (host-side objects). Move-only; destructors never throw
// and ignore cuDNN's status (nothing useful can be done with a failed destroy).
#pragma once

#include <string>
#include <utility>

#include "cuda/cudnn_api.h"
#include "cuda/cudnn_descriptor.h"
#include "cuda/gpu/cuda_status.h"
#include "cuda/gpu/device_memory.h"
#include "status.h"

namespace resnet {
namespace cuda {

using TensorDescriptor = CudnnDescriptor<cudnn::cudnnTensorDescriptor_t>;
using FilterDescriptor = CudnnDescriptor<cudnn::cudnnFilterDescriptor_t>;
using ConvolutionDescriptor = CudnnDescriptor<cudnn::cudnnConvolutionDescriptor_t>;
using ActivationDescriptor = CudnnDescriptor<cudnn::cudnnActivationDescriptor_t>;

inline Result<TensorDescriptor> create_tensor_descriptor(const CudnnApi& api) {
  cudnn::cudnnTensorDescriptor_t raw = nullptr;
  RESNET_CUDNN_CHECK(api, api.cudnnCreateTensorDescriptor(&raw), "creating a cuDNN tensor descriptor");
  return TensorDescriptor(raw, api.cudnnDestroyTensorDescriptor);
}

inline Result<FilterDescriptor> create_filter_descriptor(const CudnnApi& api) {
  cudnn::cudnnFilterDescriptor_t raw = nullptr;
  RESNET_CUDNN_CHECK(api, api.cudnnCreateFilterDescriptor(&raw), "creating a cuDNN filter descriptor");
  return FilterDescriptor(raw, api.cudnnDestroyFilterDescriptor);
}

inline Result<ConvolutionDescriptor> create_convolution_descriptor(const CudnnApi& api) {
  cudnn::cudnnConvolutionDescriptor_t raw = nullptr;
  RESNET_CUDNN_CHECK(api, api.cudnnCreateConvolutionDescriptor(&raw), "creating a cuDNN convolution descriptor");
  return ConvolutionDescriptor(raw, api.cudnnDestroyConvolutionDescriptor);
}

inline Result<ActivationDescriptor> create_activation_descriptor(const CudnnApi& api) {
  cudnn::cudnnActivationDescriptor_t raw = nullptr;
  RESNET_CUDNN_CHECK(api, api.cudnnCreateActivationDescriptor(&raw), "creating a cuDNN activation descriptor");
  return ActivationDescriptor(raw, api.cudnnDestroyActivationDescriptor);
}

/// A cuDNN library handle on one device, bound to one stream.
class CudnnHandle {
 public:
  CudnnHandle() = default;
  /// Creates a handle on `device` (made current for the call) whose work goes to `stream`.
  static Result<CudnnHandle> create(const CudnnApi& api, int device, cudaStream_t stream) {
    ScopedDevice current(device);
    RESNET_CUDA_CHECK(current.error(), cat("making device ", device, " current"));
    cudnn::cudnnHandle_t raw = nullptr;
    RESNET_CUDNN_CHECK(api, api.cudnnCreate(&raw), cat("creating a cuDNN handle on device ", device));
    CudnnHandle handle;
    handle.raw_ = raw;
    handle.destroy_ = api.cudnnDestroy;
    handle.device_ = device;
    RESNET_CUDNN_CHECK(api, api.cudnnSetStream(handle.raw_, stream), "binding the cuDNN handle to its stream");
    return handle;
  }

  CudnnHandle(CudnnHandle&& other) noexcept { swap(other); }
  CudnnHandle& operator=(CudnnHandle&& other) noexcept {
    CudnnHandle(std::move(other)).swap(*this);
    return *this;
  }
  CudnnHandle(const CudnnHandle&) = delete;
  CudnnHandle& operator=(const CudnnHandle&) = delete;
  ~CudnnHandle() {
    if (!raw_) return;
    ScopedDevice current(device_);
    destroy_(raw_);
  }

  cudnn::cudnnHandle_t get() const { return raw_; }

 private:
  void swap(CudnnHandle& other) noexcept {
    std::swap(raw_, other.raw_);
    std::swap(destroy_, other.destroy_);
    std::swap(device_, other.device_);
  }

  cudnn::cudnnHandle_t raw_ = nullptr;
  cudnn::PFN_cudnnDestroy destroy_ = nullptr;
  int device_ = -1;
};

}  // namespace cuda
}  // namespace resnet
