// describe(): what compiling chose, for humans (Executable.describe() in JS, and with RESNET_CUDNN_VERBOSE
// at every compile). scripts/gpu-check/paths.mjs reads its "convs:", "graph API:" and "… input:" lines.
#include "cuda/gpu/cuda_executable.h"

namespace resnet {
namespace cuda {

std::string CudaExecutable::describe() const {
  int counts[3] = {0, 0, 0};
  for (const ConvLayer& layer : layers_) ++counts[static_cast<int>(layer.mode)];
  std::string text = cat("CUDA executable on device ", device_, ": ", precision_name(plan_.precision), ", batch ",
                         plan_.batch, "; weights ", weights_->bytes(), " bytes", shared_weights_ ? " (shared)" : "",
                         ", activations ", plan_.arena_bytes, " bytes, workspace ", workspace_bytes_, " bytes\n");
  text += cat("convs: ", layers_.size(), " (", counts[static_cast<int>(ConvMode::kGraph)], " graph API, ",
              counts[static_cast<int>(ConvMode::kFused)], " fused, ", counts[static_cast<int>(ConvMode::kUnfused)],
              " unfused: cudnnConvolutionForward + epilogue kernel)\n");
  text += graph_api_ ? cat("graph API: plans built in ", static_cast<long>(graph_build_ms_), " ms",
                           graph_budget_note_.empty() ? std::string() : cat("; ", graph_budget_note_),
                           graph_capture_note_.empty() ? std::string() : cat("; ", graph_capture_note_), "\n")
                     : cat("graph API: off (", graph_off_reason_, ")\n");
  {
    std::lock_guard<std::mutex> lock(capture_note_mutex_);
    for (InputType type : {InputType::kFloat32, InputType::kUint8}) {
      const int index = type_index(type);
      text += cat(input_type_name(type), " input: ",
                  capture_failures_[index] >= kCaptureAttempts
                      ? cat("eager launches (capture failed: ", capture_note_[index], ")")
                  : capture_failures_[index] > 0
                      ? cat("CUDA graph replay (", capture_failures_[index].load(), " capture(s) failed: ", capture_note_[index], ")")
                      : std::string("CUDA graph replay"),
                  "\n");
    }
  }
  for (const ConvLayer& layer : layers_) {
    const Step& step = plan_.steps[static_cast<size_t>(layer.step)];
    const DeviceValue& x = plan_.values[static_cast<size_t>(step.src)];
    const DeviceValue& y = plan_.values[static_cast<size_t>(step.dst)];
    std::string path;
    switch (layer.mode) {
      case ConvMode::kGraph: path = cat("graph API, ", layer.graph_plans.front().name()); break;
      case ConvMode::kFused: path = cat("fused, ", algorithm_name(layer.fused_algo), ", workspace ", layer.fused_workspace); break;
      case ConvMode::kUnfused: path = cat("unfused, ", algorithm_name(layer.algo), ", workspace ", layer.workspace); break;
    }
    std::string timed;
    if (layer.unfused_ms > 0) {
      timed = cat(" (timed ms:");
      for (const ConvGraphPlan& plan : layer.graph_plans) timed += cat(" graph engine ", plan.engine, " ", plan.ms, ",");
      if (layer.fused_ms > 0) timed += cat(" fused ", layer.fused_ms, ",");
      timed += cat(" unfused ", layer.unfused_ms, ")");
    }
    std::string notes = layer.note;
    if (!layer.graph_note.empty()) notes += cat(notes.empty() ? "" : "; ", "graph API: ", layer.graph_note);
    text += cat("  ", layer.name, ": ", x.h, "x", x.w, "x", x.stored_channels, " -> ", y.h, "x", y.w, "x",
                y.stored_channels, ", kernel ", step.kernel.h, "x", step.kernel.w, ", stride ", step.stride.h,
                ", groups ", step.groups, step.residual >= 0 ? ", residual" : "", step.relu ? ", relu" : "", "; ",
                path, timed, notes.empty() ? std::string() : cat("; ", notes), "\n");
  }
  for (const std::string& note : plan_.notes) text += cat("note: ", note, "\n");
  return text;
}

}  // namespace cuda
}  // namespace resnet
