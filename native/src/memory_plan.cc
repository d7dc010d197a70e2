#include "memory_plan.h"

#include <algorithm>
#include <limits>
#include <numeric>

namespace resnet {
namespace {

size_t round_up(size_t bytes, size_t alignment) { return (bytes + alignment - 1) & ~(alignment - 1); }

bool lifetimes_overlap(const PlanRequest& a, const PlanRequest& b) {
  return a.first_step <= b.last_step && b.first_step <= a.last_step;
}

}  // namespace

MemoryPlan plan_memory(const std::vector<PlanRequest>& requests, size_t alignment) {
  MemoryPlan plan;
  plan.offsets.assign(requests.size(), 0);
  std::vector<size_t> order(requests.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return requests[a].bytes > requests[b].bytes; });

  std::vector<size_t> placed;  // request indices, kept sorted by offset
  for (size_t index : order) {
    const PlanRequest& request = requests[index];
    const size_t size = round_up(request.bytes, alignment);
    size_t best_offset = 0;
    size_t best_gap = std::numeric_limits<size_t>::max();
    size_t cursor = 0;  // end of the highest live buffer seen so far
    for (size_t other : placed) {
      if (!lifetimes_overlap(request, requests[other])) continue;
      const size_t start = plan.offsets[other];
      if (start >= cursor + size && start - cursor < best_gap) {
        best_gap = start - cursor;
        best_offset = cursor;
      }
      cursor = std::max(cursor, start + round_up(requests[other].bytes, alignment));
    }
    if (best_gap == std::numeric_limits<size_t>::max()) best_offset = cursor;
    plan.offsets[index] = best_offset;
    plan.arena_bytes = std::max(plan.arena_bytes, best_offset + size);
    placed.insert(std::upper_bound(placed.begin(), placed.end(), index,
                                   [&](size_t a, size_t b) { return plan.offsets[a] < plan.offsets[b]; }),
                  index);
  }
  return plan;
}

}  // namespace resnet
