// The backend registry, keyed by name. A backend this build leaves out still has an entry, so that
// info() and compile() can say why it is missing instead of "unknown backend".
#include "backend.h"
#include "cpu/cpu_backend.h"
#ifdef RESNET_WITH_CUDA
#include "cuda/gpu/cuda_backend.h"
#endif

namespace resnet {
namespace {

struct Entry {
  const char* name;
  Backend* (*get)();  // nullptr when this build leaves the backend out
  const char* why_missing;
};

const Entry kEntries[] = {
    {"cpu", &cpu_backend, ""},
#ifdef RESNET_WITH_CUDA
    {"cuda", &cuda_backend, ""},
#else
    {"cuda", nullptr,
     "built without CUDA: this addon has no CUDA backend (nvcc was not found when it was built, RESNET_CPU_ONLY was "
     "set, or it was built with node-gyp); install the CUDA toolkit and rebuild with `npm run build:native`, or use "
     "device 'cpu'"},
#endif
};

}  // namespace

Result<Backend*> find_backend(const std::string& name) {
  for (const Entry& entry : kEntries) {
    if (name != entry.name) continue;
    if (entry.get) return entry.get();
    return Status(Code::kBackendUnavailable, entry.why_missing);
  }
  return Status(Code::kInvalidArgument,
                cat("Expected \"cpu\" or \"cuda\" for options.backend but received \"", name, "\""));
}

std::vector<std::pair<std::string, BackendInfo>> describe_backends() {
  std::vector<std::pair<std::string, BackendInfo>> all;
  for (const Entry& entry : kEntries) {
    BackendInfo info;
    if (entry.get) {
      info = entry.get()->info();
    } else {
      info.reason = entry.why_missing;
    }
    all.emplace_back(entry.name, std::move(info));
  }
  return all;
}

}  // namespace resnet
