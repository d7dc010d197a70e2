// The candidate list (pure: a function of the spec, the environment and the file system) and the environment
// of this process (variables, python3's answer, common site-packages folders), for every run-time loader.
#include "cuda/library_search.h"

#include <glob.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <set>
#include <sstream>

#include "cuda/bounded_command.h"

namespace resnet {
namespace cuda {
namespace {

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

/// Asks python3 (when on PATH) where the spec's modules are: find_spec locates each without running any
/// package code, and submodule_search_locations covers a namespace package spread over folders. The module
/// names travel as arguments, never inside the script.
std::vector<std::string> ask_python(const LibrarySearchSpec& spec) {
  const std::string python = find_on_path("python3");
  if (python.empty() || spec.python_modules.empty()) return {};
  static const char* const kScript =
      "import importlib.util, os, sys\n"
      "for name in sys.argv[1:]:\n"
      "    try:\n"
      "        spec = importlib.util.find_spec(name)\n"
      "    except Exception:\n"
      "        spec = None\n"
      "    for folder in (spec.submodule_search_locations or []) if spec else []:\n"
      "        print(os.path.join(folder, 'lib'))\n";
  std::vector<std::string> argv = {python, "-c", kScript};
  argv.insert(argv.end(), spec.python_modules.begin(), spec.python_modules.end());
  const BoundedOutput answer = run_bounded(argv, kPythonProbeSeconds * 1000, 64 * 1024);
  std::vector<std::string> folders;
  if (!answer.started || answer.timed_out || answer.truncated || answer.exit_status != 0) return folders;
  std::istringstream lines(answer.out);
  std::string line;
  while (std::getline(lines, line)) {
    if (!line.empty() && line[0] == '/' && is_directory(line)) folders.push_back(tidy(line));
  }
  return folders;
}

/// Common site-packages folders that may hold the spec's wheels.
std::vector<std::string> site_packages_patterns(const LibrarySearchSpec& spec) {
  std::vector<std::string> prefixes;
  for (const char* prefix_variable : {"VIRTUAL_ENV", "CONDA_PREFIX"}) {
    const std::string prefix = variable(prefix_variable);
    if (!prefix.empty()) prefixes.push_back(prefix + "/lib/python3*/site-packages");
  }
  const std::string home = variable("HOME");
  if (!home.empty()) prefixes.push_back(home + "/.local/lib/python3*/site-packages");
  for (const char* prefix :
       {"/usr/local/lib/python3*/dist-packages", "/usr/local/lib/python3*/site-packages",
        "/usr/lib/python3/dist-packages", "/usr/lib/python3*/site-packages", "/opt/conda/lib/python3*/site-packages"}) {
    prefixes.push_back(prefix);
  }
  std::vector<std::string> patterns;
  for (const std::string& prefix : prefixes) {
    for (const std::string& tail : spec.site_packages_tails) patterns.push_back(prefix + "/" + tail);
  }
  return patterns;
}

}  // namespace

std::vector<LoaderCandidate> library_candidates(const LibrarySearchSpec& spec, const LoaderEnvironment& environment) {
  std::vector<LoaderCandidate> candidates;
  std::set<std::string> seen;
  auto add = [&](const std::string& path, const std::string& source) {
    if (seen.insert(identity(path)).second) candidates.push_back({path, source});
  };
  auto add_folder = [&](const std::string& folder, const std::string& source) {
    for (const std::string& soname : spec.sonames) add(join(folder, soname), source);
  };
  if (!environment.named_path.empty()) {
    const std::string named = tidy(environment.named_path);
    if (is_directory(named)) {
      add_folder(named, spec.path_variable);
    } else {
      add(named, spec.path_variable);
    }
  }
  for (const std::string& soname : spec.sonames) add(soname, "library path (LD_LIBRARY_PATH, ld.so.cache)");
  for (const std::string& home : environment.cuda_homes) {
    if (home.empty()) continue;
    for (const char* lib : {"lib64", "lib", kCudaTargetLib}) add_folder(join(home, lib), "CUDA install");
  }
  for (const std::string& folder : environment.python_dirs) {
    if (!folder.empty()) add_folder(folder, spec.python_source);
  }
  return candidates;
}

LoaderEnvironment loader_environment_without_python(const LibrarySearchSpec& spec) {
  LoaderEnvironment environment;
  environment.named_path = variable(spec.path_variable);
  for (const char* name : {"CUDA_HOME", "CUDA_PATH"}) {
    const std::string value = variable(name);
    if (!value.empty()) environment.cuda_homes.push_back(value);
  }
  environment.cuda_homes.push_back("/usr/local/cuda");
  return environment;
}

std::vector<std::string> python_library_dirs(const LibrarySearchSpec& spec) {
  std::vector<std::string> folders;
  std::set<std::string> seen;
  auto add = [&](const std::string& folder) {
    if (seen.insert(identity(folder + "/")).second) folders.push_back(folder);
  };
  try {
    for (const std::string& folder : ask_python(spec)) add(folder);
    for (const std::string& pattern : site_packages_patterns(spec)) {
      for (const std::string& folder : matching_folders(pattern)) add(folder);
    }
  } catch (...) {
    // Only allocation can throw here; a probe that fails finds nothing, and the error lists the fixes.
  }
  return folders;
}

LoaderEnvironment current_loader_environment(const LibrarySearchSpec& spec) {
  LoaderEnvironment environment = loader_environment_without_python(spec);
  environment.python_dirs = python_library_dirs(spec);
  return environment;
}

}  // namespace cuda
}  // namespace resnet
