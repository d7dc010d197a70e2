// Where the run-time loaders (cuDNN: cudnn_loader.h, nvJPEG: nvjpeg_loader.h) look for the NVIDIA library
// they dlopen, shared by both: what the machine offers (LoaderEnvironment: an environment variable, the CUDA
// homes, the library folders of installed Python packages) is gathered apart from the search decision (the
// candidate list, a pure function of a LibrarySearchSpec, the environment and the file system), so that the
// decision is tested without any library installed.
#pragma once

#include <string>
#include <vector>

namespace resnet {
namespace cuda {

/// What a search looks at, gathered from the process (or made up by tests).
struct LoaderEnvironment {
  std::string named_path;                // the library's own variable (RESNET_CUDNN_PATH, …), "" when unset
  std::vector<std::string> cuda_homes;   // CUDA_HOME / CUDA_PATH values, then /usr/local/cuda
  std::vector<std::string> python_dirs;  // library folders of installed Python packages (nvidia/cudnn/lib, …)
};

/// One place to try, in order, and why it is on the list: the spec's path variable, "library path
/// (LD_LIBRARY_PATH, ld.so.cache)", "CUDA install" (lib64, lib and targets/<arch>/lib of each CUDA home), the
/// spec's Python source. Each library appears once (folders compared after resolving symbolic links).
struct LoaderCandidate {
  std::string path;  // a file path, or a bare soname for the dynamic linker's own search
  std::string source;
};

/// One library's search: its file names and where each kind of place keeps it.
struct LibrarySearchSpec {
  /// The environment variable naming the library itself or the folder holding it.
  const char* path_variable = "";
  /// Tried in this order in every folder (and on the library path): libnvjpeg.so.13 before libnvjpeg.so.12.
  std::vector<std::string> sonames;
  /// Python modules whose folders' `lib/` holds the library (python3 is asked with importlib's find_spec,
  /// which runs no package code): "nvidia.cudnn"; "nvidia.cu13", "nvidia.nvjpeg".
  std::vector<std::string> python_modules;
  /// The same folders relative to a site-packages folder, matched in common locations: "nvidia/cudnn/lib".
  std::vector<std::string> site_packages_tails;
  /// How a Python package folder is named in the candidate list: "Python package nvidia-cudnn".
  std::string python_source;
};

/// The candidates for `environment`, in search order: the path variable (a folder means each soname in it,
/// anything else is taken as a file), each soname on the library path, each CUDA home's lib64, lib and
/// targets/<arch>/lib, each Python folder; every library once.
std::vector<LoaderCandidate> library_candidates(const LibrarySearchSpec& spec, const LoaderEnvironment& environment);

/// The environment variables' part of the environment (python_dirs left empty): cheap, starts no process.
/// The loaders try these candidates before they ask python3.
LoaderEnvironment loader_environment_without_python(const LibrarySearchSpec& spec);

/// How long python3 may take to say where its packages are before it is killed.
constexpr int kPythonProbeSeconds = 10;

/// The existing library folders of the spec's Python packages: python3's answer (only when python3 is on
/// PATH; time- and output-limited; a namespace package may have several folders), then the site-packages
/// tails matched in common locations (virtualenv, conda, ~/.local, /usr/…). No duplicates. Never throws.
std::vector<std::string> python_library_dirs(const LibrarySearchSpec& spec);

/// loader_environment_without_python() plus python_library_dirs() (runs python3, up to kPythonProbeSeconds).
LoaderEnvironment current_loader_environment(const LibrarySearchSpec& spec);

}  // namespace cuda
}  // namespace resnet
