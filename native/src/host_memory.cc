#include "host_memory.h"

#include <iterator>

namespace resnet {

HostMemoryRegistry& HostMemoryRegistry::instance() {
  static HostMemoryRegistry* registry = new HostMemoryRegistry();  // never destroyed: finalizers may run late
  return *registry;
}

Status HostMemoryRegistry::add(const void* data, size_t bytes) {
  const uintptr_t start = reinterpret_cast<uintptr_t>(data);
  RESNET_CHECK(data != nullptr && bytes > 0 && start + bytes > start, Code::kInvalidArgument,
               "host memory to register must be a non-empty range");
  std::lock_guard<std::mutex> lock(mutex_);
  auto next = ranges_.lower_bound(start);
  const bool overlaps_next = next != ranges_.end() && next->first < start + bytes;
  const bool overlaps_previous = next != ranges_.begin() && std::prev(next)->first + std::prev(next)->second > start;
  RESNET_CHECK(!overlaps_next && !overlaps_previous, Code::kInvalidArgument,
               cat("this memory (", bytes, " bytes) overlaps memory already registered with the engine; dispose "
                   "the earlier registration first, or register the whole buffer once"));
  ranges_.emplace(start, bytes);
  return Status();
}

void HostMemoryRegistry::remove(const void* data) {
  std::lock_guard<std::mutex> lock(mutex_);
  ranges_.erase(reinterpret_cast<uintptr_t>(data));
}

bool HostMemoryRegistry::contains(const void* data, size_t bytes) const {
  const uintptr_t start = reinterpret_cast<uintptr_t>(data);
  std::lock_guard<std::mutex> lock(mutex_);
  auto after = ranges_.upper_bound(start);
  if (after == ranges_.begin()) return false;
  const auto& [range_start, range_bytes] = *std::prev(after);
  return start - range_start + bytes <= range_bytes;
}

size_t HostMemoryRegistry::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return ranges_.size();
}

}  // namespace resnet
