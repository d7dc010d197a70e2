#include "status.h"

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
  }
  return "ERR_BACKEND";
}

}  // namespace resnet
