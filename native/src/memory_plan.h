// Activation memory plan: every buffer gets an offset in one arena, and buffers whose lifetimes do not
// overlap share space. Greedy by size with best fit (TFLite's arena planner; Pisarchyk & Lee, "Efficient
// Memory Management for Deep Neural Net Inference", 2020): the largest buffers are placed first, each in
// the smallest gap left between the buffers already placed that live at the same time.
#pragma once

#include <cstddef>
#include <vector>

namespace resnet {

/// A buffer to place: its size and the steps that first and last touch it (inclusive).
struct PlanRequest {
  size_t bytes = 0;
  int first_step = 0;
  int last_step = 0;
};

struct MemoryPlan {
  std::vector<size_t> offsets;  // by request index, each a multiple of the alignment
  size_t arena_bytes = 0;
};

/// Places `requests` in one arena; offsets and sizes are rounded up to `alignment` (a power of two).
MemoryPlan plan_memory(const std::vector<PlanRequest>& requests, size_t alignment);

}  // namespace resnet
