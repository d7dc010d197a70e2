// Building the executable (cuda_executable.h): the layers, the normalisation constants, the legacy
// algorithms and the graph API's plans, then create() runs the compile's steps in order.
#include "cuda/gpu/cuda_executable.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <map>

#include "cuda/gpu/cuda_status.h"
#include "cuda/gpu/gpu_workers.h"

namespace resnet {
namespace cuda {
namespace {

size_t align_up(size_t bytes) { return (bytes + kDeviceAlignment - 1) / kDeviceAlignment * kDeviceAlignment; }

}  // namespace

CudaExecutable::CudaExecutable(const CudnnLibrary& cudnn, int device, CudaPlan plan,
                               std::shared_ptr<const DeviceWeights> weights, bool shared_weights,
                               const CompileOptions& options)
    : api_(cudnn.api), device_(device), plan_(std::move(plan)), weights_(std::move(weights)),
      shared_weights_(shared_weights), settings_(options.cudnn) {
  input_elements_ = static_cast<size_t>(plan_.batch * plan_.input_channels * plan_.input_h * plan_.input_w);
  for (int64_t elements : plan_.output_elements) {
    output_offsets_.push_back(output_bytes_);
    output_bytes_ += align_up(static_cast<size_t>(elements) * sizeof(float));
  }
  normalization_applies_to_ = options.normalization.enabled ? options.normalization.applies_to : 0u;
  scale_ = normalization_applies_to_ != 0 ? options.normalization.scale : 1.0f;
}

CudaExecutable::~CudaExecutable() {
  // The lambda holds the only references, so the weights (when no other executable shares them) and the
  // normalisation constants are freed where it runs. The spare context releases itself the same way. The
  // graph API's plans go before the handle they were built with.
  GpuWorkers::instance().release(
      [weights = std::move(weights_), normalization = std::make_shared<DeviceBuffer>(std::move(normalization_)),
       layers = std::make_shared<std::vector<ConvLayer>>(std::move(layers_)),
       stem_plans = std::make_shared<std::map<std::string, ConvGraphPlans>>(std::move(stem_graph_plans_)),
       handle = std::make_shared<CudnnHandle>(std::move(build_handle_))]() mutable {
        weights.reset();
        normalization.reset();
        layers.reset();
        stem_plans.reset();  // left here only when a compile failed before build_graph_plans took them
        handle.reset();
      });
}

Result<std::shared_ptr<CudaExecutable>> CudaExecutable::create(const CudnnLibrary& cudnn, int device, CudaPlan plan,
                                                               std::shared_ptr<const DeviceWeights> weights,
                                                               bool shared_weights, const CompileOptions& options) {
  std::shared_ptr<CudaExecutable> executable(
      new CudaExecutable(cudnn, device, std::move(plan), std::move(weights), shared_weights, options));
  RESNET_RETURN_IF_ERROR(executable->upload_normalization(options.normalization));
  RESNET_ASSIGN_OR_RETURN(std::unique_ptr<CudaContext> scratch, executable->make_context(0));
  RESNET_RETURN_IF_ERROR(executable->choose_stem(*scratch, options.benchmark));
  RESNET_RETURN_IF_ERROR(executable->build_layers(options));
  RESNET_RETURN_IF_ERROR(executable->choose_algorithms(*scratch, options.benchmark));
  executable->build_graph_plans(options.benchmark);
  // The trial tries every conv's paths (fused, unfused, each graph plan): room for any of them.
  size_t trial_workspace = 0;
  for (const ConvLayer& layer : executable->layers_) {
    trial_workspace = std::max({trial_workspace, layer.workspace, layer.fusable ? layer.fused_workspace : 0});
    for (const ConvGraphPlan& plan : layer.graph_plans) trial_workspace = std::max(trial_workspace, plan.workspace);
  }
  RESNET_RETURN_IF_ERROR(scratch->resize_workspace(trial_workspace));
  RESNET_RETURN_IF_ERROR(executable->fill_trial_input(*scratch));
  RESNET_RETURN_IF_ERROR(executable->trial_run(*scratch));
  if (options.benchmark) RESNET_RETURN_IF_ERROR(executable->time_paths(*scratch));
  RESNET_RETURN_IF_ERROR(executable->settle_workspace_and_capture(*scratch));
  scratch->keep_alive(executable->graph_plans_alive_);  // made before the plans were
  executable->spare_ = std::move(scratch);
  if (executable->settings_.verbose) std::fprintf(stderr, "%s\n", executable->describe().c_str());
  return executable;
}

Status CudaExecutable::build_layers(const CompileOptions& options) {
  layer_of_step_.assign(plan_.steps.size(), -1);
  for (size_t i = 0; i < plan_.steps.size(); ++i) {
    if (plan_.steps[i].kind != StepKind::kConv) continue;
    RESNET_ASSIGN_OR_RETURN(ConvLayer layer, describe_conv(api_, plan_, static_cast<int>(i)));
    layer.evidence.precision = plan_.precision;
    layer.evidence.benchmark = options.benchmark;
    layer_of_step_[i] = static_cast<int>(layers_.size());
    layers_.push_back(std::move(layer));
  }
  return Status();
}

Status CudaExecutable::upload_normalization(const InputNormalization& normalization) {
  if (normalization_applies_to_ == 0) return Status();
  const size_t channels = static_cast<size_t>(plan_.input_channels);
  RESNET_CHECK(normalization.mean.size() == channels && normalization.std.size() == channels, Code::kInvalidArgument,
               cat("Expected ", channels, " numbers (one per input channel) for options.normalization.mean and .std"));
  // The kernel multiplies by 1/std, computed here in float (kernel_args.h).
  std::vector<float> constants(normalization.mean);
  for (float deviation : normalization.std) constants.push_back(1.0f / deviation);
  RESNET_ASSIGN_OR_RETURN(normalization_,
                          DeviceBuffer::allocate(device_, constants.size() * sizeof(float), "the input normalisation"));
  RESNET_CUDA_CHECK(cudaMemcpy(normalization_.get(), constants.data(), normalization_.bytes(), cudaMemcpyHostToDevice),
                    "copying the input normalisation to the GPU");
  // Pageable: the copy may still be in flight on the legacy stream, which the contexts' streams do not wait for.
  RESNET_CUDA_CHECK(cudaStreamSynchronize(cudaStreamLegacy), "copying the input normalisation to the GPU");
  return Status();
}

ContextSizes CudaExecutable::context_sizes(size_t workspace) const {
  ContextSizes sizes;
  sizes.arena = plan_.arena_bytes;
  sizes.workspace = workspace;
  sizes.input = input_bytes(InputType::kFloat32);
  sizes.outputs = output_bytes_;
  return sizes;
}

Result<std::unique_ptr<CudaContext>> CudaExecutable::make_context(size_t workspace) const {
  RESNET_ASSIGN_OR_RETURN(std::unique_ptr<CudaContext> context,
                          CudaContext::create(api_, device_, context_sizes(workspace)));
  context->keep_alive(graph_plans_alive_);
  return context;
}

Status CudaExecutable::choose_algorithms(CudaContext& scratch, bool benchmark) {
  if (!benchmark) {
    for (ConvLayer& layer : layers_) {
      RESNET_RETURN_IF_ERROR(choose_algorithm(api_, scratch.handle(), plan_.precision, layer));
    }
    return Status();
  }
  // Timing reads real buffers: zeros, so that no garbage NaN or denormal skews a candidate's time.
  RESNET_CUDA_CHECK(cudaMemsetAsync(scratch.arena(), 0, plan_.arena_bytes, scratch.stream()),
                    "clearing the activation arena for the benchmark");
  RESNET_CUDA_CHECK(cudaStreamSynchronize(scratch.stream()), "clearing the activation arena for the benchmark");
  // Candidates may use up to the cap; with less memory free the ones that need more are skipped.
  DeviceBuffer workspace;
  for (size_t bytes = kWorkspaceCap; bytes > 0; bytes /= 4) {
    Result<DeviceBuffer> attempt = DeviceBuffer::allocate(device_, bytes, "the benchmark's workspace");
    if (attempt.ok()) {
      workspace = attempt.take();
      break;
    }
    if (attempt.status().code() != Code::kGpuOutOfMemory) return attempt.status();
  }
  for (ConvLayer& layer : layers_) {
    const Step& step = plan_.steps[static_cast<size_t>(layer.step)];
    RESNET_RETURN_IF_ERROR(find_algorithm(api_, scratch.handle(), plan_.precision, layer,
                                          value_pointer(scratch, step.src), weights_->blob() + step.filter_offset,
                                          value_pointer(scratch, step.dst), workspace.get(), workspace.bytes()));
  }
  return Status();
}

bool CudaExecutable::make_build_handle() {
  graph_api_ = settings_.graph_api;
  if (!graph_api_) {
    graph_off_reason_ = settings_.graph_api_off_by.empty() ? "the settings' graph_api is false"
                                                           : settings_.graph_api_off_by;
    return false;
  }
  if (build_handle_.get() != nullptr) return true;
  // The graphs and plans keep the handle they were built with: one of the executable's own, which outlives
  // them (the contexts' handles may go first). Runs execute the plans through their context's handle.
  // Bound to the default stream, not to a context's: it may outlive every context, and runs never use it.
  Result<CudnnHandle> handle = CudnnHandle::create(api_, device_, nullptr);
  if (!handle.ok()) {
    cudaGetLastError();
    graph_api_ = false;
    graph_off_reason_ = cat("no cuDNN handle to build plans with: ", handle.status().message());
    return false;
  }
  build_handle_ = handle.take();
  return true;
}

void CudaExecutable::build_graph_plans(bool benchmark) {
  if (!make_build_handle()) return;
  const size_t limit = graph_plan_limit(settings_, benchmark);
  const double budget_ms = graph_build_budget_ms(settings_);
  int over_budget = 0;
  // Identical conv graphs (the repeated blocks of a stage) share one set of plans: built once, finalized once.
  // The stem's were built while choosing its form (their time is in graph_build_ms_ already).
  std::map<std::string, ConvGraphPlans> built = std::move(stem_graph_plans_);
  stem_graph_plans_.clear();
  for (ConvLayer& layer : layers_) {
    Result<ConvGraphDescription> described = describe_conv_graph(plan_, layer.step);
    if (!described.ok()) {
      layer.graph_note = described.status().message();
      continue;
    }
    layer.graph = described.take();
    const std::string key = layer.graph.describe();
    auto found = built.find(key);
    if (found == built.end() && graph_build_ms_ >= budget_ms) {
      ++over_budget;
      layer.graph_note = cat("not built: the graph plans' time budget (", static_cast<long>(budget_ms), " ms, ",
                             settings_.graph_budget_by, ") was spent");
      continue;
    }
    if (found == built.end()) {
      ConvGraphPlans plans =
          build_conv_graph_plans(api_, build_handle_.get(), layer.graph, plan_.precision, limit, kWorkspaceCap);
      graph_build_ms_ += plans.build_ms;
      found = built.emplace(key, std::move(plans)).first;
    }
    layer.graph_plans = found->second.plans;
    layer.graph_note = found->second.note;
    for (const ConvGraphPlan& plan : layer.graph_plans) layer.evidence.plans.emplace_back().name = plan.name();
  }
  if (over_budget > 0) {
    graph_budget_note_ = cat(over_budget, " conv(s) left on the legacy path: building plans took over ",
                             static_cast<long>(budget_ms), " ms (", settings_.graph_budget_by, ")");
  }
  // Finalizing may have queued work on the build handle's (default) stream, which the contexts' non-blocking
  // streams are not ordered after; and it may have left a (non-sticky) error behind in the runtime, not the
  // next launch's to report.
  cudaStreamSynchronize(cudaStreamLegacy);
  cudaGetLastError();
  // Contexts hold the plans they may run, so that no plan (nor the kernels it compiled) goes before them.
  auto alive = std::make_shared<std::vector<ConvGraphPlan>>();
  for (const ConvLayer& layer : layers_)
    alive->insert(alive->end(), layer.graph_plans.begin(), layer.graph_plans.end());
  graph_plans_alive_ = std::move(alive);
}

}  // namespace cuda
}  // namespace resnet
