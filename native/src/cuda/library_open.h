// The dlopen half of the run-time loaders (cuDNN, nvJPEG), shared by both: try the candidates of
// library_search.h in order and keep every failure's message for the error, then resolve a function table
// through dlsym and name what is missing. What is specific to a library (its version check, cuDNN's
// sub-libraries) stays in its own loader.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <new>
#include <set>
#include <string>
#include <vector>

#include "cuda/bounded_command.h"
#include "cuda/library_search.h"
#include "status.h"

namespace resnet {
namespace cuda {

/// A library that dlopen accepted: the handle and the file the dynamic linker actually opened (a bare soname
/// resolved to its path).
struct OpenedLibrary {
  void* handle = nullptr;
  std::string path;
};

/// Tries candidates in order, skipping paths already tried across calls. The first library that opens is
/// the answer, as it would be for the dynamic linker: a wrong library is then reported by the caller, not
/// skipped. Failures are kept, one line each, for the "not found" message.
class LibraryOpener {
 public:
  /// Called with a candidate's folder before the candidate is opened (cuDNN preloads its sub-libraries from
  /// there); returns what it loaded, which is unloaded again if the candidate then fails to open, and adds
  /// its own failures to the candidate's line.
  using Preload = std::function<std::vector<void*>(const std::string& folder, std::vector<std::string>& failures)>;

  /// `flags` for dlopen (RTLD_NOW | RTLD_GLOBAL or RTLD_LOCAL).
  explicit LibraryOpener(int flags, Preload preload = nullptr) : flags_(flags), preload_(std::move(preload)) {}

  /// True when a candidate opened (`opened` set). From then on nothing is unloaded: a library that ran its
  /// initialisers stays for the process's life.
  bool open_first(const std::vector<LoaderCandidate>& candidates, OpenedLibrary& opened);

  /// "  - <source>: <path>: <dlopen's message>\n" per failed candidate, in the order tried.
  std::string tried() const;

 private:
  int flags_;
  Preload preload_;
  std::set<std::string> tried_paths_;
  std::vector<std::string> failures_;
};

/// One function to resolve: its exported name and where to store it.
struct SymbolSlot {
  const char* name;
  std::function<void(void*)> store;
};

/// Resolves every slot through dlsym(handle, name); returns the names of the missing ones, ", "-separated
/// ("" when all were found).
std::string resolve_symbols(void* handle, const std::vector<SymbolSlot>& slots);

/// Whether `path` names a regular file.
bool is_regular_file(const std::string& path);

/// The folder of `path` ("" for a bare name).
std::string folder_of(const std::string& path);

/// dlerror()'s message for a failed dlopen of `path`, without the path it starts with.
std::string last_dl_error(const std::string& path);

/// How one library is loaded, for load_library.
template <typename Library>
struct LibraryLoad {
  const char* name;  // "cuDNN", "nvJPEG", in the messages of unexpected failures
  const LibrarySearchSpec& (*spec)();
  int flags;  // for dlopen
  LibraryOpener::Preload preload;
  /// Checks the opened library (its version) and fills `library` (its functions); a failure is reported rather
  /// than skipped, as the dynamic linker would take that library too.
  Status (*resolve)(void* handle, const std::string& path, Library& library);
  /// The Status when no candidate opened: `tried` lists each failure, `have_python` whether python3 was on PATH.
  Status (*not_found)(const std::string& tried, bool have_python);
};

/// What loading gave: a library (owned by the process, like the loaded code) or the Status saying why not.
template <typename Library>
struct LoadOutcome {
  Status status;
  const Library* library = nullptr;
};

/// Searches, opens and resolves: the candidates of the environment variables first, python3's folders only when
/// those all fail (most machines never start python3). Never throws.
template <typename Library>
LoadOutcome<Library> load_library(const LibraryLoad<Library>& load) {
  try {
    LibraryOpener opener(load.flags, load.preload);
    OpenedLibrary opened;
    const LibrarySearchSpec& spec = load.spec();
    LoaderEnvironment environment = loader_environment_without_python(spec);
    bool found = opener.open_first(library_candidates(spec, environment), opened);
    if (!found) {
      environment.python_dirs = python_library_dirs(spec);
      found = opener.open_first(library_candidates(spec, environment), opened);
    }
    if (!found) return {load.not_found(opener.tried(), !find_on_path("python3").empty()), nullptr};
    auto library = std::make_unique<Library>();
    Status status = load.resolve(opened.handle, opened.path, *library);
    if (!status.ok()) return {std::move(status), nullptr};
    return {Status(), library.release()};
  } catch (const std::bad_alloc&) {
    return {Status(Code::kOutOfMemory, cat("loading ", load.name, ": out of host memory")), nullptr};
  } catch (const std::exception& error) {
    return {Status(Code::kBackend, cat("loading ", load.name, " failed: ", error.what())), nullptr};
  }
}

/// load_library once per process per Library type; later calls return the same library or the same failure.
template <typename Library>
Result<const Library*> load_once_per_process(const LibraryLoad<Library>& load) {
  static std::once_flag once;
  static const LoadOutcome<Library>* outcome = nullptr;
  try {
    // Kept for the process, like the library itself.
    std::call_once(once, [&load] { outcome = new LoadOutcome<Library>(load_library(load)); });
  } catch (const std::bad_alloc&) {
    return Status(Code::kOutOfMemory, cat("loading ", load.name, ": out of host memory"));
  }
  if (!outcome->status.ok()) return outcome->status;
  return outcome->library;
}

}  // namespace cuda
}  // namespace resnet
