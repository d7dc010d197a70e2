// load_cudnn: dlopen libcudnn.so.9 from the first candidate that opens (cudnn_search.cc lists them), check
// that it is cuDNN 9 and resolve every function of cudnn_api.h. Once per process; the library stays loaded.
#include "cuda/cudnn_loader.h"

#include <dlfcn.h>

#include "cuda/library_open.h"

namespace resnet {
namespace cuda {
namespace {

constexpr const char* kFixes =
    "Fixes (any one):\n"
    "  - pip install nvidia-cudnn-cu13 (or nvidia-cudnn-cu12 with a CUDA 12 driver) for the python3 on PATH: "
    "its nvidia/cudnn/lib folder is searched\n"
    "  - point RESNET_CUDNN_PATH at libcudnn.so.9 or at the folder that holds it\n"
    "  - install cuDNN 9 system-wide: apt-get install libcudnn9-cuda-13 (or libcudnn9-cuda-12) from NVIDIA's "
    "CUDA repository\n"
    "  - or use device 'cpu' (device 'auto' falls back to it by itself)";

struct Version {
  size_t major, minor, patch;
};

/// cudnnGetVersion() is major·10000 + minor·100 + patch since cuDNN 9, major·1000 + minor·100 + patch before.
Version decode(size_t version) {
  if (version >= 10000) return {version / 10000, version / 100 % 100, version % 100};
  return {version / 1000, version / 100 % 10, version % 100};
}

std::string version_text(size_t version) {
  const Version v = decode(version);
  return cat(v.major, ".", v.minor, ".", v.patch);
}

/// Loads the sub-libraries beside a libcudnn.so.9 with RTLD_GLOBAL, graph first, before the dispatcher:
/// it dlopens them by bare soname, and an already loaded object with that soname is what it then gets.
std::vector<void*> preload_sublibraries(const std::string& folder, std::vector<std::string>& failures) {
  std::vector<void*> handles;
  for (const char* name : kCudnnSublibraries) {
    const std::string path = folder + "/" + name;
    if (!is_regular_file(path)) continue;
    dlerror();
    void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL);
    if (handle) {
      handles.push_back(handle);
    } else {
      failures.push_back(cat(name, ": ", last_dl_error(path)));
    }
  }
  return handles;
}

/// Checks the version and resolves every function; kCudnnVersion when it is not a complete cuDNN 9.
Status resolve(void* handle, const std::string& path, CudnnLibrary& library) {
  const auto get_version = reinterpret_cast<cudnn::PFN_cudnnGetVersion>(dlsym(handle, "cudnnGetVersion"));
  if (!get_version) {
    return Status(Code::kCudnnVersion,
                  cat(path,
                      " loaded but does not export cudnnGetVersion, so it is not cuDNN; resnet-cudnn needs cuDNN "
                      "9.x. Point RESNET_CUDNN_PATH at a cuDNN 9 libcudnn.so.9 (or unset it to search).\n",
                      kFixes));
  }
  const size_t version = get_version();
  if (decode(version).major != 9) {
    return Status(Code::kCudnnVersion,
                  cat("found cuDNN ", version_text(version), " at ", path,
                      ", but resnet-cudnn needs cuDNN 9.x. Install cuDNN 9 and point RESNET_CUDNN_PATH at its "
                      "libcudnn.so.9 or folder (or unset RESNET_CUDNN_PATH to search the usual places).\n",
                      kFixes));
  }
  const std::vector<SymbolSlot> slots = {
#define RESNET_SLOT(ret, name, params) \
  {#name, [&library](void* address) { library.api.name = reinterpret_cast<cudnn::PFN_##name>(address); }},
      RESNET_CUDNN_FUNCTIONS(RESNET_SLOT)
#undef RESNET_SLOT
  };
  const std::string missing = resolve_symbols(handle, slots);
  if (!missing.empty()) {
    return Status(Code::kCudnnVersion,
                  cat("cuDNN ", version_text(version), " at ", path, " does not export ", missing,
                      ", which resnet-cudnn calls: it is an incomplete or altered cuDNN 9. Install a complete cuDNN 9 "
                      "and point RESNET_CUDNN_PATH at it.\n",
                      kFixes));
  }
  library.path = path;
  library.version = version;
  return Status();
}

Status not_found(const std::string& tried, bool have_python) {
  return Status(Code::kCudnnNotFound,
                cat("cuDNN 9 (libcudnn.so.9) could not be loaded; the CUDA backend needs it. Tried, in order:\n", tried,
                    have_python ? "  (python3 on PATH has no nvidia-cudnn package)\n"
                                : "  (no python3 on PATH to ask for an nvidia-cudnn package)\n",
                    kFixes));
}

}  // namespace

std::vector<std::string> cudnn_function_names() {
  return {
#define RESNET_FUNCTION_NAME(ret, name, params) #name,
      RESNET_CUDNN_FUNCTIONS(RESNET_FUNCTION_NAME)
#undef RESNET_FUNCTION_NAME
  };
}

Result<const CudnnLibrary*> load_cudnn() {
  // Global, as when linked or preloaded by PyTorch: the sub-libraries it loads later may look symbols up there.
  static const LibraryLoad<CudnnLibrary> kLoad{"cuDNN", cudnn_search_spec, RTLD_NOW | RTLD_GLOBAL, preload_sublibraries,
                                               resolve, not_found};
  return load_once_per_process(kLoad);
}

}  // namespace cuda
}  // namespace resnet
