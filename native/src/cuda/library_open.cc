#include "cuda/library_open.h"

#include <dlfcn.h>
#include <limits.h>
#include <link.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "status.h"

namespace resnet {
namespace cuda {
namespace {

/// The file the dynamic linker actually opened for `handle` (a bare soname resolves to a path).
std::string opened_file(void* handle, const std::string& fallback) {
  link_map* map = nullptr;
  if (dlinfo(handle, RTLD_DI_LINKMAP, &map) != 0 || !map || !map->l_name || !*map->l_name) return fallback;
  char resolved[PATH_MAX];
  return realpath(map->l_name, resolved) ? std::string(resolved) : std::string(map->l_name);
}

}  // namespace

bool is_regular_file(const std::string& path) {
  struct stat info;
  return stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode);
}

std::string folder_of(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return "";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string last_dl_error(const std::string& path) {
  const char* error = dlerror();
  std::string text = error ? error : "unknown dlopen failure";
  // dlopen's message starts with the path, which the caller prints already.
  if (text.compare(0, path.size() + 2, path + ": ") == 0) text.erase(0, path.size() + 2);
  return text;
}

bool LibraryOpener::open_first(const std::vector<LoaderCandidate>& candidates, OpenedLibrary& opened) {
  for (const LoaderCandidate& candidate : candidates) {
    const std::string& path = candidate.path;
    if (!tried_paths_.insert(path).second) continue;
    const std::string folder = folder_of(path);
    std::vector<std::string> preload_failures;
    std::vector<void*> preloaded;
    if (preload_ && !folder.empty() && is_regular_file(path)) preloaded = preload_(folder, preload_failures);
    dlerror();
    void* handle = dlopen(path.c_str(), flags_);
    if (!handle) {
      std::string line = cat(candidate.source, ": ", path, ": ", last_dl_error(path));
      for (const std::string& failure : preload_failures) line += cat("; ", failure);
      failures_.push_back(line);
      // Unload what was preloaded for this folder, or a later candidate would be handed it.
      for (void* library : preloaded) dlclose(library);
      continue;
    }
    opened = {handle, opened_file(handle, path)};
    return true;
  }
  return false;
}

std::string LibraryOpener::tried() const {
  std::string lines;
  for (const std::string& line : failures_) lines += cat("  - ", line, "\n");
  return lines;
}

std::string resolve_symbols(void* handle, const std::vector<SymbolSlot>& slots) {
  std::string missing;
  for (const SymbolSlot& slot : slots) {
    void* address = dlsym(handle, slot.name);
    if (address) {
      slot.store(address);
    } else {
      missing += cat(missing.empty() ? "" : ", ", slot.name);
    }
  }
  return missing;
}

}  // namespace cuda
}  // namespace resnet
