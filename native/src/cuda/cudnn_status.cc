// cuDNN status codes as names, and a failed cuDNN call as a Status whose code says what kind of failure it
// was and whose message says what to do.
#include <cstring>

#include "cuda/cudnn_loader.h"

namespace resnet {
namespace cuda {
namespace {

Code code_for(cudnn::cudnnStatus_t status) {
  const int value = static_cast<int>(status);
  if (value == cudnn::CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED ||
      value == cudnn::CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED) {
    return Code::kGpuOutOfMemory;
  }
  if (value >= 3000 && value <= 3999) return Code::kUnsupported;
  if (value == cudnn::CUDNN_STATUS_SUBLIBRARY_VERSION_MISMATCH) return Code::kCudnnVersion;
  if (value == cudnn::CUDNN_STATUS_SUBLIBRARY_LOADING_FAILED) return Code::kCudnnNotFound;
  return Code::kBackend;
}

/// What to do about `status`, or "" where nothing better than the message itself can be said.
const char* advice_for(cudnn::cudnnStatus_t status) {
  switch (status) {
    case cudnn::CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED:
      return "host memory ran out; free memory or use a smaller batch";
    case cudnn::CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED:
      return "GPU memory ran out; use a smaller batch, fewer concurrent runs, or free the GPU from other processes";
    case cudnn::CUDNN_STATUS_SUBLIBRARY_VERSION_MISMATCH:
      return "cuDNN's sub-libraries (libcudnn_*.so.9) come from another cuDNN than libcudnn.so.9; keep one cuDNN 9 "
             "on the library path, or set RESNET_CUDNN_PATH to the folder of a complete one";
    case cudnn::CUDNN_STATUS_SUBLIBRARY_LOADING_FAILED:
      return "a cuDNN sub-library (libcudnn_*.so.9) or one of its dependencies (libcublas, libnvrtc) could not be "
             "loaded; reinstall cuDNN 9 or set RESNET_CUDNN_PATH to the folder of a complete one";
    case cudnn::CUDNN_STATUS_NOT_SUPPORTED_INCOMPATIBLE_CUDA_DRIVER:
      return "the NVIDIA driver is too old for this cuDNN; update the driver";
    case cudnn::CUDNN_STATUS_NOT_SUPPORTED_ARCH_MISMATCH:
      return "this cuDNN has no kernels for this GPU; use a cuDNN 9 build that supports it, or device 'cpu'";
    default: break;
  }
  const int value = static_cast<int>(status);
  if (value >= 3000 && value <= 3999) {
    return "cuDNN does not support this layer configuration on this GPU; try dtype 'float32', or device 'cpu'";
  }
  if (value >= 5000 && value <= 5999) return "the GPU failed while running; if it persists, restart the process";
  return "";
}

}  // namespace

const char* cudnn_status_name(cudnn::cudnnStatus_t status) {
  switch (status) {
#define RESNET_STATUS_CASE(name, value) \
  case cudnn::name: return #name;
    RESNET_CUDNN_STATUS_VALUES(RESNET_STATUS_CASE)
#undef RESNET_STATUS_CASE
  }
  return "CUDNN_STATUS_UNKNOWN";
}

Status cudnn_error(const CudnnApi& api, cudnn::cudnnStatus_t status, const std::string& what) {
  const char* text = api.cudnnGetErrorString ? api.cudnnGetErrorString(status) : nullptr;
  char last[1024] = {};
  if (api.cudnnGetLastErrorString) api.cudnnGetLastErrorString(last, sizeof last);
  last[sizeof last - 1] = '\0';
  std::string message = cat(what, " failed: ", cudnn_status_name(status), " (", static_cast<int>(status), ")");
  if (text && *text) message += cat(": ", text);
  if (last[0]) message += cat("; ", last);
  const char* advice = advice_for(status);
  if (*advice) message += cat(". ", advice);
  return Status(code_for(status), message);
}

}  // namespace cuda
}  // namespace resnet
