// Which form the stem runs in (stem_form.h), decided from what compiling measured: a pure function, like
// conv_path_choice.h, so that the rule is tested without a GPU (test/gpu/cuda-stem-choice.test.ts).
//
// The executable (gpu/executable_stem.cc) lays the plan out for each form the plan offers and times the input
// conversion that writes the form's layout together with the stem conv in each of its paths (the legacy fused
// call where cuDNN takes it, conv + epilogue, the graph API's first plan where it is on), on the compile's
// pseudo-random trial input; it also reads the stem's output for the first and the last image, so that a
// form whose output strays from direct's is never chosen. The rule:
//   - a form forced by the compile's `cudnn.stem` is taken as is (laying the plan out for it then fails for a
//     form the plan does not offer; direct forced on a graph without a stem is that graph's plain plan);
//   - otherwise the fastest form that was timed and whose output is within the graph plans' tolerance of
//     direct's (graph_plan_tolerance; NaN is never within); ties go to the form listed first (direct first);
//   - direct when nothing else qualifies.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "backend.h"
#include "cuda/cuda_plan.h"
#include "cuda/stem_form.h"

namespace resnet {
namespace cuda {

/// What compiling found of one stem form.
struct StemFormEvidence {
  StemForm form = StemForm::kDirect;
  /// Milliseconds per call of the input conversion and the form's fastest conv path together; none when the
  /// form could not be timed (see `failure`).
  std::optional<float> ms;
  /// The conv path that gave `ms`: "fused IMPLICIT_PRECOMP_GEMM", "unfused IMPLICIT_GEMM", "graph engine 12".
  std::string path;
  /// Relative L2 of the form's stem output (first and last image) from direct's; 0 for direct itself.
  std::optional<double> relative_error;
  /// Why the form could not be built or timed.
  std::string failure;
};

/// The form, and one line that says how it was chosen (describe()'s "stem:" line, which
/// scripts/gpu-check/paths.mjs reads).
struct StemChoice {
  StemForm form = StemForm::kDirect;
  std::string describe;
};

/// The form by the rules at the top of the file. `stem` is the plan's (its forms, and why others are not
/// offered); `evidence` has one entry per form timed, in the plan's order.
StemChoice choose_stem_form(const StemPlan& stem, const std::vector<StemFormEvidence>& evidence,
                            std::optional<StemForm> forced, Precision precision);

}  // namespace cuda
}  // namespace resnet
