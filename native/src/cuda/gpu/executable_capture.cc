// Capturing the forward into a context's CUDA graph: at compile time with the chosen paths (step 4 of
// cuda_executable.h, whose outcome is evidence for the graph plans), at each context's first run per input
// type, and the recovery of a context after a failed run.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>

#include "cuda/gpu/cuda_executable.h"
#include "cuda/gpu/cuda_graph.h"
#include "cuda/gpu/cuda_status.h"

namespace resnet {
namespace cuda {

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

Status CudaExecutable::settle_workspace(CudaContext& scratch) {
  workspace_bytes_ = 0;
  for (const ConvLayer& layer : layers_) workspace_bytes_ = std::max(workspace_bytes_, layer.mode_workspace());
  return scratch.resize_workspace(workspace_bytes_);
}

Status CudaExecutable::settle_workspace_and_capture(CudaContext& scratch) {
  RESNET_RETURN_IF_ERROR(settle_workspace(scratch));
  std::vector<ConvLayer*> graph_layers;
  for (ConvLayer& layer : layers_) {
    if (layer.choice.mode == ConvMode::kGraph) graph_layers.push_back(&layer);
  }
  if (graph_layers.empty()) return Status();
  auto record = [&](CaptureCheck check) {
    for (ConvLayer* layer : graph_layers) {
      layer->evidence.capture = check;
      apply_choice(*layer);
    }
  };
  // The first run captures the forward into a CUDA graph; an engine that cannot be captured would leave every
  // run eager. Find out now, while the legacy path can still take over. A capture may fail once for reasons
  // that say nothing about the next (see kCaptureAttempts), so the graph plans get two tries. (The graph
  // captured here, with the final workspace, serves the scratch context's float32 runs.)
  std::string why;
  for (int attempt = 0; attempt < 2; ++attempt) {
    RESNET_ASSIGN_OR_RETURN(why, try_capture(scratch, InputFormat{}));
    if (why.empty()) {
      record(CaptureCheck::kCaptured);
      return Status();
    }
  }
  record(CaptureCheck::kFailedWithPlans);
  RESNET_RETURN_IF_ERROR(settle_workspace(scratch));
  RESNET_ASSIGN_OR_RETURN(const std::string without, try_capture(scratch, InputFormat{}));
  if (without.empty()) {
    record(CaptureCheck::kFailedWithPlansOnly);
    graph_capture_note_ =
        cat("the graph API's plans were not used: the forward could not be captured with them (", why, ")");
  } else {
    // Not the graph API's doing: the legacy path fails to capture too. Keep the faster plans; runs retry the
    // capture and, refused, launch eagerly (describe() says so).
    record(CaptureCheck::kFailedEitherWay);
    RESNET_RETURN_IF_ERROR(settle_workspace(scratch));
    graph_capture_note_ = cat("the forward could not be captured with the graph API's plans (", why,
                              ") nor without them (", without, ")");
  }
  if (settings_.verbose)
    std::fprintf(stderr, "CUDA executable on device %d: %s\n", device_, graph_capture_note_.c_str());
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
  if (settings_.verbose) {
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

}  // namespace cuda
}  // namespace resnet
