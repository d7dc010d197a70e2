// Finds and loads cuDNN 9 at run time (dlopen), so the addon builds without it and a machine without it
// still loads the addon. Search order: an environment variable naming the library or its folder, the
// normal library path, the CUDA install, and the `nvidia/cudnn/lib` folder of an installed PyTorch (found
// through python3 when present). The search and the dlopen mechanics are shared with nvJPEG's loader
// (library_search.h, library_open.h); the candidate list is computed apart from loading, so it is tested
// without cuDNN.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "cuda/cudnn_api.h"
#include "cuda/library_search.h"
#include "status.h"

namespace resnet {
namespace cuda {

/// Environment variable naming libcudnn.so.9 itself or the folder holding it.
constexpr const char* kCudnnPathVariable = "RESNET_CUDNN_PATH";

/// cuDNN's search (library_search.h): libcudnn.so.9, RESNET_CUDNN_PATH, and the `nvidia/cudnn/lib` folder of
/// the nvidia-cudnn-cu12/cu13 wheels (python3's nvidia.cudnn package).
const LibrarySearchSpec& cudnn_search_spec();

/// The candidates for `environment`, in search order (library_candidates over cudnn_search_spec()).
std::vector<LoaderCandidate> cudnn_candidates(const LoaderEnvironment& environment);

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
  std::string path;    // the file that loaded
  size_t version = 0;  // cudnnGetVersion(): major·10000 + minor·100 + patch for cuDNN 9
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
