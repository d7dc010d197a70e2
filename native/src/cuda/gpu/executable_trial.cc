// Steps 2 and 3 of compiling (cuda_executable.h): the trial run, which finds out whether cuDNN runs each conv's
// fused call and how far each graph plan's output is from the legacy path's, and with `benchmark` the timing
// of every path. Both only gather evidence (ConvLayer::evidence); conv_path_choice.h decides.
#include <cuda_runtime.h>

#include <cmath>
#include <map>

#include "cuda/gpu/cuda_executable.h"
#include "cuda/gpu/cuda_status.h"
#include "cuda/gpu/cuda_stream.h"
#include "cuda/kernel_math.h"

namespace resnet {
namespace cuda {
namespace {

using cudnn::cudnnStatus_t;

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

// Calls of the benchmark's fused/unfused comparison, after one warm-up call.
constexpr int kTimedCalls = 5;

}  // namespace

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

Status CudaExecutable::fill_trial_input(CudaContext& scratch) {
  cudaStream_t stream = scratch.stream();
  // A zeroed arena, as every context starts with (create_context): the fused call without a residual passes y
  // as z with alpha2 = 0, and stale infinities read there would turn into NaN.
  if (plan_.arena_bytes > 0) {
    RESNET_CUDA_CHECK(cudaMemsetAsync(scratch.arena(), 0, plan_.arena_bytes, stream),
                      "clearing the activations for the trial run");
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
    RESNET_CUDA_CHECK(cudaMemcpyAsync(static_cast<float*>(scratch.input()) + first, values.data(),
                                      image * sizeof(float), cudaMemcpyHostToDevice, stream),
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
    ConvPathEvidence& evidence = layer.evidence;
    evidence.fused_algorithm = algorithm_name(layer.fused_algo);
    if (!layer.fusable) {
      evidence.fused = FusedTrial::kNotFusable;
      evidence.fused_why = layer.unfusable;
    } else {
      const cudnnStatus_t status = call_fused(scratch, layer);
      if (status == cudnn::CUDNN_STATUS_SUCCESS) {
        evidence.fused = FusedTrial::kRan;
      } else if (!refuses_configuration(status)) {
        return cudnn_error(api_, status, cat("the trial run of ", layer.name, " (fused convolution) at compile time"));
      } else {
        cudaGetLastError();  // whatever the refusal left behind must not be blamed on the next kernel launch
        evidence.fused = FusedTrial::kRefused;
        evidence.fused_why = api_.cudnnGetErrorString(status);
      }
    }
    apply_choice(layer);  // the legacy path: no graph plan has run yet
    // The fused call wrote the output when it ran; otherwise conv + epilogue does.
    if (evidence.fused != FusedTrial::kRan) RESNET_RETURN_IF_ERROR(enqueue_conv(scratch, layer, ConvMode::kUnfused));
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

Status CudaExecutable::read_first_and_last(CudaContext& context, int value, std::vector<uint8_t>* host) const {
  const DeviceValue& out = plan_.values[static_cast<size_t>(value)];
  const size_t bytes = static_cast<size_t>(out.h * out.w * out.stored_channels) * storage_bytes(plan_.storage);
  const uint8_t* y = static_cast<const uint8_t*>(value_pointer(context, value));
  const size_t last = static_cast<size_t>(out.n - 1) * bytes;
  host->assign(2 * bytes, 0);
  for (size_t part = 0; part < 2; ++part) {
    RESNET_CUDA_CHECK(cudaMemcpyAsync(host->data() + part * bytes, y + (part == 0 ? 0 : last), bytes,
                                      cudaMemcpyDeviceToHost, context.stream()),
                      cat("reading value ", value, " at compile time"));
  }
  RESNET_CUDA_CHECK(cudaStreamSynchronize(context.stream()), cat("reading value ", value, " at compile time"));
  return Status();
}

Status CudaExecutable::verify_graph_plans(CudaContext& scratch, ConvLayer& layer) {
  const Step& step = plan_.steps[static_cast<size_t>(layer.step)];
  const DeviceValue& out = plan_.values[static_cast<size_t>(step.dst)];
  // The first and the last image (NHWC, so each is contiguous): both got real input in the trial run.
  const size_t count = static_cast<size_t>(out.h * out.w * out.stored_channels);
  const size_t bytes = count * storage_bytes(plan_.storage);
  uint8_t* y = static_cast<uint8_t*>(value_pointer(scratch, step.dst));
  auto read_output = [&](std::vector<uint8_t>& host) { return read_first_and_last(scratch, step.dst, &host); };
  std::vector<uint8_t> expected, actual;
  RESNET_RETURN_IF_ERROR(read_output(expected));
  for (size_t p = 0; p < layer.graph_plans.size(); ++p) {
    const ConvGraphPlan& plan = layer.graph_plans[p];
    GraphPlanEvidence& found = layer.evidence.plans[p];
    // Poison first (all-ones bytes are NaN in every storage type): a plan that writes nothing, or not
    // everywhere, cannot pass on what the legacy path left behind.
    RESNET_CUDA_CHECK(cudaMemsetAsync(y, 0xff, static_cast<size_t>(out.n) * bytes, scratch.stream()),
                      cat("poisoning the output of ", layer.name, " in the trial run"));
    const cudnnStatus_t status = call_graph(scratch, layer, plan);
    if (status != cudnn::CUDNN_STATUS_SUCCESS) {
      RESNET_RETURN_IF_ERROR(
          graph_call_failed(scratch, cat("the trial run of ", layer.name, " (graph API, ", plan.name(), ")")));
      found.trial = PlanTrial::kRefused;
      found.refusal = api_.cudnnGetErrorString(status);
      continue;
    }
    RESNET_RETURN_IF_ERROR(read_output(actual));
    found.trial = PlanTrial::kRan;
    found.relative_error = relative_l2(actual, expected, plan_.storage, 2 * count);
  }
  apply_choice(layer);
  // The output as the chosen path computes it, for the steps after.
  return enqueue_conv(scratch, layer, layer.choice.mode);
}

Result<float> CudaExecutable::time_calls(CudaContext& context, const std::string& what,
                                         const std::function<Status()>& enqueue) const {
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
  // computed, so each path sees real data. Timed: conv + epilogue, the fused call where the trial ran it, and
  // the graph plans the trial kept.
  std::map<const void*, float> graph_timings;  // by execution plan (identical convs share plans): ms, -1 failed
  for (ConvLayer& layer : layers_) {
    ConvPathEvidence& evidence = layer.evidence;
    auto legacy = [&](ConvMode mode) { return [&, mode]() { return enqueue_conv(scratch, layer, mode); }; };
    RESNET_ASSIGN_OR_RETURN(evidence.unfused_ms, time_calls(scratch, layer.name, legacy(ConvMode::kUnfused)));
    if (layer.choice.legacy_mode == ConvMode::kFused) {
      RESNET_ASSIGN_OR_RETURN(evidence.fused_ms, time_calls(scratch, layer.name, legacy(ConvMode::kFused)));
    }
    for (int p : layer.choice.ranked) {
      const ConvGraphPlan& plan = layer.graph_plans[static_cast<size_t>(p)];
      GraphPlanEvidence& found = evidence.plans[static_cast<size_t>(p)];
      auto timed = graph_timings.find(plan.plan.get());
      if (timed != graph_timings.end()) {  // timed for an identical conv
        found.timing = timed->second < 0 ? PlanTiming::kFailedForIdenticalConv : PlanTiming::kTimed;
        if (timed->second >= 0) found.ms = timed->second;
        continue;
      }
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
        RESNET_RETURN_IF_ERROR(
            graph_call_failed(scratch, cat("timing ", layer.name, " (graph API, ", plan.name(), ")")));
        found.timing = PlanTiming::kFailed;
        found.timing_failure = api_.cudnnGetErrorString(failed);
        graph_timings.emplace(plan.plan.get(), -1.0f);
      } else {
        found.timing = PlanTiming::kTimed;
        found.ms = ms.value();
        graph_timings.emplace(plan.plan.get(), ms.value());
      }
    }
    apply_choice(layer);
  }
  return Status();
}

}  // namespace cuda
}  // namespace resnet
