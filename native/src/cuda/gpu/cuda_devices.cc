#include "cuda/gpu/cuda_devices.h"

#include <cuda_runtime.h>

#include "cuda/gpu/cuda_status.h"

namespace resnet {
namespace cuda {

std::string cuda_version_name(int version) { return cat(version / 1000, ".", version % 1000 / 10); }

Result<int> cuda_device_count() {
  int driver = 0;
  if (cudaDriverGetVersion(&driver) != cudaSuccess || driver == 0) {
    cudaGetLastError();
    return Status(Code::kNoGpu, cat("no NVIDIA driver was found (libcuda.so.1 did not load): install the NVIDIA "
                                    "driver (R580 or newer for this addon's CUDA ",
                                    cuda_version_name(CUDART_VERSION), " runtime), or use device 'cpu'"));
  }
  int count = 0;
  const cudaError_t error = cudaGetDeviceCount(&count);
  if (error != cudaSuccess) {
    cudaGetLastError();
    return cuda_error(error, "looking for CUDA devices");
  }
  if (count == 0) {
    return Status(Code::kNoGpu,
                  "the NVIDIA driver sees no CUDA device (check nvidia-smi and CUDA_VISIBLE_DEVICES), "
                  "or use device 'cpu'");
  }
  return count;
}

}  // namespace cuda
}  // namespace resnet
