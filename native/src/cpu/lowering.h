// Graph → Program for oneDNN: one primitive per fused op, layouts chosen by oneDNN (format_tag::any),
// reorders only where a consumer needs another layout than its producer gave, weights reordered once
// into each primitive's preferred layout.
#pragma once

#include <dnnl.hpp>

#include "backend.h"
#include "cpu/program.h"
#include "cpu/weight_cache.h"
#include "graph.h"
#include "status.h"

namespace resnet {

/// Lowers a validated graph for `batch` samples; at Precision::kInt8 a quantized graph's integer convs run
/// in 8-bit integers (lowering_int8.cc), every other precision lowers it as float32. Creates primitives, so it must run with the thread count
/// the program will run with (see compute_lanes.h). Weights are taken from `weights` when another program of the
/// same graph already placed them in the layout a primitive wants, and added to it otherwise.
/// Throws dnnl::error / std::bad_alloc; callers guard it.
Program lower_graph(const Graph& graph, int64_t batch, Precision precision, const dnnl::engine& engine,
                    WeightCache& weights);

}  // namespace resnet
