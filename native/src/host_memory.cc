#include "host_memory.h"

#include <iterator>

namespace resnet {

HostMemoryRegistry& HostMemoryRegistry::instance() {
  static HostMemoryRegistry* registry = new HostMemoryRegistry();  // never destroyed: finalizers may run late
  return *registry;
}

Status HostMemoryRegistry::add(const void* data, size_t bytes, std::shared_ptr<void> pin) {
  const uintptr_t start = reinterpret_cast<uintptr_t>(data);
  RESNET_CHECK(data != nullptr && bytes > 0 && start + bytes > start, Code::kInvalidArgument,
               "host memory to register must be a non-empty range");
  auto loan = std::make_shared<HostLoan>();
  loan->pin = std::move(pin);
  std::lock_guard<std::mutex> lock(mutex_);
  auto next = ranges_.lower_bound(start);
  const bool overlaps_next = next != ranges_.end() && next->first < start + bytes;
  const bool overlaps_previous = next != ranges_.begin() &&
                                 std::prev(next)->first + std::prev(next)->second.bytes > start;
  RESNET_CHECK(!overlaps_next && !overlaps_previous, Code::kInvalidArgument,
               cat("this memory (", bytes,
                   " bytes) overlaps memory already registered with the engine; dispose "
                   "the earlier registration first, or register the whole buffer once"));
  ranges_.emplace(start, Range{bytes, std::move(loan)});
  return Status();
}

void HostMemoryRegistry::remove(const void* data) {
  std::shared_ptr<const HostLoan> released;  // let go outside the lock: undoing a pin posts work elsewhere
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto found = ranges_.find(reinterpret_cast<uintptr_t>(data));
    if (found == ranges_.end()) return;
    released = std::move(found->second.loan);
    ranges_.erase(found);
  }
}

std::shared_ptr<const HostLoan> HostMemoryRegistry::find(const void* data, size_t bytes) const {
  const uintptr_t start = reinterpret_cast<uintptr_t>(data);
  std::lock_guard<std::mutex> lock(mutex_);
  auto after = ranges_.upper_bound(start);
  if (after == ranges_.begin()) return nullptr;
  const auto& [range_start, range] = *std::prev(after);
  return start - range_start + bytes <= range.bytes ? range.loan : nullptr;
}

size_t HostMemoryRegistry::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return ranges_.size();
}

}  // namespace resnet
