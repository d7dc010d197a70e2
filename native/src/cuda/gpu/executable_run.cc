// The executable's runs: contexts (the compile's scratch context first, then fresh ones warmed by one eager
// forward), pinned input buffers, and run() itself, which replays the context's captured forward.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstring>

#include "cuda/gpu/cuda_executable.h"
#include "cuda/gpu/cuda_status.h"
#include "cuda/gpu/gpu_workers.h"

namespace resnet {
namespace cuda {

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
  // Every block as large as the largest input (float32): runs copy parts of their input of any size (what
  // was not lent memory), and a pool of odd sizes would keep pinning and unpinning (cudaFreeHost syncs).
  const size_t block = std::max(bytes, input_bytes(InputType::kFloat32));
  std::unique_ptr<InputBuffer> buffer = input_pool_->acquire(block, [&](size_t size) {
    Result<PinnedBuffer> pinned = PinnedBuffer::allocate(size, "a run's input");
    if (!pinned.ok()) {
      failure = pinned.status();
      return PinnedBuffer();
    }
    return pinned.take();
  });
  if (!buffer)
    return failure.ok() ? Status(Code::kOutOfMemory, cat("no host memory for a run's input (", bytes, " bytes)"))
                        : failure;
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
  // From the first enqueue on, every failure goes through recover(): copies already queued must finish before
  // the run returns, since the caller then frees or reuses the memory they read.
  Status status;
  size_t offset = 0;
  for (const InputSegment& segment : input.segments) {
    const cudaError_t copied = cudaMemcpyAsync(static_cast<char*>(context.input()) + offset, segment.data,
                                               segment.bytes, cudaMemcpyHostToDevice, context.stream());
    if (copied != cudaSuccess) {
      status = cuda_error(copied, "copying the input to the GPU");
      break;
    }
    offset += segment.bytes;
  }
  const int index = input_format_index(input.format);
  format_used_[index] = true;
  GraphExec& graph = context.graph(input.format);
  // Captured work does not run: after capturing, the graph is launched (or, refused, the steps eagerly).
  if (status.ok() && !graph && capture_failures_[index] < kCaptureAttempts) status = capture(context, input.format);
  // Timing marks around the forward itself (not the input's copy): what PyTorch's CUDA-event timings cover.
  if (status.ok()) {
    const cudaError_t recorded = cudaEventRecord(context.started(), context.stream());
    if (recorded != cudaSuccess) status = cuda_error(recorded, "recording the run's start event");
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

}  // namespace cuda
}  // namespace resnet
