// Which of its three paths a conv takes (the graph API's plan, the legacy fused call, or
// cudnnConvolutionForward + the epilogue kernel), decided from the evidence compiling gathered for it. Plain
// C++, so that every rule is tested on the CPU (test/gpu/cuda-path-choice.test.ts, through
// testing.cudaPathChoice). The executable only gathers evidence and applies the choice: after the trial run,
// after the timing with `benchmark`, and after the capture check; the choice after one stage is what the next
// stage runs and measures (the trial computes each conv's output with the path chosen for it, the timing
// times the plans the trial kept).
//
// The rules:
//   - The legacy path is the fused call when it ran in the trial run, else conv + epilogue (not fusable, or
//     cuDNN refused the fused call). With `benchmark` and both timed, conv + epilogue when strictly faster.
//   - A graph plan is usable once it ran in the trial run and its output was within the precision's
//     tolerance of the legacy path's (graph_plan_tolerance; NaN is never within), unless it failed when timed.
//   - Untimed (no `benchmark`, or the legacy path not timed yet): the first usable plan in cuDNN's heuristics'
//     order runs, so a verified plan is preferred over the legacy path.
//   - Timed (`benchmark`, the legacy path timed): the usable plans that were timed are ranked by time (ties
//     in the heuristics' order), and the fastest runs when strictly faster than the legacy path.
//   - A forward that failed to be captured into a CUDA graph with the plans puts the conv back on its legacy
//     path (the plans stay ranked, for describe()'s timings), unless it failed without them too.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "backend.h"

namespace resnet {
namespace cuda {

/// How a conv step runs.
enum class ConvMode {
  kFused,    // cudnnConvolutionBiasActivationForward: y = act(conv(x) + z·alpha2 + bias)
  kUnfused,  // cudnnConvolutionForward, then the epilogue kernel (bias, residual, relu)
  kGraph,    // the graph API's plan (conv_graph.h): conv, bias, residual and relu in one engine
};

/// What the trial run found of the legacy fused call.
enum class FusedTrial {
  kNotFusable,  // no fused algorithm within the workspace cap: never tried
  kNotTried,    // fusable, but the trial run has not run it
  kRan,         // cuDNN ran it
  kRefused,     // cuDNN refused this configuration (the device stayed healthy)
};

/// What the trial run found of one graph plan.
enum class PlanTrial {
  kNotRun,
  kRan,      // it ran; relative_error says how far its output was from the legacy path's
  kRefused,  // cuDNN refused to execute it
};

/// What the timing (with `benchmark`) found of one graph plan.
enum class PlanTiming {
  kNotTimed,
  kTimed,                   // ms per call
  kFailed,                  // it failed when timed for this conv
  kFailedForIdenticalConv,  // it failed when timed for an identical conv, which shares it (and says so)
};

/// What the capture of the forward into a CUDA graph found, for a conv that ran a graph plan.
enum class CaptureCheck {
  kNotChecked,
  kCaptured,             // captured with the plans
  kFailedWithPlans,      // failed with the plans; the capture without them is next
  kFailedWithPlansOnly,  // failed with the plans, worked without them
  kFailedEitherWay,      // failed without the plans too: not the plans' doing
};

struct GraphPlanEvidence {
  std::string name;  // ConvGraphPlan::name(), for the notes
  PlanTrial trial = PlanTrial::kNotRun;
  double relative_error = 0;  // kRan: relative L2 of its output from the legacy path's
  std::string refusal;        // kRefused: cuDNN's status
  PlanTiming timing = PlanTiming::kNotTimed;
  float ms = 0;                // kTimed: milliseconds per call
  std::string timing_failure;  // kFailed: cuDNN's status
};

struct ConvPathEvidence {
  Precision precision = Precision::kFloat32;
  bool benchmark = false;
  FusedTrial fused = FusedTrial::kNotTried;
  std::string fused_algorithm;  // the fused call's algorithm, named in a refusal's note
  std::string fused_why;        // kNotFusable: why there is no fused algorithm; kRefused: cuDNN's status
  /// Milliseconds per call of each legacy path, when timed (with `benchmark`).
  std::optional<float> fused_ms, unfused_ms;
  std::vector<GraphPlanEvidence> plans;  // as built: cuDNN's heuristics' order
  CaptureCheck capture = CaptureCheck::kNotChecked;
};

struct ConvPathChoice {
  ConvMode mode = ConvMode::kUnfused;
  /// The better legacy path: the mode when no graph plan runs.
  ConvMode legacy_mode = ConvMode::kUnfused;
  /// kGraph: the index in ConvPathEvidence::plans of the plan that runs; -1 otherwise.
  int plan = -1;
  /// The usable plans, best first (indices in ConvPathEvidence::plans): timed, by time; untimed, in order.
  std::vector<int> ranked;
  /// Why the legacy path is conv + epilogue, or that timing made it so (empty for the fused call).
  std::string note;
  /// Why plans are not usable, "; "-separated (refused, too far from the legacy path, failed when timed).
  std::string graph_note;
};

/// How far a graph plan's output may be from the legacy path's (relative L2 over the first and the last
/// image): both accumulate in FP32, but with other algorithms and, in 16-bit storage, other roundings of the
/// output. A wrong binding or layout is off by O(1).
double graph_plan_tolerance(Precision precision);

/// The path `evidence` supports, by the rules at the top of the file.
ConvPathChoice choose_conv_path(const ConvPathEvidence& evidence);

}  // namespace cuda
}  // namespace resnet
