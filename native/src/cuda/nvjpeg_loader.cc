// load_nvjpeg: dlopen libnvjpeg from the first candidate that opens, check that it is nvJPEG 12 or 13 and
// resolve every function of nvjpeg_api.h. Once per process; the library stays loaded. Also the status names
// and the mapping of a failed call onto a Status.
#include "cuda/nvjpeg_loader.h"

#include <dlfcn.h>

#include "cuda/library_open.h"

namespace resnet {
namespace cuda {
namespace {

constexpr const char* kFixes =
    "Fixes (any one), or nothing: images are then decoded on the CPU:\n"
    "  - pip install nvidia-nvjpeg (CUDA 13, into nvidia/cu13/lib) or nvidia-nvjpeg-cu12 (CUDA 12 driver, into "
    "nvidia/nvjpeg/lib) for the python3 on PATH; PyTorch installs one of them\n"
    "  - point RESNET_NVJPEG_PATH at libnvjpeg.so.13 (or .12) or at the folder that holds it\n"
    "  - install the CUDA toolkit's nvJPEG: apt-get install libnvjpeg-13-0 (or libnvjpeg-12-x) from NVIDIA's CUDA "
    "repository";

std::string version_text(const NvjpegLibrary& library) {
  return cat(library.major, ".", library.minor, ".", library.patch);
}

/// Checks the version and resolves every function; kNvjpegVersion when it is not a complete nvJPEG 12 or 13.
Status resolve(void* handle, const std::string& path, NvjpegLibrary& library) {
  const auto get_property = reinterpret_cast<nvjpeg::PFN_nvjpegGetProperty>(dlsym(handle, "nvjpegGetProperty"));
  if (!get_property) {
    return Status(Code::kNvjpegVersion,
                  cat(path, " loaded but does not export nvjpegGetProperty, so it is not nvJPEG. Point ",
                      kNvjpegPathVariable, " at libnvjpeg.so.13 or .12 (or unset it to search).\n", kFixes));
  }
  if (get_property(nvjpeg::MAJOR_VERSION, &library.major) != nvjpeg::NVJPEG_STATUS_SUCCESS ||
      get_property(nvjpeg::MINOR_VERSION, &library.minor) != nvjpeg::NVJPEG_STATUS_SUCCESS ||
      get_property(nvjpeg::PATCH_LEVEL, &library.patch) != nvjpeg::NVJPEG_STATUS_SUCCESS) {
    return Status(Code::kNvjpegVersion, cat("nvjpegGetProperty of ", path, " failed, so its version is unknown. Point ",
                                            kNvjpegPathVariable, " at another nvJPEG.\n", kFixes));
  }
  if (library.major < kNvjpegMajorMin || library.major > kNvjpegMajorMax) {
    return Status(Code::kNvjpegVersion,
                  cat("found nvJPEG ", version_text(library), " at ", path, ", but resnet-cudnn calls nvJPEG ",
                      kNvjpegMajorMin, ".x or ", kNvjpegMajorMax, ".x. Point ", kNvjpegPathVariable,
                      " at one (or unset it to search the usual places).\n", kFixes));
  }
  const std::vector<SymbolSlot> slots = {
#define RESNET_SLOT(ret, name, params) \
  {#name, [&library](void* address) { library.api.name = reinterpret_cast<nvjpeg::PFN_##name>(address); }},
      RESNET_NVJPEG_FUNCTIONS(RESNET_SLOT)
#undef RESNET_SLOT
  };
  const std::string missing = resolve_symbols(handle, slots);
  if (!missing.empty()) {
    return Status(Code::kNvjpegVersion,
                  cat("nvJPEG ", version_text(library), " at ", path, " does not export ", missing,
                      ", which resnet-cudnn calls: it is an incomplete or altered nvJPEG. Install a complete one and "
                      "point ",
                      kNvjpegPathVariable, " at it.\n", kFixes));
  }
  library.path = path;
  return Status();
}

Status not_found(const std::string& tried, bool have_python) {
  return Status(Code::kNvjpegNotFound,
                cat("nvJPEG (libnvjpeg.so.13 or libnvjpeg.so.12) could not be loaded. Tried, in order:\n", tried,
                    have_python ? "  (python3 on PATH has no nvidia-nvjpeg package)\n"
                                : "  (no python3 on PATH to ask for an nvidia-nvjpeg package)\n",
                    kFixes));
}

Code code_for(nvjpeg::nvjpegStatus_t status) {
  switch (status) {
    case nvjpeg::NVJPEG_STATUS_ALLOCATOR_FAILURE: return Code::kGpuOutOfMemory;
    case nvjpeg::NVJPEG_STATUS_BAD_JPEG:
    case nvjpeg::NVJPEG_STATUS_INCOMPLETE_BITSTREAM: return Code::kInvalidFile;
    case nvjpeg::NVJPEG_STATUS_JPEG_NOT_SUPPORTED:
    case nvjpeg::NVJPEG_STATUS_IMPLEMENTATION_NOT_SUPPORTED:
    case nvjpeg::NVJPEG_STATUS_ARCH_MISMATCH: return Code::kUnsupported;
    default: return Code::kBackend;
  }
}

/// What `status` means for the caller, from nvJPEG's documentation of the return codes.
const char* meaning_of(nvjpeg::nvjpegStatus_t status) {
  switch (status) {
    case nvjpeg::NVJPEG_STATUS_BAD_JPEG: return "the JPEG stream is corrupt";
    case nvjpeg::NVJPEG_STATUS_INCOMPLETE_BITSTREAM: return "the JPEG stream is truncated";
    case nvjpeg::NVJPEG_STATUS_JPEG_NOT_SUPPORTED:
      return "nvJPEG does not decode this kind of JPEG; decode it on the CPU";
    case nvjpeg::NVJPEG_STATUS_IMPLEMENTATION_NOT_SUPPORTED:
      return "this nvJPEG backend does not support the call; decode on the CPU";
    case nvjpeg::NVJPEG_STATUS_ARCH_MISMATCH: return "this GPU does not support the requested backend";
    case nvjpeg::NVJPEG_STATUS_ALLOCATOR_FAILURE:
      return "GPU or pinned host memory ran out; decode fewer images at once or free the GPU from other processes";
    case nvjpeg::NVJPEG_STATUS_EXECUTION_FAILED:
      return "the GPU failed while decoding; if it persists, restart the process";
    case nvjpeg::NVJPEG_STATUS_NOT_INITIALIZED:
    case nvjpeg::NVJPEG_STATUS_INVALID_PARAMETER:
      return "resnet-cudnn called nvJPEG wrongly; please report it with the image";
    default: return "";
  }
}

}  // namespace

const LibrarySearchSpec& nvjpeg_search_spec() {
  static const LibrarySearchSpec* spec = new LibrarySearchSpec{kNvjpegPathVariable,
                                                               {"libnvjpeg.so.13", "libnvjpeg.so.12"},
                                                               {"nvidia.cu13", "nvidia.nvjpeg"},
                                                               {"nvidia/cu13/lib", "nvidia/nvjpeg/lib"},
                                                               "Python package nvidia-nvjpeg"};
  return *spec;
}

std::vector<LoaderCandidate> nvjpeg_candidates(const LoaderEnvironment& environment) {
  return library_candidates(nvjpeg_search_spec(), environment);
}

std::vector<std::string> nvjpeg_function_names() {
  return {
#define RESNET_FUNCTION_NAME(ret, name, params) #name,
      RESNET_NVJPEG_FUNCTIONS(RESNET_FUNCTION_NAME)
#undef RESNET_FUNCTION_NAME
  };
}

const char* nvjpeg_status_name(nvjpeg::nvjpegStatus_t status) {
  switch (status) {
#define RESNET_STATUS_CASE(name, value) \
  case nvjpeg::name: return #name;
    RESNET_NVJPEG_STATUS_VALUES(RESNET_STATUS_CASE)
#undef RESNET_STATUS_CASE
  }
  return "NVJPEG_STATUS_UNKNOWN";
}

Status nvjpeg_error(nvjpeg::nvjpegStatus_t status, const std::string& what) {
  std::string message = cat(what, " failed: ", nvjpeg_status_name(status), " (", static_cast<int>(status), ")");
  const char* meaning = meaning_of(status);
  if (*meaning) message += cat(": ", meaning);
  return Status(code_for(status), message);
}

Result<const NvjpegLibrary*> load_nvjpeg() {
  // Local: nothing else needs nvJPEG's symbols, and a PyTorch in the same process may bring its own.
  static const LibraryLoad<NvjpegLibrary> kLoad{"nvJPEG", nvjpeg_search_spec, RTLD_NOW | RTLD_LOCAL, nullptr,
                                                resolve,  not_found};
  return load_once_per_process(kLoad);
}

}  // namespace cuda
}  // namespace resnet
