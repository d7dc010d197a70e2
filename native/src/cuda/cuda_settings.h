// The CUDA backend's knobs that are not compile options of their own: whether convs may take cuDNN's graph
// API, how many of its plans to build, how long building them may take, and whether each compile prints
// what it chose. The environment gives the defaults, read once per process (RESNET_CUDNN_GRAPH=0,
// RESNET_CUDNN_GRAPH_CANDIDATES, RESNET_CUDNN_GRAPH_BUDGET_MS, RESNET_CUDNN_VERBOSE=1); a compile's
// `cudnn` option overrides them for that compile (graph_from_js.cc). Plain C++: the CPU backend carries
// them in its CompileOptions and ignores them.
#pragma once

#include <cstddef>
#include <functional>
#include <string>

namespace resnet {
namespace cuda {

struct CudaSettings {
  /// Convs may take the graph API's plans; off keeps every conv on the legacy API (for comparison, or if a
  /// cuDNN release misbehaves).
  bool graph_api = true;
  /// What turned the graph API off, for describe(): "RESNET_CUDNN_GRAPH=0" or the compile option.
  std::string graph_api_off_by;
  /// Graph plans finalized per distinct conv graph, 1 to 16; 0 for the default (graph_plan_limit).
  int graph_candidates = 0;
  /// Host milliseconds an executable may spend building graph plans; 0 for no limit.
  double graph_budget_ms = 30000;
  /// The knob that sets graph_budget_ms, named where the budget runs out.
  std::string graph_budget_by = "RESNET_CUDNN_GRAPH_BUDGET_MS";
  /// Print describe() at every compile, and each failed capture when it happens (stderr).
  bool verbose = false;
};

/// The settings an environment gives: `lookup(name)` is the variable's value, or null when unset. Values
/// out of range leave the default.
CudaSettings cuda_settings_from(const std::function<const char*(const char*)>& lookup);

/// The process environment's settings, read at the first call.
const CudaSettings& cuda_settings_from_environment();

/// Graph plans to finalize per distinct conv graph: the heuristics' first that works, or with `benchmark`
/// the first three to be timed, unless `settings` say otherwise. Each may be compiled by NVRTC, which is
/// what makes more of them costly.
size_t graph_plan_limit(const CudaSettings& settings, bool benchmark);

/// The graph plans' build budget in milliseconds: infinite for "no limit". NVRTC compiles each runtime-fusion
/// kernel when its plan is finalized, which no other step of a compile does: once the budget is spent, the
/// convs whose graph has no plans yet stay on the legacy path.
double graph_build_budget_ms(const CudaSettings& settings);

}  // namespace cuda
}  // namespace resnet
