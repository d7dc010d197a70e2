#include "cuda/gpu/cuda_status.h"

#include <cstdio>

namespace resnet {
namespace cuda {
namespace {

constexpr const char* kUseCpu = "or use device 'cpu'";

// "123.4 MiB".
std::string mebibytes(size_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return text;
}

std::string describe(cudaError_t error) { return cat(cudaGetErrorName(error), " (", cudaGetErrorString(error), ")"); }

}  // namespace

bool is_sticky(cudaError_t error) {
  // The errors whose documentation (driver_types.h) says "the process must be terminated and relaunched".
  switch (error) {
    case cudaErrorContained:
    case cudaErrorIllegalAddress:
    case cudaErrorLaunchTimeout:
    case cudaErrorAssert:
    case cudaErrorHardwareStackError:
    case cudaErrorIllegalInstruction:
    case cudaErrorMisalignedAddress:
    case cudaErrorInvalidAddressSpace:
    case cudaErrorInvalidPc:
    case cudaErrorLaunchFailure:
    case cudaErrorTensorMemoryLeak:
    case cudaErrorMpsClientTerminated:
    case cudaErrorExternalDevice: return true;
    default: return false;
  }
}

Status cuda_error(cudaError_t error, const std::string& what) {
  const std::string failed = cat(what, " failed: ", describe(error));
  switch (error) {
    case cudaErrorInsufficientDriver:
    case cudaErrorStubLibrary:
    case cudaErrorSystemDriverMismatch:
    case cudaErrorCompatNotSupportedOnDevice:
      return Status(Code::kNoGpu, cat(failed, ". No usable NVIDIA driver: this addon's CUDA ", CUDART_VERSION / 1000,
                                      ".", CUDART_VERSION % 1000 / 10,
                                      " runtime needs a driver that supports it (R580 or newer for CUDA 13); "
                                      "install or update the NVIDIA driver, ",
                                      kUseCpu));
    case cudaErrorNoDevice:
      return Status(Code::kNoGpu, cat(failed,
                                      ". The NVIDIA driver sees no CUDA device (check nvidia-smi and "
                                      "CUDA_VISIBLE_DEVICES), ",
                                      kUseCpu));
    case cudaErrorInvalidDevice:
      return Status(Code::kNoGpu, cat(failed,
                                      ". Check the device ordinal against nvidia-smi and "
                                      "CUDA_VISIBLE_DEVICES, ",
                                      kUseCpu));
    case cudaErrorDevicesUnavailable:
      return Status(Code::kNoGpu, cat(failed,
                                      ". The GPU is busy or in exclusive-process mode with another "
                                      "process on it; free it (nvidia-smi), ",
                                      kUseCpu));
    case cudaErrorInitializationError:
      return Status(Code::kNoGpu, cat(failed, ". The CUDA driver could not initialise; check nvidia-smi, ", kUseCpu));
    case cudaErrorMemoryAllocation:
      return Status(Code::kGpuOutOfMemory, cat(failed,
                                               ". The GPU is out of memory: use a smaller batch or a "
                                               "16-bit dtype, or free other models"));
    case cudaErrorNoKernelImageForDevice:
    case cudaErrorInvalidKernelImage:
      return Status(Code::kBackend, cat(failed,
                                        ". The addon's kernels were not built for this GPU's architecture; "
                                        "rebuild with CMAKE_CUDA_ARCHITECTURES naming it "
                                        "(e.g. CMAKE_CUDA_ARCHITECTURES=native npm run build:native)"));
    default: break;
  }
  if (is_sticky(error)) {
    return Status(Code::kBackend, cat(failed,
                                      ". CUDA cannot recover from this error: every later GPU call in this "
                                      "process fails; restart the process"));
  }
  return Status(Code::kBackend, failed);
}

Status gpu_out_of_memory(int device, size_t bytes, const std::string& what) {
  size_t free_bytes = 0, total_bytes = 0;
  const bool known = cudaMemGetInfo(&free_bytes, &total_bytes) == cudaSuccess;
  cudaGetLastError();  // a failed query must not linger as this thread's last error
  const std::string free_text = known ? cat(mebibytes(free_bytes), " free of ", mebibytes(total_bytes))
                                      : std::string("free memory unknown");
  return Status(Code::kGpuOutOfMemory,
                cat("out of GPU memory on device ", device, " allocating ", what, ": needed ", bytes, " bytes (",
                    mebibytes(bytes), "), ", free_text,
                    "; use a smaller batch or a 16-bit dtype, or free other models on this GPU"));
}

}  // namespace cuda
}  // namespace resnet
