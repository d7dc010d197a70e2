// Where the loader looks for cuDNN: the candidate list (pure: a function of LoaderEnvironment and the file
// system) and the environment of this process (variables, python3's answer, common site-packages folders).
#include <glob.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <set>
#include <sstream>

#include "cuda/bounded_command.h"
#include "cuda/cudnn_loader.h"

namespace resnet {
namespace cuda {
namespace {

constexpr const char* kSoname = "libcudnn.so.9";

#if defined(__aarch64__)
constexpr const char* kCudaTargetLib = "targets/sbsa-linux/lib";
#else
constexpr const char* kCudaTargetLib = "targets/x86_64-linux/lib";
#endif

bool is_directory(const std::string& path) {
  struct stat info;
  return !path.empty() && stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode);
}

/// `path` with repeated slashes, "/./" and a trailing slash removed (the root stays "/").
std::string tidy(const std::string& path) {
  std::string out;
  for (size_t i = 0; i < path.size(); ++i) {
    if (path[i] == '/' && !out.empty() && out.back() == '/') continue;
    if (path[i] == '.' && !out.empty() && out.back() == '/' && (i + 1 == path.size() || path[i + 1] == '/')) {
      continue;  // a "." component
    }
    out += path[i];
  }
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

std::string join(const std::string& folder, const std::string& name) { return tidy(folder + "/" + name); }

/// The identity of a candidate for removing duplicates: its folder resolved (symbolic links, "..") when the
/// folder exists, so /usr/local/cuda and the /usr/local/cuda-13.0 it links to count once.
std::string identity(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return path;  // a bare soname
  const std::string folder = slash == 0 ? "/" : path.substr(0, slash);
  char resolved[PATH_MAX];
  if (realpath(folder.c_str(), resolved)) return tidy(std::string(resolved) + "/" + path.substr(slash + 1));
  return path;
}

std::string variable(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

/// The existing folders matching `pattern` (glob), sorted.
std::vector<std::string> matching_folders(const std::string& pattern) {
  std::vector<std::string> folders;
  glob_t matches{};
  if (glob(pattern.c_str(), GLOB_ONLYDIR | GLOB_NOSORT, nullptr, &matches) == 0) {
    for (size_t i = 0; i < matches.gl_pathc; ++i) {
      if (is_directory(matches.gl_pathv[i])) folders.push_back(tidy(matches.gl_pathv[i]));
    }
  }
  globfree(&matches);
  std::sort(folders.begin(), folders.end());
  return folders;
}

/// Asks python3 (when on PATH) where the nvidia.cudnn package is: find_spec locates it without running
/// any package code, and submodule_search_locations covers a namespace package spread over folders.
std::vector<std::string> ask_python() {
  const std::string python = find_on_path("python3");
  if (python.empty()) return {};
  static const char* const kScript =
      "import importlib.util, os\n"
      "try:\n"
      "    spec = importlib.util.find_spec('nvidia.cudnn')\n"
      "except Exception:\n"
      "    spec = None\n"
      "for folder in (spec.submodule_search_locations or []) if spec else []:\n"
      "    print(os.path.join(folder, 'lib'))\n";
  const BoundedOutput answer = run_bounded({python, "-c", kScript}, kPythonProbeSeconds * 1000, 64 * 1024);
  std::vector<std::string> folders;
  if (!answer.started || answer.timed_out || answer.truncated || answer.exit_status != 0) return folders;
  std::istringstream lines(answer.out);
  std::string line;
  while (std::getline(lines, line)) {
    if (!line.empty() && line[0] == '/' && is_directory(line)) folders.push_back(tidy(line));
  }
  return folders;
}

/// Common site-packages folders that may hold the nvidia-cudnn-cu12/cu13 wheels.
std::vector<std::string> site_packages_patterns() {
  std::vector<std::string> patterns;
  const std::string tail = "/nvidia/cudnn/lib";
  for (const char* prefix_variable : {"VIRTUAL_ENV", "CONDA_PREFIX"}) {
    const std::string prefix = variable(prefix_variable);
    if (!prefix.empty()) patterns.push_back(prefix + "/lib/python3*/site-packages" + tail);
  }
  const std::string home = variable("HOME");
  if (!home.empty()) patterns.push_back(home + "/.local/lib/python3*/site-packages" + tail);
  for (const char* pattern : {"/usr/local/lib/python3*/dist-packages", "/usr/local/lib/python3*/site-packages",
                              "/usr/lib/python3/dist-packages", "/usr/lib/python3*/site-packages",
                              "/opt/conda/lib/python3*/site-packages"}) {
    patterns.push_back(pattern + tail);
  }
  return patterns;
}

}  // namespace

const char* const kCudnnSublibraries[7] = {
    "libcudnn_graph.so.9",     "libcudnn_ops.so.9",
    "libcudnn_cnn.so.9",       "libcudnn_adv.so.9",
    "libcudnn_heuristic.so.9", "libcudnn_engines_precompiled.so.9",
    "libcudnn_engines_runtime_compiled.so.9",
};

std::vector<LoaderCandidate> cudnn_candidates(const LoaderEnvironment& environment) {
  std::vector<LoaderCandidate> candidates;
  std::set<std::string> seen;
  auto add = [&](const std::string& path, const std::string& source) {
    if (seen.insert(identity(path)).second) candidates.push_back({path, source});
  };
  if (!environment.cudnn_path.empty()) {
    const std::string named = tidy(environment.cudnn_path);
    add(is_directory(named) ? join(named, kSoname) : named, kCudnnPathVariable);
  }
  add(kSoname, "library path (LD_LIBRARY_PATH, ld.so.cache)");
  for (const std::string& home : environment.cuda_homes) {
    if (home.empty()) continue;
    for (const char* lib : {"lib64", "lib", kCudaTargetLib}) add(join(join(home, lib), kSoname), "CUDA install");
  }
  for (const std::string& folder : environment.python_cudnn_dirs) {
    if (!folder.empty()) add(join(folder, kSoname), "Python package nvidia-cudnn");
  }
  return candidates;
}

LoaderEnvironment loader_environment_without_python() {
  LoaderEnvironment environment;
  environment.cudnn_path = variable(kCudnnPathVariable);
  for (const char* name : {"CUDA_HOME", "CUDA_PATH"}) {
    const std::string value = variable(name);
    if (!value.empty()) environment.cuda_homes.push_back(value);
  }
  environment.cuda_homes.push_back("/usr/local/cuda");
  return environment;
}

std::vector<std::string> python_cudnn_dirs() {
  std::vector<std::string> folders;
  std::set<std::string> seen;
  auto add = [&](const std::string& folder) {
    if (seen.insert(identity(folder + "/")).second) folders.push_back(folder);
  };
  try {
    for (const std::string& folder : ask_python()) add(folder);
    for (const std::string& pattern : site_packages_patterns()) {
      for (const std::string& folder : matching_folders(pattern)) add(folder);
    }
  } catch (...) {
    // Only allocation can throw here; a probe that fails finds nothing, and the error lists the fixes.
  }
  return folders;
}

LoaderEnvironment current_loader_environment() {
  LoaderEnvironment environment = loader_environment_without_python();
  environment.python_cudnn_dirs = python_cudnn_dirs();
  return environment;
}

}  // namespace cuda
}  // namespace resnet
