// What the CPU lowering produces: oneDNN primitives in execution order over "views" (a memory desc placed
// in a buffer), the weights already in each primitive's layout, and the buffers the views live in. A
// context binds the views to its own arena; the program itself is shared and read-only.
#pragma once

#include <dnnl.hpp>

#include <memory>

#include <optional>
#include <utility>
#include <vector>

#include "cpu/adaptive_pool.h"

namespace resnet {

enum class BufferKind {
  kArena,   // activation memory, placed by the memory plan
  kInput,   // the run's input staging (plain NCHW), bound per run
  kOutput,  // a run's result array, bound per run
};

struct Buffer {
  BufferKind kind = BufferKind::kArena;
  int output_index = -1;  // kOutput: which graph output
  size_t bytes = 0;
  int first_step = -1;  // steps that first and last touch the buffer
  int last_step = -1;
};

/// A tensor as a primitive sees it: a layout (memory desc) in a buffer. Several views may share a buffer
/// (a conv writing its residual's buffer in place).
struct View {
  dnnl::memory::desc desc;
  int buffer = -1;
};

/// One step of a run: a oneDNN primitive, or the hand-written adaptive pool (reads the view bound to
/// DNNL_ARG_SRC, writes the one bound to DNNL_ARG_DST, both plain).
struct Step {
  dnnl::primitive primitive;
  std::optional<AdaptiveAvgPool> adaptive_pool;
  std::vector<std::pair<int, int>> views;               // (DNNL_ARG_*, view id)
  std::vector<std::pair<int, dnnl::memory>> constants;  // weights and bias: shared by all contexts, and
                                                        // by other programs of the same PreparedGraph
  dnnl::memory::desc scratchpad;                        // empty when the primitive needs none
};

struct Program {
  std::vector<Buffer> buffers;
  std::vector<View> views;
  std::vector<Step> steps;
  size_t weight_bytes = 0;
  /// Of weight_bytes, those found already reordered in the PreparedGraph's WeightCache.
  size_t shared_weight_bytes = 0;
  /// Owns the weight memories the steps' constants point at, keeping the WeightCache's entries alive.
  std::vector<std::shared_ptr<const dnnl::memory>> weights;
};

}  // namespace resnet
