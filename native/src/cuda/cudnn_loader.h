// Finds and loads cuDNN 9 at run time (dlopen), so the addon builds without it and a machine without it
// still loads the addon. Search order: an environment variable naming the library or its folder, the
// normal library path, the CUDA install, and the `nvidia/cudnn/lib` folder of an installed PyTorch (found
// through python3 when present). The candidate list is computed apart from loading, so it is tested
// without cuDNN.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "cuda/cudnn_api.h"
#include "status.h"

namespace resnet {
namespace cuda {

/// Environment variable naming libcudnn.so.9 itself or the folder holding it.
constexpr const char* kCudnnPathVariable = "RESNET_CUDNN_PATH";

/// What the search looks at, gathered from the process (or made up by tests).
struct LoaderEnvironment {
  std::string cudnn_path;                 // value of RESNET_CUDNN_PATH, "" when unset
  std::vector<std::string> cuda_homes;    // CUDA_HOME / CUDA_PATH values, then /usr/local/cuda
  std::vector<std::string> python_cudnn_dirs;  // nvidia/cudnn/lib folders of installed Python packages
};

/// One place to try, in order, and why it is on the list ("RESNET_CUDNN_PATH", "library path", …).
struct LoaderCandidate {
  std::string path;    // a file path, or a bare soname for the dynamic linker's own search
  std::string source;
};

/// The candidates for `environment`, in search order.
std::vector<LoaderCandidate> cudnn_candidates(const LoaderEnvironment& environment);

/// The environment of this process (runs python3 with a time limit, once, to find PyTorch's cuDNN).
LoaderEnvironment current_loader_environment();

/// A loaded cuDNN: every function of cudnn_api.h resolved, and where it came from.
struct CudnnLibrary {
  CudnnApi api;
  std::string path;     // the file that loaded
  size_t version = 0;   // cudnnGetVersion(): major·10000 + minor·100 + patch for cuDNN 9
};

/// Loads cuDNN once per process and keeps it loaded; later calls return the same library or the same
/// failure: kCudnnNotFound (every candidate tried, each with its dlopen message, and what to do) or
/// kCudnnVersion (a major version other than 9, or a symbol missing).
Result<const CudnnLibrary*> load_cudnn();

/// The Status for a failed cuDNN call: `what` failed, cuDNN's name and text for `status` (and its last error
/// message). Allocation failures map to kGpuOutOfMemory, NOT_SUPPORTED* to kUnsupported, the rest to kBackend.
Status cudnn_error(const CudnnApi& api, cudnn::cudnnStatus_t status, const std::string& what);

}  // namespace cuda
}  // namespace resnet
