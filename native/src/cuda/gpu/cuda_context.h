// The per-run state of a CUDA executable (TensorRT's execution context): its own stream and cuDNN handle,
// the activation arena and the workspace, device staging for the input and the outputs, pinned host
// staging for the outputs (a run's input arrives pinned from the executable's pool), and the CUDA graph of a whole forward per input format, captured on first use. One run
// at a time uses a context; several contexts of one executable run concurrently.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <memory>
#include <string>

#include "backend.h"
#include "cuda/cudnn_api.h"
#include "cuda/gpu/cuda_graph.h"
#include "cuda/gpu/cuda_stream.h"
#include "cuda/gpu/cudnn_handles.h"
#include "cuda/gpu/device_memory.h"
#include "status.h"

namespace resnet {
namespace cuda {

/// The sizes a context allocates.
struct ContextSizes {
  size_t arena = 0;
  size_t workspace = 0;
  size_t input = 0;    // device input staging: batch·C·H·W·4 bytes (float32 or uint8 elements)
  size_t outputs = 0;  // every output as NCHW float32, each at an aligned offset
};

class CudaContext final : public ExecutionContext {
 public:
  /// Allocates everything on `device`. On failure whatever was allocated is freed, and an allocation
  /// failure is kGpuOutOfMemory naming the bytes a context needs in all.
  static Result<std::unique_ptr<CudaContext>> create(const CudnnApi& api, int device, const ContextSizes& sizes);

  /// Frees the device resources on a GPU worker (GpuWorkers::release): cudaFree and friends synchronise
  /// with the device, and a context may die on the JS thread (dispose, garbage collection).
  ~CudaContext() override;

  cudaStream_t stream() const { return resources_->stream.get(); }
  cudnn::cudnnHandle_t handle() const { return resources_->handle.get(); }
  uint8_t* arena() const { return resources_->arena.as<uint8_t>(); }
  void* workspace() const { return resources_->workspace.get(); }
  size_t workspace_bytes() const { return resources_->workspace.bytes(); }
  void* input() const { return resources_->input.get(); }
  uint8_t* outputs() const { return resources_->outputs.as<uint8_t>(); }
  uint8_t* pinned_outputs() const { return resources_->pinned_outputs.as<uint8_t>(); }

  /// Replaces the workspace (the compile-time scratch context grows or shrinks it once algorithms are known).
  Status resize_workspace(size_t bytes);

  /// Keeps `owner` (the executable's graph-API plans, whose kernels a captured graph may launch) alive until
  /// this context's graphs are gone.
  void keep_alive(std::shared_ptr<const void> owner) { resources_->kept_alive = std::move(owner); }

  cudaEvent_t started() const { return resources_->started.get(); }
  cudaEvent_t finished() const { return resources_->finished.get(); }

  /// The captured forward for `type`, empty until captured.
  GraphExec& graph(InputFormat format) { return resources_->graphs[input_format_index(format)]; }

 private:
  // Declaration order is destruction order reversed: graphs first, the handle before its stream.
  struct Resources {
    int device = -1;
    std::shared_ptr<const void> kept_alive;  // destroyed last: see keep_alive()
    Stream stream;
    CudnnHandle handle;
    DeviceBuffer arena, workspace, input, outputs;
    PinnedBuffer pinned_outputs;
    GraphExec graphs[kInputFormatCount];  // by input format (input_format_index)
    Event started, finished;              // around each run's device work, for RunStats::device_ms
  };

  CudaContext() = default;
  std::unique_ptr<Resources> resources_;
};

}  // namespace cuda
}  // namespace resnet
