// Host memory that runs read in place, without the staging copy a plain JS array gets: buffers the engine
// allocated (pinned for CUDA: `allocateInput`) and memory registered with it (a server's staging arena, a
// shared-memory region; page-locked for CUDA with cudaHostRegister). The registry answers one question for
// a run's input: does this range lie in such memory? If so the run reads it where it is (the GPU by DMA),
// the JS side keeps the array alive until the run has finished, and the run holds the range's loan, so that
// a registration disposed meanwhile is undone (cudaHostUnregister) only once no run reads it any more.
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

/// One range lent to runs. Shared by the registry and every run that reads it: the pin it holds is undone
/// when the last of them lets go.
struct HostLoan {
  std::shared_ptr<void> pin;  // HostPin::undo, or null
};

/// The ranges of host memory lent to runs, process-wide (every Node-API environment shares it). Thread-safe.
class HostMemoryRegistry {
 public:
  static HostMemoryRegistry& instance();

  /// Records [data, data + bytes), keeping `pin` until the range is removed and no run holds it.
  /// kInvalidArgument when it overlaps a range already recorded.
  Status add(const void* data, size_t bytes, std::shared_ptr<void> pin = nullptr);
  /// Forgets the range that starts at `data` (nothing when none does); runs that hold its loan keep it.
  void remove(const void* data);
  /// The loan of the range that wholly holds [data, data + bytes), or null when none does.
  std::shared_ptr<const HostLoan> find(const void* data, size_t bytes) const;
  /// Ranges recorded now.
  size_t size() const;

 private:
  struct Range {
    size_t bytes;
    std::shared_ptr<const HostLoan> loan;
  };
  mutable std::mutex mutex_;
  std::map<uintptr_t, Range> ranges_;  // by start
};

}  // namespace resnet
