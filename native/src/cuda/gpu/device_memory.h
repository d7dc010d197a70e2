// RAII for CUDA memory: device buffers (cudaMalloc, remembering their device) and pinned host buffers
// (cudaHostAlloc), plus a guard that makes a device current for a scope. Move-only; destructors make the
// owning device current first, never throw, and ignore failures (at process exit the runtime may already
// be unloading).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <string>
#include <utility>

#include "status.h"

namespace resnet {
namespace cuda {

/// Makes `device` current for the guard's scope and restores the previous one after.
class ScopedDevice {
 public:
  explicit ScopedDevice(int device) {
    if (cudaGetDevice(&previous_) != cudaSuccess) previous_ = -1;
    if (previous_ != device) error_ = cudaSetDevice(device);
    // Failures are reported through error(), not left as the thread's last error for a launch check to find.
    if (previous_ < 0 || error_ != cudaSuccess) cudaGetLastError();
  }
  ~ScopedDevice() {
    if (previous_ >= 0 && error_ == cudaSuccess) cudaSetDevice(previous_);
  }
  ScopedDevice(const ScopedDevice&) = delete;
  ScopedDevice& operator=(const ScopedDevice&) = delete;

  /// cudaSuccess when the device was made current.
  cudaError_t error() const { return error_; }

 private:
  int previous_ = -1;
  cudaError_t error_ = cudaSuccess;
};

/// `bytes` of memory on one GPU.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  /// Allocates on `device` (made current for the call) for `what` ("the weights"). kGpuOutOfMemory says
  /// how much was needed and how much was free. Zero bytes allocate nothing.
  static Result<DeviceBuffer> allocate(int device, size_t bytes, const std::string& what);

  DeviceBuffer(DeviceBuffer&& other) noexcept { swap(other); }
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept {
    DeviceBuffer(std::move(other)).swap(*this);
    return *this;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer();

  void* get() const { return pointer_; }
  template <typename T>
  T* as() const {
    return static_cast<T*>(pointer_);
  }
  size_t bytes() const { return bytes_; }
  int device() const { return device_; }

 private:
  void swap(DeviceBuffer& other) noexcept {
    std::swap(pointer_, other.pointer_);
    std::swap(bytes_, other.bytes_);
    std::swap(device_, other.device_);
  }

  void* pointer_ = nullptr;
  size_t bytes_ = 0;
  int device_ = -1;
};

/// `bytes` of page-locked host memory, so that copies to and from the GPU run asynchronously and can be
/// captured in a CUDA graph. Portable: pinned for every device's context, not only the current one.
class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  /// kOutOfMemory (host memory) when the allocation fails. Zero bytes allocate nothing.
  static Result<PinnedBuffer> allocate(size_t bytes, const std::string& what);

  PinnedBuffer(PinnedBuffer&& other) noexcept { swap(other); }
  PinnedBuffer& operator=(PinnedBuffer&& other) noexcept {
    PinnedBuffer(std::move(other)).swap(*this);
    return *this;
  }
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  ~PinnedBuffer();

  void* get() const { return pointer_; }
  template <typename T>
  T* as() const {
    return static_cast<T*>(pointer_);
  }
  size_t bytes() const { return bytes_; }

 private:
  void swap(PinnedBuffer& other) noexcept {
    std::swap(pointer_, other.pointer_);
    std::swap(bytes_, other.bytes_);
  }

  void* pointer_ = nullptr;
  size_t bytes_ = 0;
};

}  // namespace cuda
}  // namespace resnet
