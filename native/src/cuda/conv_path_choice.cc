#include "cuda/conv_path_choice.h"

#include <algorithm>

#include "status.h"

namespace resnet {
namespace cuda {
namespace {

void add_note(std::string& notes, const std::string& note) { notes += notes.empty() ? note : cat("; ", note); }

// The legacy path and its note: what the trial run found of the fused call, then what timing found.
void choose_legacy(const ConvPathEvidence& evidence, ConvPathChoice& choice) {
  switch (evidence.fused) {
    case FusedTrial::kRan: choice.legacy_mode = ConvMode::kFused; break;
    case FusedTrial::kRefused:
      choice.note =
          cat("unfused: cuDNN refused the fused call with ", evidence.fused_algorithm, " (", evidence.fused_why, ")");
      break;
    case FusedTrial::kNotFusable:
      if (!evidence.fused_why.empty()) choice.note = cat("unfused: ", evidence.fused_why);
      break;
    case FusedTrial::kNotTried: choice.note = "unfused: the fused call has not been tried"; break;
  }
  // The legacy fused call was slower than conv + separate bias on some cuDNN 8 releases
  // (reference/cudnn.md §2.a): measured, not assumed.
  if (evidence.benchmark && choice.legacy_mode == ConvMode::kFused && evidence.fused_ms && evidence.unfused_ms &&
      *evidence.unfused_ms < *evidence.fused_ms) {
    choice.legacy_mode = ConvMode::kUnfused;
    choice.note = "unfused: faster than the fused call when timed";
  }
}

}  // namespace

double graph_plan_tolerance(Precision precision) {
  switch (precision) {
    case Precision::kFloat32: return 1e-4;
    case Precision::kTf32: return 1e-2;
    case Precision::kFloat16: return 1e-2;
    case Precision::kBFloat16: return 5e-2;
    case Precision::kInt8: return 5e-2;
  }
  return 1e-4;
}

ConvPathChoice choose_conv_path(const ConvPathEvidence& evidence) {
  ConvPathChoice choice;
  choose_legacy(evidence, choice);
  const std::optional<float> legacy_ms = choice.legacy_mode == ConvMode::kFused ? evidence.fused_ms
                                                                                : evidence.unfused_ms;
  const bool timed = evidence.benchmark && legacy_ms.has_value();

  // Plans that agreed with the legacy path in the trial run (the notes say why the others are out)...
  const double tolerance = graph_plan_tolerance(evidence.precision);
  std::vector<int> verified;
  for (size_t i = 0; i < evidence.plans.size(); ++i) {
    const GraphPlanEvidence& plan = evidence.plans[i];
    if (plan.trial == PlanTrial::kRefused) {
      add_note(choice.graph_note, cat(plan.name, " refused at run time (", plan.refusal, ")"));
    } else if (plan.trial == PlanTrial::kRan && !(plan.relative_error <= tolerance)) {  // NaN is never within
      add_note(choice.graph_note,
               cat(plan.name, " dropped: relative L2 ", plan.relative_error, " from the legacy path's output"));
    } else if (plan.trial == PlanTrial::kRan) {
      verified.push_back(static_cast<int>(i));
    }
  }
  // ...less those that failed when timed, and when timed, those that were not.
  for (int i : verified) {
    const GraphPlanEvidence& plan = evidence.plans[static_cast<size_t>(i)];
    if (plan.timing == PlanTiming::kFailed) {
      add_note(choice.graph_note, cat(plan.name, " failed when timed (", plan.timing_failure, ")"));
    } else if (plan.timing == PlanTiming::kFailedForIdenticalConv) {
      continue;
    } else if (timed && plan.timing == PlanTiming::kNotTimed) {
      add_note(choice.graph_note, cat(plan.name, " not timed"));
    } else {
      choice.ranked.push_back(i);
    }
  }
  if (timed) {
    std::stable_sort(choice.ranked.begin(), choice.ranked.end(), [&](int a, int b) {
      return evidence.plans[static_cast<size_t>(a)].ms < evidence.plans[static_cast<size_t>(b)].ms;
    });
  }

  choice.mode = choice.legacy_mode;
  if (choice.ranked.empty()) return choice;
  const int best = choice.ranked.front();
  if (timed && !(evidence.plans[static_cast<size_t>(best)].ms < *legacy_ms)) return choice;
  if (evidence.capture == CaptureCheck::kFailedWithPlans || evidence.capture == CaptureCheck::kFailedWithPlansOnly) {
    return choice;
  }
  choice.mode = ConvMode::kGraph;
  choice.plan = best;
  return choice;
}

}  // namespace cuda
}  // namespace resnet
