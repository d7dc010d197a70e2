// describe(): what compiling chose, for humans (Executable.describe() in JS, and with the settings' verbose
// at every compile). scripts/gpu-check/paths.mjs reads its "convs:", "stem:", "graph API:" and "… input:" lines.
#include "cuda/gpu/cuda_executable.h"

namespace resnet {
namespace cuda {

std::string CudaExecutable::describe() const {
  int counts[3] = {0, 0, 0};
  for (const ConvLayer& layer : layers_) ++counts[static_cast<int>(layer.choice.mode)];
  std::string text = cat("CUDA executable on device ", device_, ": ", precision_name(plan_.precision), ", batch ",
                         plan_.batch, "; weights ", weights_->bytes(), " bytes", shared_weights_ ? " (shared)" : "",
                         ", activations ", plan_.arena_bytes, " bytes, workspace ", workspace_bytes_, " bytes\n");
  text += cat("convs: ", layers_.size(), " (", counts[static_cast<int>(ConvMode::kGraph)], " graph API, ",
              counts[static_cast<int>(ConvMode::kFused)], " fused, ", counts[static_cast<int>(ConvMode::kUnfused)],
              " unfused: cudnnConvolutionForward + epilogue kernel)\n");
  if (!stem_note_.empty()) text += cat(stem_note_, "\n");
  text += graph_api_ ? cat("graph API: plans built in ", static_cast<long>(graph_build_ms_), " ms",
                           graph_budget_note_.empty() ? std::string() : cat("; ", graph_budget_note_),
                           graph_capture_note_.empty() ? std::string() : cat("; ", graph_capture_note_), "\n")
                     : cat("graph API: off (", graph_off_reason_, ")\n");
  {
    std::lock_guard<std::mutex> lock(capture_note_mutex_);
    for (int index = 0; index < kInputFormatCount; ++index) {
      if (index != 0 && !format_used_[index] && capture_failures_[index] == 0) continue;  // never run
      const InputFormat format{static_cast<InputType>(index / 2), static_cast<InputLayout>(index % 2)};
      text += cat(input_format_name(format), " input: ",
                  capture_failures_[index] >= kCaptureAttempts
                      ? cat("eager launches (capture failed: ", capture_note_[index], ")")
                  : capture_failures_[index] > 0 ? cat("CUDA graph replay (", capture_failures_[index].load(),
                                                       " capture(s) failed: ", capture_note_[index], ")")
                                                 : std::string("CUDA graph replay"),
                  "\n");
    }
  }
  for (const ConvLayer& layer : layers_) {
    const Step& step = plan_.steps[static_cast<size_t>(layer.step)];
    const DeviceValue& x = plan_.values[static_cast<size_t>(step.src)];
    const DeviceValue& y = plan_.values[static_cast<size_t>(step.dst)];
    const ConvPathEvidence& evidence = layer.evidence;
    std::string path;
    switch (layer.choice.mode) {
      case ConvMode::kGraph: path = cat("graph API, ", layer.chosen_plan().name()); break;
      case ConvMode::kFused:
        path = cat("fused, ", algorithm_name(layer.fused_algo), ", workspace ", layer.fused_workspace);
        break;
      case ConvMode::kUnfused:
        path = cat("unfused, ", algorithm_name(layer.algo), ", workspace ", layer.workspace);
        break;
    }
    std::string timed;
    if (evidence.unfused_ms) {
      timed = cat(" (timed ms:");
      for (int p : layer.choice.ranked) {
        const ConvGraphPlan& plan = layer.graph_plans[static_cast<size_t>(p)];
        timed += cat(" graph engine ", plan.engine, " ", evidence.plans[static_cast<size_t>(p)].ms, ",");
      }
      if (evidence.fused_ms) timed += cat(" fused ", *evidence.fused_ms, ",");
      timed += cat(" unfused ", *evidence.unfused_ms, ")");
    }
    std::string notes = layer.choice.note;
    std::string graph_notes = layer.graph_note;
    if (!layer.choice.graph_note.empty()) graph_notes += cat(graph_notes.empty() ? "" : "; ", layer.choice.graph_note);
    if (!graph_notes.empty()) notes += cat(notes.empty() ? "" : "; ", "graph API: ", graph_notes);
    text += cat("  ", layer.name, ": ", x.h, "x", x.w, "x", x.stored_channels, " -> ", y.h, "x", y.w, "x",
                y.stored_channels, ", kernel ", step.kernel.h, "x", step.kernel.w, ", stride ", step.stride.h,
                ", groups ", step.groups, step.residual >= 0 ? ", residual" : "", step.relu ? ", relu" : "", "; ", path,
                timed, notes.empty() ? std::string() : cat("; ", notes), "\n");
  }
  for (const std::string& note : plan_.notes) text += cat("note: ", note, "\n");
  return text;
}

}  // namespace cuda
}  // namespace resnet
