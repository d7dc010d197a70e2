// load_cudnn: dlopen libcudnn.so.9 from the first candidate that opens (cudnn_search.cc lists them), check
// that it is cuDNN 9 and resolve every function of cudnn_api.h. Once per process; the library stays loaded.
#include "cuda/cudnn_loader.h"

#include <dlfcn.h>
#include <link.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <memory>
#include <mutex>
#include <new>
#include <set>

#include "cuda/bounded_command.h"

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

std::string last_dl_error(const std::string& path) {
  const char* error = dlerror();
  std::string text = error ? error : "unknown dlopen failure";
  // dlopen's message starts with the path, which the caller prints already.
  if (text.compare(0, path.size() + 2, path + ": ") == 0) text.erase(0, path.size() + 2);
  return text;
}

bool is_file(const std::string& path) {
  struct stat info;
  return stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode);
}

std::string folder_of(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return "";
  return slash == 0 ? "/" : path.substr(0, slash);
}

/// The file the dynamic linker actually opened for `handle` (a bare soname resolves to a path).
std::string opened_file(void* handle, const std::string& fallback) {
  link_map* map = nullptr;
  if (dlinfo(handle, RTLD_DI_LINKMAP, &map) != 0 || !map || !map->l_name || !*map->l_name) return fallback;
  char resolved[PATH_MAX];
  return realpath(map->l_name, resolved) ? std::string(resolved) : std::string(map->l_name);
}

/// Loads the sub-libraries beside a libcudnn.so.9 with RTLD_GLOBAL, graph first, before the dispatcher:
/// it dlopens them by bare soname, and an already loaded object with that soname is what it then gets.
std::vector<void*> preload_sublibraries(const std::string& folder, std::vector<std::string>& failures) {
  std::vector<void*> handles;
  for (const char* name : kCudnnSublibraries) {
    const std::string path = folder + "/" + name;
    if (!is_file(path)) continue;
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
                  cat(path, " loaded but does not export cudnnGetVersion, so it is not cuDNN; resnet-cudnn needs cuDNN "
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
  std::string missing;
#define RESNET_RESOLVE(ret, name, params)                                             \
  library.api.name = reinterpret_cast<cudnn::PFN_##name>(dlsym(handle, #name));     \
  if (!library.api.name) missing += cat(missing.empty() ? "" : ", ", #name);
  RESNET_CUDNN_FUNCTIONS(RESNET_RESOLVE)
#undef RESNET_RESOLVE
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

struct Outcome {
  Status status;
  const CudnnLibrary* library = nullptr;
};

/// Tries candidates in order, skipping paths already tried. The first library that opens decides: loaded, or
/// rejected as not cuDNN 9 (the dynamic linker would take it too, so it is reported rather than skipped).
class Search {
 public:
  /// True when the search is over (`outcome` set).
  bool try_candidates(const std::vector<LoaderCandidate>& candidates) {
    for (const LoaderCandidate& candidate : candidates) {
      if (!tried_.insert(candidate.path).second) continue;
      if (try_one(candidate)) return true;
    }
    return false;
  }

  Outcome not_found(bool have_python) const {
    std::string tried;
    for (const std::string& line : failures_) tried += cat("  - ", line, "\n");
    return {Status(Code::kCudnnNotFound,
                   cat("cuDNN 9 (libcudnn.so.9) could not be loaded; the CUDA backend needs it. Tried, in order:\n",
                       tried,
                       have_python ? "  (python3 on PATH has no nvidia-cudnn package)\n"
                                   : "  (no python3 on PATH to ask for an nvidia-cudnn package)\n",
                       kFixes)),
            nullptr};
  }

  Outcome outcome;

 private:
  bool try_one(const LoaderCandidate& candidate) {
    const std::string& path = candidate.path;
    const std::string folder = folder_of(path);
    std::vector<std::string> preload_failures;
    std::vector<void*> preloaded;
    if (!folder.empty() && is_file(path)) preloaded = preload_sublibraries(folder, preload_failures);
    dlerror();
    // Global, as when linked or preloaded by PyTorch: the sub-libraries it loads later may look symbols up there.
    void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL);
    if (!handle) {
      std::string line = cat(candidate.source, ": ", path, ": ", last_dl_error(path));
      for (const std::string& failure : preload_failures) line += cat("; ", failure);
      failures_.push_back(line);
      // Unload this folder's sub-libraries, or a later candidate's dispatcher would be handed them.
      for (void* sublibrary : preloaded) dlclose(sublibrary);
      return false;
    }
    // From here on nothing is unloaded: a library that ran its initialisers stays for the process's life.
    auto library = std::make_unique<CudnnLibrary>();
    const std::string opened = opened_file(handle, path);
    Status status = resolve(handle, opened, *library);
    if (!status.ok()) {
      outcome = {std::move(status), nullptr};
      return true;
    }
    outcome = {Status(), library.release()};  // owned by the process, like the library itself
    return true;
  }

  std::set<std::string> tried_;
  std::vector<std::string> failures_;
};

Outcome load_once() {
  try {
    Search search;
    // python3 is started only when the cheap candidates fail: most machines never pay for it.
    LoaderEnvironment environment = loader_environment_without_python();
    if (search.try_candidates(cudnn_candidates(environment))) return search.outcome;
    environment.python_cudnn_dirs = python_cudnn_dirs();
    if (search.try_candidates(cudnn_candidates(environment))) return search.outcome;
    return search.not_found(!find_on_path("python3").empty());
  } catch (const std::bad_alloc&) {
    return {Status(Code::kOutOfMemory, "loading cuDNN: out of host memory"), nullptr};
  } catch (const std::exception& error) {
    return {Status(Code::kBackend, cat("loading cuDNN failed: ", error.what())), nullptr};
  }
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
  static std::once_flag once;
  static const Outcome* outcome = nullptr;
  try {
    std::call_once(once, [] { outcome = new Outcome(load_once()); });  // kept for the process, like the library
  } catch (const std::bad_alloc&) {
    return Status(Code::kOutOfMemory, "loading cuDNN: out of host memory");
  }
  if (!outcome->status.ok()) return outcome->status;
  return outcome->library;
}

}  // namespace cuda
}  // namespace resnet
