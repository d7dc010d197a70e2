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

/// One place to try, in order, and why it is on the list: "RESNET_CUDNN_PATH", "library path (LD_LIBRARY_PATH,
/// ld.so.cache)", "CUDA install" (lib64, lib and targets/<arch>/lib of each CUDA home), "Python package
/// nvidia-cudnn". Each library appears once (folders compared after resolving symbolic links).
struct LoaderCandidate {
  std::string path;    // a file path, or a bare soname for the dynamic linker's own search
  std::string source;
};

/// The candidates for `environment`, in search order.
std::vector<LoaderCandidate> cudnn_candidates(const LoaderEnvironment& environment);

/// The environment of this process (runs python3 with a time limit to find PyTorch's cuDNN). Never throws,
/// never waits longer than kPythonProbeSeconds on python3.
LoaderEnvironment current_loader_environment();

/// The environment variables' part of current_loader_environment() (python_cudnn_dirs left empty): cheap,
/// starts no process. The loader tries these candidates before it asks python3.
LoaderEnvironment loader_environment_without_python();

/// How long python3 may take to say where its nvidia-cudnn package is before it is killed.
constexpr int kPythonProbeSeconds = 10;

/// The existing nvidia/cudnn/lib folders of installed Python packages: python3's answer (only when python3
/// is on PATH; time- and output-limited; nvidia.cudnn may be a namespace package with several folders),
/// then those matched in common site-packages locations (virtualenv, conda, ~/.local, /usr/…). No duplicates.
std::vector<std::string> python_cudnn_dirs();

/// cuDNN 9's sub-libraries, which its dispatcher libcudnn.so.9 dlopens by bare soname: the loader preloads
/// the ones beside a libcudnn.so.9 it loads from a folder, so that a foreign copy elsewhere on the library
/// path is never picked (CUDNN_STATUS_SUBLIBRARY_VERSION_MISMATCH). In load order (graph first: the others
/// depend on it).
extern const char* const kCudnnSublibraries[7];

/// The names of the functions every loaded cuDNN must export (RESNET_CUDNN_FUNCTIONS, in order).
std::vector<std::string> cudnn_function_names();

/// CUDNN_STATUS_SUCCESS, CUDNN_STATUS_BAD_PARAM, … for every cudnnStatus_t value of cuDNN 9 (the deprecated
/// aliases by their current names); "CUDNN_STATUS_UNKNOWN" for anything else.
const char* cudnn_status_name(cudnn::cudnnStatus_t status);

/// A loaded cuDNN: every function of cudnn_api.h resolved, and where it came from.
struct CudnnLibrary {
  CudnnApi api;
  std::string path;     // the file that loaded
  size_t version = 0;   // cudnnGetVersion(): major·10000 + minor·100 + patch for cuDNN 9
};

/// Loads cuDNN once per process and keeps it loaded; later calls return the same library or the same
/// failure: kCudnnNotFound (every candidate tried, each with its dlopen message, and what to do) or
/// kCudnnVersion (a major version other than 9, or a symbol missing). The first candidate that dlopens
/// decides, as it would for the dynamic linker: a wrong library is reported, not skipped. python3 is asked
/// only when the other candidates fail, which can take up to kPythonProbeSeconds: call it off the JS thread.
Result<const CudnnLibrary*> load_cudnn();

/// The Status for a failed cuDNN call: "`what` failed: CUDNN_STATUS_… (code): <cudnnGetErrorString>; <last
/// error string>", then what to do. Allocation failures (4003, 4004) map to kGpuOutOfMemory, NOT_SUPPORTED*
/// (3000–3999) to kUnsupported, mismatched sub-libraries (1002) to kCudnnVersion, a sub-library that could
/// not be loaded (1008) to kCudnnNotFound, the rest to kBackend. Null members of `api` are skipped.
Status cudnn_error(const CudnnApi& api, cudnn::cudnnStatus_t status, const std::string& what);

}  // namespace cuda
}  // namespace resnet
