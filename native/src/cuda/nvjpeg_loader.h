// Finds and loads nvJPEG at run time (dlopen), the sibling of cudnn_loader.h: the same search (library_search.h)
// and dlopen mechanics (library_open.h) with nvJPEG's own names. Search order: RESNET_NVJPEG_PATH (the library
// or its folder), libnvjpeg.so.13 then .12 on the library path, the CUDA install, and the wheels PyTorch
// installs: nvidia-nvjpeg-cu12 keeps libnvjpeg.so.12 in site-packages/nvidia/nvjpeg/lib, CUDA 13's
// nvidia-nvjpeg keeps libnvjpeg.so.13 in site-packages/nvidia/cu13/lib (NVIDIA/cuda-python's pathfinder,
// cuda_pathfinder/cuda/pathfinder/_dynamic_libs/supported_nvidia_libs.py, lists both). Missing nvJPEG is
// never an error for inference: the server decodes on the CPU and info() says why.
#pragma once

#include <string>
#include <vector>

#include "cuda/library_search.h"
#include "cuda/nvjpeg_api.h"
#include "status.h"

namespace resnet {
namespace cuda {

/// Environment variable naming libnvjpeg.so.13 / .12 itself or the folder holding it.
constexpr const char* kNvjpegPathVariable = "RESNET_NVJPEG_PATH";

/// nvJPEG's search: libnvjpeg.so.13 before libnvjpeg.so.12 (this addon's CUDA runtime is 13; a CUDA 12 driver
/// has only the .12 one working), RESNET_NVJPEG_PATH, python3's nvidia.cu13 and nvidia.nvjpeg packages.
const LibrarySearchSpec& nvjpeg_search_spec();

/// The candidates for `environment`, in search order (library_candidates over nvjpeg_search_spec()).
std::vector<LoaderCandidate> nvjpeg_candidates(const LoaderEnvironment& environment);

/// The names of the functions every loaded nvJPEG must export (RESNET_NVJPEG_FUNCTIONS, in order).
std::vector<std::string> nvjpeg_function_names();

/// NVJPEG_STATUS_SUCCESS, … for every nvjpegStatus_t value; "NVJPEG_STATUS_UNKNOWN" for anything else.
const char* nvjpeg_status_name(nvjpeg::nvjpegStatus_t status);

/// A loaded nvJPEG: every function of nvjpeg_api.h resolved, and where it came from.
struct NvjpegLibrary {
  NvjpegApi api;
  std::string path;                     // the file that loaded
  int major = 0, minor = 0, patch = 0;  // nvjpegGetProperty
};

/// The nvJPEG major versions whose API nvjpeg_api.h declares.
constexpr int kNvjpegMajorMin = 12;
constexpr int kNvjpegMajorMax = 13;

/// Loads nvJPEG once per process and keeps it loaded; later calls return the same library or the same
/// failure: kNvjpegNotFound (every candidate tried, each with its dlopen message, and what to do) or
/// kNvjpegVersion (not nvJPEG, a major version other than 12 or 13, or a function missing). The first
/// candidate that dlopens decides, as it would for the dynamic linker. python3 is asked only when the other
/// candidates fail, which can take up to kPythonProbeSeconds: call it off the JS thread.
Result<const NvjpegLibrary*> load_nvjpeg();

/// The Status for a failed nvJPEG call: "`what` failed: NVJPEG_STATUS_… (code)", then what it means. The
/// code says what kind of failure it was: ALLOCATOR_FAILURE → kGpuOutOfMemory; BAD_JPEG and
/// INCOMPLETE_BITSTREAM → kInvalidFile (the image, not the library); JPEG_NOT_SUPPORTED,
/// IMPLEMENTATION_NOT_SUPPORTED and ARCH_MISMATCH → kUnsupported (decode that image on the CPU); the rest
/// kBackend.
Status nvjpeg_error(nvjpeg::nvjpegStatus_t status, const std::string& what);

}  // namespace cuda
}  // namespace resnet
