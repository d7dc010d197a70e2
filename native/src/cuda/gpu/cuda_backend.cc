#include "cuda/gpu/cuda_backend.h"
#include "cuda/plan_fp8.h"

#include <cuda_runtime.h>

#include <mutex>

#include "cuda/cuda_plan.h"
#include "cuda/cudnn_loader.h"
#include "cuda/gpu/cuda_devices.h"
#include "cuda/gpu/cuda_executable.h"
#include "cuda/gpu/cuda_status.h"
#include "cuda/gpu/device_memory.h"
#include "cuda/gpu/device_weights.h"
#include "cuda/gpu/gpu_workers.h"

namespace resnet {
namespace cuda {
namespace {

// "9.1.0" from cuDNN 9's 10000·major + 100·minor + patch.
std::string cudnn_version_name(size_t version) {
  return cat(version / 10000, ".", version % 10000 / 100, ".", version % 100);
}

BackendInfo probe() {
  BackendInfo info;
  Result<int> count = cuda_device_count();
  if (!count.ok()) {
    info.reason = count.status().message();
    return info;
  }
  cudaDeviceProp properties{};
  const cudaError_t error = cudaGetDeviceProperties(&properties, 0);
  if (error != cudaSuccess) {
    cudaGetLastError();
    info.reason = cuda_error(error, "reading the properties of CUDA device 0").message();
    return info;
  }
  Result<const CudnnLibrary*> cudnn = load_cudnn();
  if (!cudnn.ok()) {
    info.reason = cudnn.status().message();
    return info;
  }
  int runtime = 0, driver = 0;
  cudaRuntimeGetVersion(&runtime);
  cudaDriverGetVersion(&driver);
  info.available = true;
  info.fields = {
      {"library", std::string("cuDNN")},
      {"version", cudnn_version_name(cudnn.value()->version)},
      {"cudnnPath", cudnn.value()->path},
      {"cudaRuntime", cuda_version_name(runtime)},
      {"driver", cuda_version_name(driver)},
      {"devices", static_cast<double>(count.value())},
      {"deviceName", std::string(properties.name)},
      {"computeCapability", cat(properties.major, ".", properties.minor)},
      {"memoryBytes", static_cast<double>(properties.totalGlobalMem)},
  };
  return info;
}

// Makes `device` current on this thread, or says why it cannot be used.
Status select_device(int device) {
  RESNET_ASSIGN_OR_RETURN(const int count, cuda_device_count());
  RESNET_CHECK(device >= 0 && device < count, Code::kNoGpu,
               cat("CUDA device ", device, " does not exist: this process sees ", count, " CUDA device",
                   count == 1 ? "" : "s", " (", count == 1 ? std::string("cuda:0") : cat("cuda:0 to cuda:", count - 1),
                   "); check CUDA_VISIBLE_DEVICES, or pick another device"));
  RESNET_CUDA_CHECK(cudaSetDevice(device), cat("making CUDA device ", device, " current"));
  cudaGetLastError();  // the kernel launchers report cudaGetLastError(): no stale error may linger
  return Status();
}

// OK when `device` runs FP8 convolutions (int8 graphs), else plan_fp8.h's kUnsupported naming its capability.
Status check_fp8_device(int device) {
  int major = 0, minor = 0;
  RESNET_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device),
                    "reading the device's compute capability");
  RESNET_CUDA_CHECK(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device),
                    "reading the device's compute capability");
  return fp8_device_support(major, minor);
}

class CudaBackend final : public Backend {
 public:
  const char* name() const override { return "cuda"; }

  // Called on the JS thread: the probe (driver, devices, cuDNN's loader) runs once and is cached.
  BackendInfo info() const override {
    std::call_once(info_once_, [this] { info_ = probe(); });
    return info_;
  }

  bool supports(OpKind) const override { return true; }  // every op of graph.h

  Result<std::shared_ptr<Executable>> compile(PreparedGraph& graph, const CompileOptions& options) override {
    RESNET_RETURN_IF_ERROR(select_device(options.device));
    if (options.precision == Precision::kInt8) {
      RESNET_RETURN_IF_ERROR(check_fp8_device(options.device));
      // Planned (plan_fp8.h: FP8 convs, storages, conversions; conv_graph_plan.h: their cuDNN graphs) and
      // tested without a GPU; the executable does not yet build FP8 layers (graph plans only, no legacy path to
      // check them against), so an int8 graph stops here rather than run wrong.
      return Status(Code::kUnsupported,
                    "the CUDA backend plans int8 graphs as FP8 convolutions but does not run them yet; use dtype "
                    "'int8' on the CPU, or 'float16' on the GPU");
    }
    RESNET_ASSIGN_OR_RETURN(const CudnnLibrary* cudnn, load_cudnn());
    RESNET_ASSIGN_OR_RETURN(CudaPlan plan, plan_cuda(graph.graph(), options.batch, options.precision));
    auto cache = graph.backend_state<DeviceWeightCache>(this, [] { return std::make_shared<DeviceWeightCache>(); });
    bool shared = false;
    RESNET_ASSIGN_OR_RETURN(std::shared_ptr<const DeviceWeights> weights,
                            cache->get(graph.graph(), plan, options.device, &shared));
    RESNET_ASSIGN_OR_RETURN(std::shared_ptr<CudaExecutable> executable,
                            CudaExecutable::create(*cudnn, options.device, std::move(plan), std::move(weights), shared,
                                                   options));
    return std::shared_ptr<Executable>(std::move(executable));
  }

  Result<HostMemory> allocate_host(size_t bytes, int device) override {
    RESNET_RETURN_IF_ERROR(select_device(device));
    RESNET_ASSIGN_OR_RETURN(PinnedBuffer pinned, PinnedBuffer::allocate(bytes, "input memory"));
    void* data = pinned.get();
    // Freed on a GPU worker: cudaFreeHost synchronises with the device, and the last reference may go in a
    // JS finalizer.
    auto owner = std::make_shared<PinnedBuffer>(std::move(pinned));
    return HostMemory(data,
                      [owner](void*) mutable { GpuWorkers::instance().release([owner]() mutable { owner.reset(); }); });
  }

  Result<HostPin> pin_host(void* data, size_t bytes, int device) override {
    RESNET_RETURN_IF_ERROR(select_device(device));
    HostPin pin;
    const cudaError_t error = cudaHostRegister(data, bytes, cudaHostRegisterPortable);
    if (error != cudaSuccess) {
      // Still usable: copies from pageable memory work, staged by the driver (slower, synchronous).
      cudaGetLastError();
      pin.note = cat("cudaHostRegister refused it (", cudaGetErrorString(error), "); runs read it unpinned");
      return pin;
    }
    pin.pinned = true;
    // Undone where the last holder lets go (the registration's dispose on the JS thread, or the end of the last
    // run that read it on a GPU worker), synchronously: the caller may unmap or free the memory right after
    // (a shared-memory region), and an unregister that came later would meet another mapping at that address.
    pin.undo = std::shared_ptr<void>(data, [device](void* registered) {
      cudaSetDevice(device);
      cudaHostUnregister(registered);
      cudaGetLastError();
    });
    return pin;
  }

  void attach(const void* client) override { GpuWorkers::instance().attach(client); }
  void submit(const void* client, JobShape /*shape*/, Work work) override {
    GpuWorkers::instance().submit(client, std::move(work));
  }
  void detach(const void* client) override { GpuWorkers::instance().detach(client); }

 private:
  mutable std::once_flag info_once_;
  mutable BackendInfo info_;
};

}  // namespace
}  // namespace cuda

Backend* cuda_backend() {
  static Backend* backend = new cuda::CudaBackend();  // leaked like its workers: no work outlives it
  return backend;
}

}  // namespace resnet
