#include "cuda/gpu/cuda_executable.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>

#include "cuda/gpu/cuda_status.h"
#include "cuda/gpu/cuda_stream.h"
#include "cuda/gpu/gpu_workers.h"
#include "cuda/kernel_math.h"
#include "cuda/kernels.h"

namespace resnet {
namespace cuda {
namespace {

using cudnn::cudnnStatus_t;

size_t align_up(size_t bytes) { return (bytes + kDeviceAlignment - 1) / kDeviceAlignment * kDeviceAlignment; }

// cuDNN statuses that mean "not this configuration" rather than a failure of the device: bad or unsupported
// parameters, and the internal/execution failures some engines report for a configuration they cannot run,
// as long as the CUDA context is still healthy (no sticky error). The fused call falls back to the unfused
// path on these.
bool refuses_configuration(cudnnStatus_t status) {
  const int code = static_cast<int>(status);
  const int category = code / 1000 * 1000;
  if (category == cudnn::CUDNN_STATUS_BAD_PARAM || category == cudnn::CUDNN_STATUS_NOT_SUPPORTED) return true;
  const bool engine_failure = (code >= 4000 && code <= 4002) || code == 5000 || code == 5003;
  return engine_failure && cudaPeekAtLastError() == cudaSuccess;
}

// Captures refused in a row before an input format runs eagerly for good: a capture may fail once because
// another thread did something capture-unsafe at that moment (a ROCm thread reports this for NVIDIA even in
// thread-local mode), which says nothing about the next.
constexpr int kCaptureAttempts = 3;

// Calls of the benchmark's fused/unfused comparison, after one warm-up call.
constexpr int kTimedCalls = 5;

bool verbose() {
  const char* value = std::getenv("RESNET_CUDNN_VERBOSE");
  return value != nullptr && *value != '\0' && std::strcmp(value, "0") != 0;
}

// RESNET_CUDNN_GRAPH=0 keeps every conv on the legacy API (for comparison, or if a cuDNN release misbehaves).
bool graph_api_enabled() {
  const char* value = std::getenv("RESNET_CUDNN_GRAPH");
  return value == nullptr || std::strcmp(value, "0") != 0;
}

// Graph plans finalized per distinct conv graph: the heuristics' first that works, or with `benchmark` the
// first three to be timed (RESNET_CUDNN_GRAPH_CANDIDATES overrides, 1 to 16). Each may be compiled by NVRTC,
// which is what makes more of them costly.
size_t graph_plan_limit(bool benchmark) {
  const char* value = std::getenv("RESNET_CUDNN_GRAPH_CANDIDATES");
  if (value != nullptr && *value != '\0') {
    const long parsed = std::strtol(value, nullptr, 10);
    if (parsed >= 1 && parsed <= 16) return static_cast<size_t>(parsed);
  }
  return benchmark ? 3 : 1;
}

// Host time an executable may spend building graph plans (NVRTC compiles each runtime-fusion kernel when its
// plan is finalized, which no other step of a compile does): once spent, the convs whose graph has no plans
// yet stay on the legacy path, and describe() says so. RESNET_CUDNN_GRAPH_BUDGET_MS overrides (0: no limit).
double graph_build_budget_ms() {
  const char* value = std::getenv("RESNET_CUDNN_GRAPH_BUDGET_MS");
  if (value != nullptr && *value != '\0') {
    char* end = nullptr;
    const double parsed = std::strtod(value, &end);
    if (end != value && parsed >= 0) return parsed == 0 ? HUGE_VAL : parsed;
  }
  return 30000;
}

// How far a graph plan's output may be from the legacy path's (relative L2 over the first and last image): both
// accumulate in FP32, but with other algorithms and, in 16-bit storage, other roundings of the output. A
// wrong binding or layout is off by O(1).
double graph_tolerance(Precision precision) {
  switch (precision) {
    case Precision::kFloat32: return 1e-4;
    case Precision::kTf32: return 1e-2;
    case Precision::kFloat16: return 1e-2;
    case Precision::kBFloat16: return 5e-2;
  }
  return 1e-4;
}

// Relative L2 distance of `actual` from `expected` (`count` elements of `storage`); NaN anywhere gives NaN.
double relative_l2(const std::vector<uint8_t>& actual, const std::vector<uint8_t>& expected, StorageType storage,
                   size_t count) {
  double num = 0, den = 0;
  for (size_t i = 0; i < count; ++i) {
    const double a = load(actual.data(), storage, static_cast<int64_t>(i));
    const double e = load(expected.data(), storage, static_cast<int64_t>(i));
    num += (a - e) * (a - e);
    den += e * e;
  }
  if (den == 0) return num == 0 ? 0 : std::sqrt(num);
  return std::sqrt(num / den);
}

}  // namespace

CudaExecutable::CudaExecutable(const CudnnLibrary& cudnn, int device, CudaPlan plan,
                               std::shared_ptr<const DeviceWeights> weights, bool shared_weights,
                               const CompileOptions& options)
    : api_(cudnn.api), device_(device), plan_(std::move(plan)), weights_(std::move(weights)),
      shared_weights_(shared_weights) {
  input_elements_ = static_cast<size_t>(plan_.batch * plan_.input_channels * plan_.input_h * plan_.input_w);
  for (int64_t elements : plan_.output_elements) {
    output_offsets_.push_back(output_bytes_);
    output_bytes_ += align_up(static_cast<size_t>(elements) * sizeof(float));
  }
  normalization_applies_to_ = options.normalization.enabled ? options.normalization.applies_to : 0u;
  normalize_ = normalization_applies_to_ != 0;
  scale_ = normalize_ ? options.normalization.scale : 1.0f;
}

CudaExecutable::~CudaExecutable() {
  // The lambda holds the only references, so the weights (when no other executable shares them) and the
  // normalisation constants are freed where it runs. The spare context releases itself the same way. The
  // graph API's plans go before the handle they were built with.
  GpuWorkers::instance().release(
      [weights = std::move(weights_),
       normalization = std::make_shared<DeviceBuffer>(std::move(normalization_)),
       layers = std::make_shared<std::vector<ConvLayer>>(std::move(layers_)),
       handle = std::make_shared<CudnnHandle>(std::move(build_handle_))]() mutable {
        weights.reset();
        normalization.reset();
        layers.reset();
        handle.reset();
      });
}

Result<std::shared_ptr<CudaExecutable>> CudaExecutable::create(const CudnnLibrary& cudnn, int device, CudaPlan plan,
                                                               std::shared_ptr<const DeviceWeights> weights,
                                                               bool shared_weights, const CompileOptions& options) {
  std::shared_ptr<CudaExecutable> executable(
      new CudaExecutable(cudnn, device, std::move(plan), std::move(weights), shared_weights, options));
  RESNET_RETURN_IF_ERROR(executable->build_layers());
  RESNET_RETURN_IF_ERROR(executable->upload_normalization(options.normalization));
  RESNET_ASSIGN_OR_RETURN(std::unique_ptr<CudaContext> scratch, executable->make_context(0));
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
  if (verbose()) std::fprintf(stderr, "%s\n", executable->describe().c_str());
  return executable;
}

Status CudaExecutable::build_layers() {
  layer_of_step_.assign(plan_.steps.size(), -1);
  for (size_t i = 0; i < plan_.steps.size(); ++i) {
    if (plan_.steps[i].kind != StepKind::kConv) continue;
    RESNET_ASSIGN_OR_RETURN(ConvLayer layer, describe_conv(api_, plan_, static_cast<int>(i)));
    layer_of_step_[i] = static_cast<int>(layers_.size());
    layers_.push_back(std::move(layer));
  }
  return Status();
}

Status CudaExecutable::upload_normalization(const InputNormalization& normalization) {
  if (!normalize_) return Status();
  const size_t channels = static_cast<size_t>(plan_.input_channels);
  RESNET_CHECK(normalization.mean.size() == channels && normalization.std.size() == channels,
               Code::kInvalidArgument,
               cat("Expected ", channels, " numbers (one per input channel) for options.normalization.mean and .std"));
  // The kernel multiplies by 1/std, computed here in float (kernel_args.h).
  std::vector<float> constants(normalization.mean);
  for (float deviation : normalization.std) constants.push_back(1.0f / deviation);
  RESNET_ASSIGN_OR_RETURN(normalization_, DeviceBuffer::allocate(device_, constants.size() * sizeof(float),
                                                                 "the input normalisation"));
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
  RESNET_ASSIGN_OR_RETURN(std::unique_ptr<CudaContext> context, CudaContext::create(api_, device_, context_sizes(workspace)));
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

void CudaExecutable::build_graph_plans(bool benchmark) {
  graph_api_ = graph_api_enabled();
  if (!graph_api_) {
    graph_off_reason_ = "RESNET_CUDNN_GRAPH=0";
    return;
  }
  // The graphs and plans keep the handle they were built with: one of the executable's own, which outlives
  // them (the contexts' handles may go first). Runs execute the plans through their context's handle.
  // Bound to the default stream, not to a context's: it may outlive every context, and runs never use it.
  Result<CudnnHandle> handle = CudnnHandle::create(api_, device_, nullptr);
  if (!handle.ok()) {
    cudaGetLastError();
    graph_api_ = false;
    graph_off_reason_ = cat("no cuDNN handle to build plans with: ", handle.status().message());
    return;
  }
  build_handle_ = handle.take();
  const size_t limit = graph_plan_limit(benchmark);
  const double budget_ms = graph_build_budget_ms();
  int over_budget = 0;
  // Identical conv graphs (the repeated blocks of a stage) share one set of plans: built once, finalized once.
  std::map<std::string, ConvGraphPlans> built;
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
      layer.graph_note = cat("not built: the graph plans' time budget (", static_cast<long>(budget_ms),
                             " ms, RESNET_CUDNN_GRAPH_BUDGET_MS) was spent");
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
  }
  if (over_budget > 0) {
    graph_budget_note_ = cat(over_budget, " conv(s) left on the legacy path: building plans took over ",
                             static_cast<long>(budget_ms), " ms (RESNET_CUDNN_GRAPH_BUDGET_MS)");
  }
  // Finalizing may have queued work on the build handle's (default) stream, which the contexts' non-blocking
  // streams are not ordered after; and it may have left a (non-sticky) error behind in the runtime, not the
  // next launch's to report.
  cudaStreamSynchronize(cudaStreamLegacy);
  cudaGetLastError();
  // Contexts hold the plans they may run, so that no plan (nor the kernels it compiled) goes before them.
  auto alive = std::make_shared<std::vector<ConvGraphPlan>>();
  for (const ConvLayer& layer : layers_) alive->insert(alive->end(), layer.graph_plans.begin(), layer.graph_plans.end());
  graph_plans_alive_ = std::move(alive);
}

Status CudaExecutable::fill_trial_input(CudaContext& scratch) {
  cudaStream_t stream = scratch.stream();
  // A zeroed arena, as every context starts with (create_context): the fused call without a residual passes y
  // as z with alpha2 = 0, and stale infinities read there would turn into NaN.
  if (plan_.arena_bytes > 0) {
    RESNET_CUDA_CHECK(cudaMemsetAsync(scratch.arena(), 0, plan_.arena_bytes, stream), "clearing the activations for the trial run");
  }
  RESNET_CUDA_CHECK(cudaMemsetAsync(scratch.input(), 0, input_bytes(InputType::kFloat32), stream),
                    "clearing the input for the trial run");
  // Real data where the graph plans are checked (the first and the last image), in [0, 1) like a decoded
  // image; a fixed sequence, so that compiles are repeatable.
  const size_t image = plan_.batch > 0 ? input_elements_ / static_cast<size_t>(plan_.batch) : 0;
  std::vector<float> values(image);
  uint32_t state = 0x9e3779b9u;
  for (float& value : values) {
    state = state * 1664525u + 1013904223u;
    value = static_cast<float>(state >> 8) / 16777216.0f;
  }
  for (size_t first : {size_t{0}, input_elements_ - image}) {
    if (image == 0) break;
    RESNET_CUDA_CHECK(cudaMemcpyAsync(static_cast<float*>(scratch.input()) + first, values.data(), image * sizeof(float),
                                      cudaMemcpyHostToDevice, stream),
                      "copying the trial run's input to the GPU");
  }
  // `values` is pageable memory the copies read from: wait before it goes.
  RESNET_CUDA_CHECK(cudaStreamSynchronize(stream), "copying the trial run's input to the GPU");
  return Status();
}

Status CudaExecutable::trial_run(CudaContext& scratch) {
  cudaStream_t stream = scratch.stream();
  for (size_t i = 0; i < plan_.steps.size(); ++i) {
    const int index = layer_of_step_[i];
    if (index < 0) {
      RESNET_RETURN_IF_ERROR(enqueue_step(scratch, i, InputFormat{}));
      continue;
    }
    ConvLayer& layer = layers_[static_cast<size_t>(index)];
    layer.mode = ConvMode::kUnfused;
    bool ran = false;
    if (layer.fusable) {
      const cudnnStatus_t status = call_fused(scratch, layer);
      if (status == cudnn::CUDNN_STATUS_SUCCESS) {
        layer.mode = ConvMode::kFused;
        ran = true;
      } else if (!refuses_configuration(status)) {
        return cudnn_error(api_, status, cat("the trial run of ", layer.name, " (fused convolution) at compile time"));
      } else {
        cudaGetLastError();  // whatever the refusal left behind must not be blamed on the next kernel launch
        layer.note = cat("unfused: cuDNN refused the fused call with ", algorithm_name(layer.fused_algo), " (",
                         api_.cudnnGetErrorString(status), ")");
      }
    }
    if (!ran) RESNET_RETURN_IF_ERROR(enqueue_conv(scratch, layer, ConvMode::kUnfused));
    layer.legacy_mode = layer.mode;
    if (!layer.graph_plans.empty()) RESNET_RETURN_IF_ERROR(verify_graph_plans(scratch, layer));
  }
  RESNET_CUDA_CHECK(cudaStreamSynchronize(stream), "the trial run of the forward pass at compile time");
  return Status();
}

Status CudaExecutable::graph_call_failed(CudaContext& context, const std::string& what) const {
  // Whatever a failed call left pending (a launch error of a runtime-compiled kernel, say) goes; then the
  // stream is drained: a sticky error there means the device is lost, anything else that this plan is not
  // usable here. The legacy path is known to work, so a plan that fails is dropped rather than fatal.
  cudaGetLastError();
  const cudaError_t synced = cudaStreamSynchronize(context.stream());
  if (synced != cudaSuccess && is_sticky(synced)) return cuda_error(synced, what);
  cudaGetLastError();
  return Status();
}

Status CudaExecutable::verify_graph_plans(CudaContext& scratch, ConvLayer& layer) {
  const Step& step = plan_.steps[static_cast<size_t>(layer.step)];
  const DeviceValue& out = plan_.values[static_cast<size_t>(step.dst)];
  // The first and the last image (NHWC, so each is contiguous): both got real input in the trial run.
  const size_t count = static_cast<size_t>(out.h * out.w * out.stored_channels);
  const size_t bytes = count * storage_bytes(plan_.storage);
  uint8_t* y = static_cast<uint8_t*>(value_pointer(scratch, step.dst));
  const size_t last = static_cast<size_t>(out.n - 1) * bytes;
  auto read_output = [&](std::vector<uint8_t>& host) -> Status {
    host.assign(2 * bytes, 0);
    for (size_t part = 0; part < 2; ++part) {
      RESNET_CUDA_CHECK(cudaMemcpyAsync(host.data() + part * bytes, y + (part == 0 ? 0 : last), bytes,
                                        cudaMemcpyDeviceToHost, scratch.stream()),
                        cat("reading the output of ", layer.name, " in the trial run"));
    }
    RESNET_CUDA_CHECK(cudaStreamSynchronize(scratch.stream()), cat("the trial run of ", layer.name));
    return Status();
  };
  std::vector<uint8_t> expected, actual;
  RESNET_RETURN_IF_ERROR(read_output(expected));
  std::vector<ConvGraphPlan> kept;
  std::string dropped;
  for (const ConvGraphPlan& plan : layer.graph_plans) {
    // Poison first (all-ones bytes are NaN in every storage type): a plan that writes nothing, or not
    // everywhere, cannot pass on what the legacy path left behind.
    RESNET_CUDA_CHECK(cudaMemsetAsync(y, 0xff, static_cast<size_t>(out.n) * bytes, scratch.stream()),
                      cat("poisoning the output of ", layer.name, " in the trial run"));
    const cudnnStatus_t status = call_graph(scratch, layer, plan);
    if (status != cudnn::CUDNN_STATUS_SUCCESS) {
      RESNET_RETURN_IF_ERROR(graph_call_failed(scratch, cat("the trial run of ", layer.name, " (graph API, ", plan.name(), ")")));
      dropped += cat("; ", plan.name(), " refused at run time (", api_.cudnnGetErrorString(status), ")");
      continue;
    }
    RESNET_RETURN_IF_ERROR(read_output(actual));
    const double error = relative_l2(actual, expected, plan_.storage, 2 * count);
    if (error <= graph_tolerance(plan_.precision)) {
      kept.push_back(plan);
    } else {
      dropped += cat("; ", plan.name(), " dropped: relative L2 ", error, " from the legacy path's output");
    }
  }
  layer.graph_plans = std::move(kept);
  if (!dropped.empty()) layer.graph_note += layer.graph_note.empty() ? dropped.substr(2) : dropped;
  if (!layer.graph_plans.empty()) layer.mode = ConvMode::kGraph;
  // The output as the chosen path computes it, for the steps after.
  return enqueue_conv(scratch, layer, layer.mode);
}

template <typename Enqueue>
Result<float> CudaExecutable::time_calls(CudaContext& context, const std::string& what, Enqueue&& enqueue) const {
  RESNET_ASSIGN_OR_RETURN(Event start, Event::create(device_));
  RESNET_ASSIGN_OR_RETURN(Event stop, Event::create(device_));
  RESNET_RETURN_IF_ERROR(enqueue());  // warm-up
  RESNET_CUDA_CHECK(cudaEventRecord(start.get(), context.stream()), "recording a timing event");
  for (int i = 0; i < kTimedCalls; ++i) RESNET_RETURN_IF_ERROR(enqueue());
  RESNET_CUDA_CHECK(cudaEventRecord(stop.get(), context.stream()), "recording a timing event");
  RESNET_CUDA_CHECK(cudaEventSynchronize(stop.get()), cat("timing ", what));
  float milliseconds = 0.0f;
  RESNET_CUDA_CHECK(cudaEventElapsedTime(&milliseconds, start.get(), stop.get()), "reading a timing event");
  return milliseconds / kTimedCalls;
}

Status CudaExecutable::time_paths(CudaContext& scratch) {
  // Measure rather than assume: the legacy fused call was slower than conv + separate bias on some cuDNN 8
  // releases (reference/cudnn.md §2.a), and the graph API's engines are new. The trial run left every value
  // computed, so each path sees real data. Identical conv graphs share their plans' timings.
  std::map<const void*, float> graph_timings;  // by execution plan (identical convs share plans)
  for (ConvLayer& layer : layers_) {
    auto legacy = [&](ConvMode mode) { return [&, mode]() { return enqueue_conv(scratch, layer, mode); }; };
    RESNET_ASSIGN_OR_RETURN(layer.unfused_ms, time_calls(scratch, layer.name, legacy(ConvMode::kUnfused)));
    if (layer.legacy_mode == ConvMode::kFused) {
      RESNET_ASSIGN_OR_RETURN(layer.fused_ms, time_calls(scratch, layer.name, legacy(ConvMode::kFused)));
      if (layer.unfused_ms < layer.fused_ms) {
        layer.legacy_mode = ConvMode::kUnfused;
        layer.note = "unfused: faster than the fused call when timed";
      }
    }
    const float legacy_ms = layer.legacy_mode == ConvMode::kFused ? layer.fused_ms : layer.unfused_ms;
    layer.mode = layer.legacy_mode;
    if (layer.graph_plans.empty()) continue;
    std::vector<ConvGraphPlan> timed_plans;
    for (ConvGraphPlan& plan : layer.graph_plans) {
      auto timed = graph_timings.find(plan.plan.get());
      if (timed == graph_timings.end()) {
        cudnnStatus_t failed = cudnn::CUDNN_STATUS_SUCCESS;
        auto call = [&]() {
          const cudnnStatus_t status = call_graph(scratch, layer, plan);
          if (status == cudnn::CUDNN_STATUS_SUCCESS) return Status();
          failed = status;
          return cudnn_error(api_, status, cat("timing ", layer.name, " (graph API)"));
        };
        Result<float> ms = time_calls(scratch, layer.name, call);
        if (!ms.ok() && failed == cudnn::CUDNN_STATUS_SUCCESS) return ms.status();  // a CUDA failure, not the plan's
        if (!ms.ok()) {
          RESNET_RETURN_IF_ERROR(graph_call_failed(scratch, cat("timing ", layer.name, " (graph API, ", plan.name(), ")")));
          layer.graph_note += cat(layer.graph_note.empty() ? "" : "; ", plan.name(), " failed when timed (",
                                  api_.cudnnGetErrorString(failed), ")");
          timed = graph_timings.emplace(plan.plan.get(), -1.0f).first;
        } else {
          timed = graph_timings.emplace(plan.plan.get(), ms.value()).first;
        }
      }
      if (timed->second < 0) continue;  // failed when timed (here or for an identical conv)
      plan.ms = timed->second;
      timed_plans.push_back(plan);
    }
    layer.graph_plans = std::move(timed_plans);
    if (layer.graph_plans.empty()) continue;
    std::stable_sort(layer.graph_plans.begin(), layer.graph_plans.end(),
                     [](const ConvGraphPlan& a, const ConvGraphPlan& b) { return a.ms < b.ms; });
    if (layer.graph_plans.front().ms < legacy_ms) layer.mode = ConvMode::kGraph;
  }
  return Status();
}

Result<std::string> CudaExecutable::try_capture(CudaContext& context, InputFormat format) const {
  cudaStream_t stream = context.stream();
  std::string why;
  // Thread-local mode: another worker's cudaMalloc (a concurrent compile) does not invalidate this capture.
  const cudaError_t begun = cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal);
  if (begun != cudaSuccess) {
    why = cat("cudaStreamBeginCapture failed: ", cudaGetErrorName(begun));
  } else {
    const Status enqueued = enqueue_forward(context, format);
    cudaGraph_t raw = nullptr;
    const cudaError_t ended = cudaStreamEndCapture(stream, &raw);
    const CapturedGraph graph(raw);
    if (!enqueued.ok()) {
      // Running out of memory fails this compile or run (the next may capture), not the capture's own limit.
      if (enqueued.code() == Code::kGpuOutOfMemory) {
        cudaGetLastError();
        return enqueued;
      }
      why = cat("a step could not be captured: ", enqueued.message());
    } else if (ended != cudaSuccess || raw == nullptr) {
      why = cat("cudaStreamEndCapture failed: ", cudaGetErrorName(ended));
    } else {
      cudaGraphExec_t exec = nullptr;
      const cudaError_t instantiated = cudaGraphInstantiate(&exec, raw, 0);
      if (instantiated == cudaSuccess) {
        context.graph(format) = GraphExec(exec, device_);
        return std::string();
      }
      if (instantiated == cudaErrorMemoryAllocation) {
        cudaGetLastError();
        return cuda_error(instantiated, "instantiating the captured forward pass");
      }
      why = cat("cudaGraphInstantiate failed: ", cudaGetErrorName(instantiated));
    }
  }
  cudaGetLastError();  // capture errors are not sticky; the next launch must not inherit them
  return why;
}

Status CudaExecutable::settle_workspace_and_capture(CudaContext& scratch) {
  auto settle = [&]() {
    workspace_bytes_ = 0;
    for (const ConvLayer& layer : layers_) workspace_bytes_ = std::max(workspace_bytes_, layer.mode_workspace());
    return scratch.resize_workspace(workspace_bytes_);
  };
  RESNET_RETURN_IF_ERROR(settle());
  std::vector<ConvLayer*> graph_layers;
  for (ConvLayer& layer : layers_) {
    if (layer.mode == ConvMode::kGraph) graph_layers.push_back(&layer);
  }
  if (graph_layers.empty()) return Status();
  // The first run captures the forward into a CUDA graph; an engine that cannot be captured would leave every
  // run eager. Find out now, while the legacy path can still take over. A capture may fail once for reasons
  // that say nothing about the next (see kCaptureAttempts), so the graph plans get two tries. (The graph
  // captured here, with the final workspace, serves the scratch context's float32 runs.)
  std::string why;
  for (int attempt = 0; attempt < 2; ++attempt) {
    RESNET_ASSIGN_OR_RETURN(why, try_capture(scratch, InputFormat{}));
    if (why.empty()) return Status();
  }
  for (ConvLayer* layer : graph_layers) layer->mode = layer->legacy_mode;
  RESNET_RETURN_IF_ERROR(settle());
  RESNET_ASSIGN_OR_RETURN(const std::string without, try_capture(scratch, InputFormat{}));
  if (without.empty()) {
    graph_capture_note_ = cat("the graph API's plans were not used: the forward could not be captured with them (", why, ")");
  } else {
    // Not the graph API's doing: the legacy path fails to capture too. Keep the faster plans; runs retry the
    // capture and, refused, launch eagerly (describe() says so).
    for (ConvLayer* layer : graph_layers) layer->mode = ConvMode::kGraph;
    RESNET_RETURN_IF_ERROR(settle());
    graph_capture_note_ = cat("the forward could not be captured with the graph API's plans (", why,
                              ") nor without them (", without, ")");
  }
  if (verbose()) std::fprintf(stderr, "CUDA executable on device %d: %s\n", device_, graph_capture_note_.c_str());
  return Status();
}

cudnnStatus_t CudaExecutable::call_fused(CudaContext& context, const ConvLayer& layer) const {
  const Step& step = plan_.steps[static_cast<size_t>(layer.step)];
  void* y = value_pointer(context, step.dst);
  const void* residual = step.residual >= 0 ? value_pointer(context, step.residual) : nullptr;
  // y = act(alpha1·conv(x) + alpha2·z + bias): z is the residual (alpha2 = 1), or y itself, unread (alpha2 = 0).
  const float alpha1 = 1.0f;
  const float alpha2 = residual ? 1.0f : 0.0f;
  return api_.cudnnConvolutionBiasActivationForward(
      context.handle(), &alpha1, layer.x.get(), value_pointer(context, step.src), layer.w.get(),
      weights_->blob() + step.filter_offset, layer.conv.get(), layer.fused_algo, context.workspace(),
      context.workspace_bytes(), &alpha2, layer.y.get(), residual ? residual : y, layer.bias.get(),
      weights_->fused_bias(step), layer.activation.get(), layer.y.get(), y);
}

cudnnStatus_t CudaExecutable::call_graph(CudaContext& context, const ConvLayer& layer, const ConvGraphPlan& plan) const {
  const Step& step = plan_.steps[static_cast<size_t>(layer.step)];
  ConvGraphBindings bindings;
  bindings.input = value_pointer(context, step.src);
  bindings.filter = weights_->blob() + step.filter_offset;
  bindings.bias = weights_->fused_bias(step);
  bindings.residual = step.residual >= 0 ? value_pointer(context, step.residual) : nullptr;
  bindings.output = value_pointer(context, step.dst);
  bindings.workspace = context.workspace();
  std::lock_guard<std::mutex> lock(graph_execute_mutex_);
  return execute_conv_graph(api_, context.handle(), plan, layer.graph, bindings);
}

Status CudaExecutable::enqueue_conv(CudaContext& context, const ConvLayer& layer, ConvMode mode) const {
  if (mode == ConvMode::kGraph) {
    RESNET_CHECK(!layer.graph_plans.empty(), Code::kBackend, cat(layer.name, " has no graph plan to run"));
    RESNET_CUDNN_CHECK(api_, call_graph(context, layer, layer.graph_plans.front()),
                       cat("running ", layer.name, " (graph API, ", layer.graph_plans.front().name(), ")"));
    return Status();
  }
  const Step& step = plan_.steps[static_cast<size_t>(layer.step)];
  const void* x = value_pointer(context, step.src);
  const void* w = weights_->blob() + step.filter_offset;
  void* y = value_pointer(context, step.dst);
  const void* residual = step.residual >= 0 ? value_pointer(context, step.residual) : nullptr;
  if (mode == ConvMode::kFused) {
    RESNET_CUDNN_CHECK(api_, call_fused(context, layer), cat("running ", layer.name, " (fused convolution)"));
    return Status();
  }
  const float one = 1.0f, zero = 0.0f;
  RESNET_CUDNN_CHECK(api_,
                     api_.cudnnConvolutionForward(context.handle(), &one, layer.x.get(), x, layer.w.get(), w,
                                                  layer.conv.get(), layer.algo, context.workspace(),
                                                  context.workspace_bytes(), &zero, layer.y.get(), y),
                     cat("running ", layer.name));
  const DeviceValue& out = plan_.values[static_cast<size_t>(step.dst)];
  EpilogueArgs epilogue;
  epilogue.y = y;
  epilogue.residual = residual;
  epilogue.bias = reinterpret_cast<const float*>(weights_->blob() + step.bias_offset);
  epilogue.storage = plan_.storage;
  epilogue.count = out.n * out.h * out.w * out.stored_channels;
  epilogue.stored_channels = out.stored_channels;
  epilogue.relu = step.relu;
  RESNET_CUDA_CHECK(launch_epilogue(epilogue, context.stream()), cat("launching the epilogue kernel of ", layer.name));
  return Status();
}

Status CudaExecutable::enqueue_step(CudaContext& context, size_t index, InputFormat format) const {
  const Step& step = plan_.steps[index];
  cudaStream_t stream = context.stream();
  switch (step.kind) {
    case StepKind::kInput: {
      const DeviceValue& value = plan_.values[static_cast<size_t>(step.dst)];
      InputConvertArgs args;
      args.src = context.input();
      args.src_format = format;
      args.dst = value_pointer(context, step.dst);
      args.storage = plan_.storage;
      args.n = plan_.batch;
      args.channels = plan_.input_channels;
      args.h = plan_.input_h;
      args.w = plan_.input_w;
      // The stem form's layout (cuda_plan.h's Step::block).
      args.out_h = value.h;
      args.out_w = value.w;
      args.stored_channels = value.stored_channels;
      args.block = step.block;
      args.pad_top = step.padding.h;
      args.pad_left = step.padding.w;
      if (normalization_applies_to_ >> static_cast<int>(format.type) & 1u) {
        args.scale = scale_;
        args.mean = normalization_.as<const float>();
        args.inv_std = args.mean + plan_.input_channels;
      }
      RESNET_CUDA_CHECK(launch_input_convert(args, stream), "launching the input conversion kernel");
      return Status();
    }
    case StepKind::kConv:
      return enqueue_conv(context, layers_[static_cast<size_t>(layer_of_step_[index])],
                          layers_[static_cast<size_t>(layer_of_step_[index])].mode);
    case StepKind::kMaxPool:
    case StepKind::kAdaptiveAvgPool: {
      const DeviceValue& in = plan_.values[static_cast<size_t>(step.src)];
      const DeviceValue& out = plan_.values[static_cast<size_t>(step.dst)];
      PoolArgs args;
      args.src = value_pointer(context, step.src);
      args.dst = value_pointer(context, step.dst);
      args.storage = plan_.storage;
      args.n = in.n;
      args.channels = in.stored_channels;
      args.in_h = in.h;
      args.in_w = in.w;
      args.out_h = out.h;
      args.out_w = out.w;
      args.kernel = step.kernel;
      args.stride = step.stride;
      args.padding = step.padding;
      args.dilation = step.dilation;
      if (step.kind == StepKind::kMaxPool) {
        RESNET_CUDA_CHECK(launch_maxpool(args, stream), cat("launching the max pool kernel of step ", index));
      } else {
        RESNET_CUDA_CHECK(launch_adaptive_avgpool(args, stream),
                          cat("launching the adaptive average pool kernel of step ", index));
      }
      return Status();
    }
    case StepKind::kAdd:
    case StepKind::kRelu: {
      const DeviceValue& out = plan_.values[static_cast<size_t>(step.dst)];
      ElementwiseArgs args;
      args.a = value_pointer(context, step.src);
      args.b = step.kind == StepKind::kAdd ? value_pointer(context, step.src2) : nullptr;
      args.dst = value_pointer(context, step.dst);
      args.storage = plan_.storage;
      args.count = out.n * out.h * out.w * out.stored_channels;
      args.relu = step.relu;
      RESNET_CUDA_CHECK(launch_elementwise(args, stream), cat("launching the elementwise kernel of step ", index));
      return Status();
    }
    case StepKind::kOutput: {
      const DeviceValue& value = plan_.values[static_cast<size_t>(step.src)];
      OutputConvertArgs args;
      args.src = value_pointer(context, step.src);
      args.storage = plan_.storage;
      args.dst = reinterpret_cast<float*>(context.outputs() + output_offsets_[static_cast<size_t>(step.output_index)]);
      args.n = value.n;
      args.channels = value.channels;
      args.h = value.h;
      args.w = value.w;
      args.stored_channels = value.stored_channels;
      RESNET_CUDA_CHECK(launch_output_convert(args, stream), cat("launching the output conversion of output ",
                                                                 step.output_index));
      return Status();
    }
  }
  return Status(Code::kBackend, cat("step ", index, " has an unknown kind"));
}

// The input's copy to the device is not part of it: run() issues it from the run's own (pinned) input
// buffer, whose address changes from run to run, ahead of the captured graph.
Status CudaExecutable::enqueue_forward(CudaContext& context, InputFormat format) const {
  cudaStream_t stream = context.stream();
  for (size_t i = 0; i < plan_.steps.size(); ++i) RESNET_RETURN_IF_ERROR(enqueue_step(context, i, format));
  if (output_bytes_ > 0) {
    RESNET_CUDA_CHECK(cudaMemcpyAsync(context.pinned_outputs(), context.outputs(), output_bytes_,
                                      cudaMemcpyDeviceToHost, stream),
                      "copying the outputs from the GPU");
  }
  return Status();
}

Status CudaExecutable::capture(CudaContext& context, InputFormat format) const {
  RESNET_ASSIGN_OR_RETURN(const std::string why, try_capture(context, format));
  if (why.empty()) return Status();
  const int index = input_format_index(format);
  std::lock_guard<std::mutex> lock(capture_note_mutex_);
  ++capture_failures_[index];
  capture_note_[index] = why;
  // Captures happen at the first run, after compile's describe(): say it when it happens.
  if (verbose()) {
    std::fprintf(stderr, "CUDA executable on device %d: %s input runs eagerly, capture failed: %s\n", device_,
                 input_format_name(format), why.c_str());
  }
  return Status();
}

void CudaExecutable::recover(CudaContext& context) const {
  cudaStreamCaptureStatus capturing = cudaStreamCaptureStatusNone;
  if (cudaStreamIsCapturing(context.stream(), &capturing) == cudaSuccess && capturing != cudaStreamCaptureStatusNone) {
    cudaGraph_t raw = nullptr;
    cudaStreamEndCapture(context.stream(), &raw);
    const CapturedGraph dropped(raw);
  }
  cudaStreamSynchronize(context.stream());  // what was queued before the failure finishes before the next run
  cudaGetLastError();
}

Result<std::unique_ptr<ExecutionContext>> CudaExecutable::create_context() const {
  {
    std::lock_guard<std::mutex> lock(spare_mutex_);
    if (spare_) return std::unique_ptr<ExecutionContext>(std::move(spare_));
  }
  RESNET_CUDA_CHECK(cudaSetDevice(device_), cat("making device ", device_, " current"));
  RESNET_ASSIGN_OR_RETURN(std::unique_ptr<CudaContext> context, make_context(workspace_bytes_));
  // One eager forward before the context's first capture: lazy initialisation inside cuDNN or the driver
  // (module loading, a handle's own buffers) would break a capture, and happens here instead.
  Status warmed = Status();
  // A zeroed arena: the fused call without a residual passes y as z with alpha2 = 0, and if cuDNN reads z
  // anyway, stale infinities would turn into NaN (inf·0).
  if (plan_.arena_bytes > 0) {
    const cudaError_t zeroed = cudaMemsetAsync(context->arena(), 0, plan_.arena_bytes, context->stream());
    if (zeroed != cudaSuccess) warmed = cuda_error(zeroed, "clearing the activations of a new execution context");
  }
  if (warmed.ok() && input_elements_ > 0) {
    const cudaError_t cleared =
        cudaMemsetAsync(context->input(), 0, input_bytes(InputType::kFloat32), context->stream());
    if (cleared != cudaSuccess) warmed = cuda_error(cleared, "clearing the input of a new execution context");
  }
  for (size_t i = 0; warmed.ok() && i < plan_.steps.size(); ++i) warmed = enqueue_step(*context, i, InputFormat{});
  if (warmed.ok()) {
    const cudaError_t synced = cudaStreamSynchronize(context->stream());
    if (synced != cudaSuccess) warmed = cuda_error(synced, "the warm-up run of a new execution context");
  }
  if (!warmed.ok()) {
    recover(*context);
    return warmed;
  }
  return std::unique_ptr<ExecutionContext>(std::move(context));
}

void CudaExecutable::release_pinned(PinnedBuffer block) {
  auto owned = std::make_shared<PinnedBuffer>(std::move(block));
  GpuWorkers::instance().release([owned]() mutable { owned.reset(); });
}

Result<std::unique_ptr<InputBuffer>> CudaExecutable::acquire_input(size_t bytes) const {
  Status failure;
  std::unique_ptr<InputBuffer> buffer = input_pool_->acquire(bytes, [&](size_t size) {
    Result<PinnedBuffer> pinned = PinnedBuffer::allocate(size, "a run's input");
    if (!pinned.ok()) {
      failure = pinned.status();
      return PinnedBuffer();
    }
    return pinned.take();
  });
  if (!buffer) return failure.ok() ? Status(Code::kOutOfMemory, cat("no host memory for a run's input (", bytes, " bytes)")) : failure;
  return buffer;
}

Status CudaExecutable::run(ExecutionContext& base, const HostInput& input, const std::vector<float*>& outputs,
                           RunStats* stats) const {
  auto& context = static_cast<CudaContext&>(base);
  RESNET_CHECK(input.bytes() == input_bytes(input.format.type) && outputs.size() == plan_.output_elements.size(),
               Code::kInvalidArgument,
               cat("a run needs ", input_bytes(input.format.type), " bytes of input and ", plan_.output_elements.size(),
                   " output arrays"));
  RESNET_CUDA_CHECK(cudaSetDevice(device_), cat("making device ", device_, " current"));
  // The kernel launchers report cudaGetLastError(): start from a clean slate (a sticky error stays anyway).
  cudaGetLastError();
  // Each segment by DMA from pinned memory (the run's staging, or memory lent to runs), end to end in the
  // device input; pageable memory works too, staged by the driver.
  size_t offset = 0;
  for (const InputSegment& segment : input.segments) {
    RESNET_CUDA_CHECK(cudaMemcpyAsync(static_cast<char*>(context.input()) + offset, segment.data, segment.bytes, cudaMemcpyHostToDevice,
                                      context.stream()),
                      "copying the input to the GPU");
    offset += segment.bytes;
  }
  const int index = input_format_index(input.format);
  format_used_[index] = true;
  GraphExec& graph = context.graph(input.format);
  // Captured work does not run: after capturing, the graph is launched (or, refused, the steps eagerly).
  Status status = !graph && capture_failures_[index] < kCaptureAttempts ? capture(context, input.format) : Status();
  // Timing marks around the forward itself (not the input's copy): what PyTorch's CUDA-event timings cover.
  if (status.ok()) {
    RESNET_CUDA_CHECK(cudaEventRecord(context.started(), context.stream()), "recording the run's start event");
  }
  if (status.ok() && graph) {
    const cudaError_t launched = cudaGraphLaunch(graph.get(), context.stream());
    if (launched != cudaSuccess) status = cuda_error(launched, "launching the captured forward pass");
  } else if (status.ok()) {
    status = enqueue_forward(context, input.format);
  }
  if (status.ok()) {
    const cudaError_t recorded = cudaEventRecord(context.finished(), context.stream());
    if (recorded != cudaSuccess) status = cuda_error(recorded, "recording the run's end event");
  }
  if (status.ok()) {
    const cudaError_t synced = cudaStreamSynchronize(context.stream());
    if (synced != cudaSuccess) status = cuda_error(synced, "running the forward pass on the GPU");
  }
  if (!status.ok()) {
    recover(context);
    return status;
  }
  if (stats) {
    float milliseconds = 0;
    if (cudaEventElapsedTime(&milliseconds, context.started(), context.finished()) == cudaSuccess) {
      stats->device_ms = milliseconds;
    } else {
      cudaGetLastError();
    }
  }
  for (size_t i = 0; i < outputs.size(); ++i) {
    std::memcpy(outputs[i], context.pinned_outputs() + output_offsets_[i],
                static_cast<size_t>(plan_.output_elements[i]) * sizeof(float));
  }
  return Status();
}

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
    for (int index = 0; index < kInputFormatCount; ++index) {
      if (index != 0 && !format_used_[index] && capture_failures_[index] == 0) continue;  // never run
      const InputFormat format{static_cast<InputType>(index / 2), static_cast<InputLayout>(index % 2)};
      text += cat(input_format_name(format), " input: ",
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
