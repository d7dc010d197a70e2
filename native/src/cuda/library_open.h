// The dlopen half of the run-time loaders (cuDNN, nvJPEG), shared by both: try the candidates of
// library_search.h in order and keep every failure's message for the error, then resolve a function table
// through dlsym and name what is missing. What is specific to a library (its version check, cuDNN's
// sub-libraries) stays in its own loader.
#pragma once

#include <functional>
#include <set>
#include <string>
#include <vector>

#include "cuda/library_search.h"

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

}  // namespace cuda
}  // namespace resnet
