// The reordered weights of one PreparedGraph, shared by the CpuExecutables compiled from it: keyed by
// (op index, argument, the exact memory desc a primitive wants), so batch sizes whose primitives want the
// same weight layout share one copy. The cache holds weak references: a copy lives exactly as long as an
// executable uses it, and the next compile that wants it again reorders it afresh.
#pragma once

#include <dnnl.hpp>

#include <map>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

namespace resnet {

class WeightCache {
 public:
  /// The memory for (op, arg, desc), or null when no live executable holds one. Thread-safe.
  std::shared_ptr<const dnnl::memory> find(int op, int arg, const dnnl::memory::desc& desc) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto slot = slots_.find({op, arg});
    if (slot == slots_.end()) return nullptr;
    for (const auto& [cached_desc, memory] : slot->second) {
      if (cached_desc == desc) {
        if (auto live = memory.lock()) return live;
      }
    }
    return nullptr;
  }

  /// Records `memory` for (op, arg, desc) and forgets the entries of that slot whose memory died.
  /// Returns the memory to use: an entry another compile stored meanwhile wins, so one copy survives.
  std::shared_ptr<const dnnl::memory> insert(int op, int arg, const dnnl::memory::desc& desc,
                                             std::shared_ptr<const dnnl::memory> memory) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto& slot = slots_[{op, arg}];
    std::vector<std::pair<dnnl::memory::desc, std::weak_ptr<const dnnl::memory>>> kept;
    for (auto& entry : slot) {
      auto live = entry.second.lock();
      if (!live) continue;
      if (entry.first == desc) return live;
      kept.push_back(std::move(entry));
    }
    kept.emplace_back(desc, memory);
    slot = std::move(kept);
    return memory;
  }

 private:
  std::mutex mutex_;
  std::map<std::pair<int, int>, std::vector<std::pair<dnnl::memory::desc, std::weak_ptr<const dnnl::memory>>>> slots_;
};

}  // namespace resnet
