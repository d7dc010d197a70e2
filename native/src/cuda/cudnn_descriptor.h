// RAII for one cuDNN descriptor (legacy descriptors and the graph API's backend descriptors alike): destroyed
// with the function it was created for, through the loaded API. Move-only; the destructor ignores cuDNN's
// status (nothing useful can be done with a failed destroy). Plain C++: no CUDA header needed.
#pragma once

#include <utility>

#include "cuda/cudnn_api.h"

namespace resnet {
namespace cuda {

/// One cuDNN descriptor, destroyed with `destroy` (cudnnDestroyTensorDescriptor, …).
template <typename Raw>
class CudnnDescriptor {
 public:
  using Destroy = cudnn::cudnnStatus_t (*)(Raw);

  CudnnDescriptor() = default;
  CudnnDescriptor(Raw raw, Destroy destroy) : raw_(raw), destroy_(destroy) {}
  CudnnDescriptor(CudnnDescriptor&& other) noexcept { swap(other); }
  CudnnDescriptor& operator=(CudnnDescriptor&& other) noexcept {
    CudnnDescriptor(std::move(other)).swap(*this);
    return *this;
  }
  CudnnDescriptor(const CudnnDescriptor&) = delete;
  CudnnDescriptor& operator=(const CudnnDescriptor&) = delete;
  ~CudnnDescriptor() {
    if (raw_) destroy_(raw_);
  }

  Raw get() const { return raw_; }

 private:
  void swap(CudnnDescriptor& other) noexcept {
    std::swap(raw_, other.raw_);
    std::swap(destroy_, other.destroy_);
  }

  Raw raw_ = nullptr;
  Destroy destroy_ = nullptr;
};

}  // namespace cuda
}  // namespace resnet
