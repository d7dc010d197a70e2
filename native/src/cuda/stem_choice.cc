#include "cuda/stem_choice.h"

#include "cuda/conv_path_choice.h"

namespace resnet {
namespace cuda {
namespace {

std::string joined(const std::vector<std::string>& lines) {
  std::string text;
  for (const std::string& line : lines) text += cat(text.empty() ? "" : "; ", line);
  return text;
}

// "direct 0.912 [fused IMPLICIT_PRECOMP_GEMM]", "four_channel failed [why]", "space_to_depth dropped [...]".
std::string evidence_text(const StemFormEvidence& e, bool within) {
  const char* name = stem_form_name(e.form);
  if (!e.ms) return cat(name, " failed [", e.failure.empty() ? std::string("not timed") : e.failure, "]");
  if (!within) {
    return cat(name, " dropped [", *e.ms, " ms, but its output is ",
               e.relative_error ? cat("at relative L2 ", *e.relative_error) : std::string("unchecked"),
               " from direct's]");
  }
  return cat(name, " ", *e.ms, " [", e.path, "]");
}

}  // namespace

StemChoice choose_stem_form(const StemPlan& stem, const std::vector<StemFormEvidence>& evidence,
                            std::optional<StemForm> forced, Precision precision) {
  StemChoice choice;
  // A forced form other than direct is the caller's to lay out, which fails for one the plan does not offer
  // (a graph without a stem offers none).
  if (forced && (*forced != StemForm::kDirect || !stem.forms.empty())) {
    choice.form = *forced;
    choice.describe = cat("stem: ", stem_form_name(*forced), " (forced by options.cudnn.stem)");
    return choice;
  }
  if (stem.forms.empty()) {
    choice.describe = cat("stem: none (", joined(stem.unavailable), ")");
    return choice;
  }
  if (stem.forms.size() == 1) {
    choice.describe =
        cat("stem: ", stem_form_name(stem.forms.front().form), " (the only form: ", joined(stem.unavailable), ")");
    return choice;
  }
  const double tolerance = graph_plan_tolerance(precision);
  std::optional<float> best;
  std::string times;
  for (const StemFormEvidence& e : evidence) {
    // `!(error <= tolerance)` rejects NaN too.
    const bool within = e.form == StemForm::kDirect || (e.relative_error && *e.relative_error <= tolerance);
    times += cat(times.empty() ? "" : ", ", evidence_text(e, within));
    if (!e.ms || !within) continue;
    if (!best || *e.ms < *best) {
      best = e.ms;
      choice.form = e.form;
    }
  }
  choice.describe =
      cat("stem: ", stem_form_name(choice.form), " (timed, input conversion + conv, ms per call: ", times, ")");
  return choice;
}

}  // namespace cuda
}  // namespace resnet
