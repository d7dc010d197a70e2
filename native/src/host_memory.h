// Host memory that runs read in place, without the staging copy a plain JS array gets: buffers the engine
// allocated (pinned for CUDA: `allocateInput`) and memory registered with it (a server's staging arena, a
// shared-memory region; page-locked for CUDA with cudaHostRegister). The registry answers one question for
// a run's input: does this range lie in such memory? If so the run reads it where it is (the GPU by DMA),
// and the JS side keeps the array alive until the run has finished.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "status.h"

namespace resnet {

/// Memory handed out by a backend: `data` stays valid while the pointer lives; its deleter frees it (for
/// CUDA, on the GPU workers: cudaFreeHost synchronises).
using HostMemory = std::shared_ptr<void>;

/// What a backend's registration of existing memory did; its destruction undoes it (cudaHostUnregister).
struct HostPin {
  std::shared_ptr<void> undo;  // null when nothing was done
  bool pinned = false;         // page-locked for DMA (CUDA); false on the CPU backend or when the driver refused
  std::string note;            // why not pinned, for humans ("" when pinned or when there is no device)
};

/// The ranges of host memory lent to runs, process-wide (every Node-API environment shares it). Thread-safe.
class HostMemoryRegistry {
 public:
  static HostMemoryRegistry& instance();

  /// Records [data, data + bytes). kInvalidArgument when it overlaps a range already recorded.
  Status add(const void* data, size_t bytes);
  /// Forgets the range that starts at `data` (nothing when none does).
  void remove(const void* data);
  /// Whether [data, data + bytes) lies wholly inside one recorded range.
  bool contains(const void* data, size_t bytes) const;
  /// Ranges recorded now.
  size_t size() const;

 private:
  mutable std::mutex mutex_;
  std::map<uintptr_t, size_t> ranges_;  // start → bytes
};

}  // namespace resnet
