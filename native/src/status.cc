#include "status.h"

#include "backend.h"

namespace resnet {

const char* code_name(Code code) {
  switch (code) {
    case Code::kOk: return "";
    case Code::kInvalidArgument: return "ERR_INVALID_ARGUMENT";
    case Code::kInvalidShape: return "ERR_INVALID_SHAPE";
    case Code::kUnsupported: return "ERR_UNSUPPORTED";
    case Code::kDisposed: return "ERR_DISPOSED";
    case Code::kBackend: return "ERR_BACKEND";
    case Code::kBackendUnavailable: return "ERR_BACKEND_UNAVAILABLE";
    case Code::kOutOfMemory: return "ERR_OUT_OF_MEMORY";
    case Code::kNoGpu: return "ERR_NO_GPU";
    case Code::kCudnnNotFound: return "ERR_CUDNN_NOT_FOUND";
    case Code::kCudnnVersion: return "ERR_CUDNN_VERSION";
    case Code::kGpuOutOfMemory: return "ERR_GPU_OUT_OF_MEMORY";
    case Code::kInvalidFile: return "ERR_INVALID_FILE";
    case Code::kNvjpegNotFound: return "ERR_NVJPEG_NOT_FOUND";
    case Code::kNvjpegVersion: return "ERR_NVJPEG_VERSION";
  }
  return "ERR_BACKEND";
}

const char* precision_name(Precision precision) {
  switch (precision) {
    case Precision::kFloat32: return "float32";
    case Precision::kTf32: return "tf32";
    case Precision::kFloat16: return "float16";
    case Precision::kBFloat16: return "bfloat16";
    case Precision::kInt8: return "int8";
  }
  return "float32";
}

}  // namespace resnet
