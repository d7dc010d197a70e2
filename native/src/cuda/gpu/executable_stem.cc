// Choosing the stem's form (cuda_executable.h, stem_choice.h), first of a compile's steps and always, not
// only with `benchmark`: it is one conv, cheap to time. The plan is laid out for each form it offers; the
// form's stem conv gets its descriptors and algorithms (cuDNN's heuristics) and, where the graph API is on,
// its graph plans; each path (conv + epilogue, the fused call, each graph plan) runs once after the input
// conversion that writes the form's layout, its output (first and last image, on the trial's input) is
// compared with direct's conv + epilogue output, and the paths that agree are timed together with the input
// conversion. choose_stem_form keeps the fastest form, and the compile goes on with the plan laid out for it.
#include <cuda_runtime.h>

#include <algorithm>
#include <functional>

#include "cuda/conv_path_choice.h"
#include "cuda/gpu/cuda_executable.h"
#include "cuda/gpu/cuda_status.h"

namespace resnet {
namespace cuda {

Status CudaExecutable::choose_stem(CudaContext& scratch, bool benchmark) {
  std::vector<StemFormEvidence> evidence;
  if (!settings_.stem && plan_.stem.forms.size() > 1) {
    const CudaPlan direct = plan_;
    // Real data in the first and the last image (the trial run's input), zeros elsewhere.
    RESNET_RETURN_IF_ERROR(fill_trial_input(scratch));
    std::vector<uint8_t> reference;
    for (const StemOption& option : direct.stem.forms) {
      RESNET_ASSIGN_OR_RETURN(plan_, with_stem_form(direct, option.form));
      RESNET_ASSIGN_OR_RETURN(StemFormEvidence found, try_stem_form(scratch, option.form, benchmark, &reference));
      evidence.push_back(std::move(found));
    }
    plan_ = direct;
  }
  const StemChoice choice = choose_stem_form(plan_.stem, evidence, settings_.stem, plan_.precision);
  stem_note_ = choice.describe;
  // A forced form the plan does not offer fails here, saying which it offers and why not the others.
  if (choice.form != plan_.stem.chosen) {
    RESNET_ASSIGN_OR_RETURN(plan_, with_stem_form(plan_, choice.form));
  }
  return Status();
}

Result<StemFormEvidence> CudaExecutable::try_stem_form(CudaContext& scratch, StemForm form, bool benchmark,
                                                       std::vector<uint8_t>* reference) {
  StemFormEvidence found;
  found.form = form;
  const bool direct = form == StemForm::kDirect;
  const int index = plan_.stem.step;
  const Step& step = plan_.steps[static_cast<size_t>(index)];
  const std::string what = cat("the stem as ", stem_form_name(form));
  // Direct must work (every compile runs it otherwise); another form cuDNN will not take is only left out.
  Result<ConvLayer> described = describe_conv(api_, plan_, index);
  Status usable = described.ok() ? Status() : described.status();
  ConvLayer layer;
  if (usable.ok()) {
    layer = described.take();
    usable = choose_algorithm(api_, scratch.handle(), plan_.precision, layer);
  }
  if (!usable.ok()) {
    if (direct) return usable;
    cudaGetLastError();
    found.failure = usable.message();
    return found;
  }

  // Graph plans count against the compile's build budget like every conv's (build_graph_plans).
  std::vector<ConvGraphPlan> graph_plans;
  if (make_build_handle() && graph_build_ms_ < graph_build_budget_ms(settings_)) {
    Result<ConvGraphDescription> graph = describe_conv_graph(plan_, index);
    if (graph.ok()) {
      layer.graph = graph.take();
      const std::string key = layer.graph.describe();
      auto built = stem_graph_plans_.find(key);
      if (built == stem_graph_plans_.end()) {
        ConvGraphPlans plans = build_conv_graph_plans(api_, build_handle_.get(), layer.graph, plan_.precision,
                                                      graph_plan_limit(settings_, benchmark), kWorkspaceCap);
        graph_build_ms_ += plans.build_ms;
        built = stem_graph_plans_.emplace(key, std::move(plans)).first;
        // As in build_graph_plans: finalizing may leave work on the legacy stream and a non-sticky error.
        cudaStreamSynchronize(cudaStreamLegacy);
        cudaGetLastError();
      }
      graph_plans = built->second.plans;
    }
  }

  size_t workspace = std::max(layer.workspace, layer.fusable ? layer.fused_workspace : 0);
  for (const ConvGraphPlan& plan : graph_plans) workspace = std::max(workspace, plan.workspace);
  if (workspace > scratch.workspace_bytes()) RESNET_RETURN_IF_ERROR(scratch.resize_workspace(workspace));

  // Each path of the conv, after the input conversion: conv + epilogue first (direct's is the reference).
  auto cudnn_call = [&](cudnn::cudnnStatus_t status, const std::string& path) {
    return status == cudnn::CUDNN_STATUS_SUCCESS ? Status()
                                                 : cudnn_error(api_, status, cat("running ", what, " (", path, ")"));
  };
  std::vector<std::pair<std::string, std::function<Status()>>> paths;
  paths.emplace_back(cat("unfused ", algorithm_name(layer.algo)),
                     [&]() { return enqueue_conv(scratch, layer, ConvMode::kUnfused); });
  if (layer.fusable) {
    const std::string name = cat("fused ", algorithm_name(layer.fused_algo));
    paths.emplace_back(name, [&, name]() { return cudnn_call(call_fused(scratch, layer), name); });
  }
  for (const ConvGraphPlan& plan : graph_plans) {
    const std::string name = cat("graph engine ", plan.engine);
    paths.emplace_back(name, [&, name]() { return cudnn_call(call_graph(scratch, layer, plan), name); });
  }

  const DeviceValue& out = plan_.values[static_cast<size_t>(step.dst)];
  const double tolerance = graph_plan_tolerance(plan_.precision);
  std::string notes;
  for (size_t p = 0; p < paths.size(); ++p) {
    const std::string& name = paths[p].first;
    const std::function<Status()> run = [&, p]() {
      RESNET_RETURN_IF_ERROR(enqueue_step(scratch, 0, InputFormat{}));
      return paths[p].second();
    };
    // Poison first (all-ones bytes are NaN in every storage type): a path that writes nothing cannot pass.
    RESNET_CUDA_CHECK(cudaMemsetAsync(value_pointer(scratch, step.dst), 0xff, out.bytes, scratch.stream()),
                      cat("poisoning the output of ", what));
    const Status ran = run();
    if (!ran.ok()) {
      if (direct && p == 0) return ran;
      RESNET_RETURN_IF_ERROR(graph_call_failed(scratch, cat(what, " (", name, ")")));
      notes += cat(notes.empty() ? "" : "; ", name, ": ", ran.message());
      continue;
    }
    std::vector<uint8_t> output;
    RESNET_RETURN_IF_ERROR(read_first_and_last(scratch, step.dst, &output));
    if (reference->empty()) *reference = output;
    const double error = relative_l2(output, *reference, plan_.storage, output.size() / storage_bytes(plan_.storage));
    if (!(error <= tolerance)) {
      notes += cat(notes.empty() ? "" : "; ", name, ": output at relative L2 ", error, " from direct's");
      continue;
    }
    Result<float> ms = time_calls(scratch, what, run);
    if (!ms.ok()) {
      RESNET_RETURN_IF_ERROR(graph_call_failed(scratch, cat("timing ", what, " (", name, ")")));
      notes += cat(notes.empty() ? "" : "; ", name, " failed when timed: ", ms.status().message());
      continue;
    }
    if (!found.ms || ms.value() < *found.ms) {
      found.ms = ms.value();
      found.path = name;
      found.relative_error = error;
    }
  }
  if (!found.ms) found.failure = notes.empty() ? std::string("no path ran") : notes;
  return found;
}

}  // namespace cuda
}  // namespace resnet
