#include "cuda/gpu/cuda_context.h"

#include "cuda/gpu/gpu_workers.h"

namespace resnet {
namespace cuda {

Result<std::unique_ptr<CudaContext>> CudaContext::create(const CudnnApi& api, int device, const ContextSizes& sizes) {
  std::unique_ptr<CudaContext> context(new CudaContext());
  context->resources_ = std::make_unique<Resources>();
  Resources& r = *context->resources_;
  r.device = device;
  const size_t total = sizes.arena + sizes.workspace + sizes.input + sizes.outputs;
  const auto what = [&](const char* part) {
    return cat("the ", part, " of an execution context (", total, " bytes in all: activations ", sizes.arena,
               ", workspace ", sizes.workspace, ", input ", sizes.input, ", outputs ", sizes.outputs, ")");
  };
  RESNET_ASSIGN_OR_RETURN(r.stream, Stream::create(device));
  RESNET_ASSIGN_OR_RETURN(r.handle, CudnnHandle::create(api, device, r.stream.get()));
  RESNET_ASSIGN_OR_RETURN(r.started, Event::create(device));
  RESNET_ASSIGN_OR_RETURN(r.finished, Event::create(device));
  RESNET_ASSIGN_OR_RETURN(r.arena, DeviceBuffer::allocate(device, sizes.arena, what("activations")));
  RESNET_ASSIGN_OR_RETURN(r.workspace, DeviceBuffer::allocate(device, sizes.workspace, what("workspace")));
  RESNET_ASSIGN_OR_RETURN(r.input, DeviceBuffer::allocate(device, sizes.input, what("input staging")));
  RESNET_ASSIGN_OR_RETURN(r.outputs, DeviceBuffer::allocate(device, sizes.outputs, what("output staging")));
  RESNET_ASSIGN_OR_RETURN(r.pinned_outputs, PinnedBuffer::allocate(sizes.outputs, "the outputs' pinned staging"));
  return context;
}

CudaContext::~CudaContext() {
  if (!resources_) return;
  // The lambda holds the only reference, so the resources die where it runs.
  GpuWorkers::instance().release(
      [resources = std::shared_ptr<Resources>(std::move(resources_))]() mutable { resources.reset(); });
}

Status CudaContext::resize_workspace(size_t bytes) {
  Resources& r = *resources_;
  if (bytes == r.workspace.bytes()) return Status();
  r.workspace = DeviceBuffer();  // freed first, so that the device needs room for the new one only
  RESNET_ASSIGN_OR_RETURN(r.workspace,
                          DeviceBuffer::allocate(r.device, bytes, "the workspace of an execution context"));
  return Status();
}

}  // namespace cuda
}  // namespace resnet
