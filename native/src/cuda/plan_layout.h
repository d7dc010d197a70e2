// The device layout of every value of a graph, before any memory is placed: its NHWC geometry (flat
// values included: a flattened feature map keeps its h, w and channels) and its stored channel count,
// following the padding rules of cuda_plan.h (one layout for the values an op combines elementwise,
// whole zero groups for grouped convolutions, unpadded where that cannot work).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "graph.h"
#include "status.h"

namespace resnet {
namespace cuda {

/// One value's layout, per sample.
struct ValueLayout {
  int64_t h = 1, w = 1;
  int64_t channels = 0;
  int64_t stored_channels = 0;
  /// A flatten's dst: the value whose memory it shares (never itself an alias), else -1.
  int alias_of = -1;
};

struct GraphLayout {
  std::vector<ValueLayout> values;  // by value id
  /// By op index: a conv's stored group count (the graph's plus the zero groups padding added); 0 for
  /// other ops.
  std::vector<int64_t> conv_groups;
  /// Layouts left unpadded and why.
  std::vector<std::string> notes;
};

/// Lays out a validated graph with channels padded to multiples of `channel_multiple`. Fails with
/// kUnsupported for an add of two flat values whose device geometries differ (a flattened feature map
/// and a linear layer's output, say): no elementwise kernel can combine them in place.
Result<GraphLayout> plan_layout(const Graph& graph, int64_t channel_multiple);

}  // namespace cuda
}  // namespace resnet
