// RAII for a CUDA stream (non-blocking: it never synchronises with the legacy default stream, which other
// libraries in the process may use) and for a timing event. Made on and destroyed on their device;
// move-only.
#pragma once

#include <cuda_runtime.h>

#include <string>
#include <utility>

#include "cuda/gpu/cuda_status.h"
#include "cuda/gpu/device_memory.h"
#include "status.h"

namespace resnet {
namespace cuda {

class Stream {
 public:
  Stream() = default;
  /// A new non-blocking stream on `device` (made current for the call).
  static Result<Stream> create(int device) {
    Stream stream;
    ScopedDevice current(device);
    RESNET_CUDA_CHECK(current.error(), cat("making device ", device, " current"));
    RESNET_CUDA_CHECK(cudaStreamCreateWithFlags(&stream.stream_, cudaStreamNonBlocking), "creating a CUDA stream");
    stream.device_ = device;
    return stream;
  }

  Stream(Stream&& other) noexcept { swap(other); }
  Stream& operator=(Stream&& other) noexcept {
    Stream(std::move(other)).swap(*this);
    return *this;
  }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  ~Stream() {
    if (!stream_) return;
    ScopedDevice current(device_);
    if (cudaStreamDestroy(stream_) != cudaSuccess) cudaGetLastError();
  }

  cudaStream_t get() const { return stream_; }
  int device() const { return device_; }

 private:
  void swap(Stream& other) noexcept {
    std::swap(stream_, other.stream_);
    std::swap(device_, other.device_);
  }

  cudaStream_t stream_ = nullptr;
  int device_ = -1;
};

/// An event with timing, for measuring stretches of a stream (the benchmark's fused/unfused comparison).
class Event {
 public:
  Event() = default;
  static Result<Event> create(int device) {
    Event event;
    ScopedDevice current(device);
    RESNET_CUDA_CHECK(current.error(), cat("making device ", device, " current"));
    RESNET_CUDA_CHECK(cudaEventCreate(&event.event_), "creating a CUDA event");
    event.device_ = device;
    return event;
  }

  Event(Event&& other) noexcept { swap(other); }
  Event& operator=(Event&& other) noexcept {
    Event(std::move(other)).swap(*this);
    return *this;
  }
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  ~Event() {
    if (!event_) return;
    ScopedDevice current(device_);
    if (cudaEventDestroy(event_) != cudaSuccess) cudaGetLastError();
  }

  cudaEvent_t get() const { return event_; }

 private:
  void swap(Event& other) noexcept {
    std::swap(event_, other.event_);
    std::swap(device_, other.device_);
  }

  cudaEvent_t event_ = nullptr;
  int device_ = -1;
};

}  // namespace cuda
}  // namespace resnet
