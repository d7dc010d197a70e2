#include "cuda/gpu/device_memory.h"

#include "cuda/gpu/cuda_status.h"

namespace resnet {
namespace cuda {

Result<DeviceBuffer> DeviceBuffer::allocate(int device, size_t bytes, const std::string& what) {
  DeviceBuffer buffer;
  buffer.device_ = device;
  if (bytes == 0) return buffer;
  ScopedDevice current(device);
  RESNET_CUDA_CHECK(current.error(), cat("making device ", device, " current for ", what));
  const cudaError_t error = cudaMalloc(&buffer.pointer_, bytes);
  if (error == cudaErrorMemoryAllocation) {
    cudaGetLastError();  // not sticky: clear it so that it is not reported again by a later launch check
    buffer.pointer_ = nullptr;
    return gpu_out_of_memory(device, bytes, what);
  }
  if (error != cudaSuccess) {
    buffer.pointer_ = nullptr;
    return cuda_error(error, cat("allocating ", bytes, " bytes of GPU memory for ", what));
  }
  buffer.bytes_ = bytes;
  return buffer;
}

DeviceBuffer::~DeviceBuffer() {
  if (!pointer_) return;
  ScopedDevice current(device_);
  if (cudaFree(pointer_) != cudaSuccess) cudaGetLastError();
}

Result<PinnedBuffer> PinnedBuffer::allocate(size_t bytes, const std::string& what) {
  PinnedBuffer buffer;
  if (bytes == 0) return buffer;
  const cudaError_t error = cudaHostAlloc(&buffer.pointer_, bytes, cudaHostAllocPortable);
  if (error == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    buffer.pointer_ = nullptr;
    return Status(Code::kOutOfMemory, cat("out of page-locked host memory allocating ", what, ": needed ", bytes,
                                          " bytes; use a smaller batch, or raise the locked-memory limit (ulimit -l)"));
  }
  if (error != cudaSuccess) {
    buffer.pointer_ = nullptr;
    return cuda_error(error, cat("allocating ", bytes, " bytes of page-locked host memory for ", what));
  }
  buffer.bytes_ = bytes;
  return buffer;
}

PinnedBuffer::~PinnedBuffer() {
  if (pointer_ && cudaFreeHost(pointer_) != cudaSuccess) cudaGetLastError();
}

}  // namespace cuda
}  // namespace resnet
