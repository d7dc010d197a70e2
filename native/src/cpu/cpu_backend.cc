#include "cpu/cpu_backend.h"

#include <dnnl.hpp>

#include <mutex>

#include "cpu/cpu_executable.h"
#include "cpu/dnnl_guard.h"
#include "cpu/compute_lanes.h"
#include "cpu/lowering.h"
#include "cpu/weight_cache.h"

namespace resnet {
namespace {

const char* isa_name(dnnl::cpu_isa isa) {
  switch (isa) {
    case dnnl::cpu_isa::sse41: return "sse41";
    case dnnl::cpu_isa::avx: return "avx";
    case dnnl::cpu_isa::avx2: return "avx2";
    case dnnl::cpu_isa::avx2_vnni: return "avx2_vnni";
    case dnnl::cpu_isa::avx512_mic: return "avx512_mic";
    case dnnl::cpu_isa::avx512_mic_4ops: return "avx512_mic_4ops";
    case dnnl::cpu_isa::avx512_core: return "avx512_core";
    case dnnl::cpu_isa::avx512_core_vnni: return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core_bf16: return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_amx: return "avx512_core_amx";
    default: return "generic";
  }
}

const char* runtime_name(unsigned runtime) {
  switch (runtime) {
    case DNNL_RUNTIME_OMP: return "OpenMP";
    case DNNL_RUNTIME_TBB: return "TBB";
    case DNNL_RUNTIME_SEQ: return "sequential";
    case DNNL_RUNTIME_THREADPOOL: return "threadpool";
    default: return "other";
  }
}

class CpuBackend final : public Backend {
 public:
  const char* name() const override { return "cpu"; }

  BackendInfo info() const override {
    const dnnl_version_t* version = dnnl_version();
    BackendInfo info;
    info.available = true;
    info.fields = {
        {"library", std::string("oneDNN")},
        {"version", cat(version->major, ".", version->minor, ".", version->patch)},
        {"isa", std::string(isa_name(dnnl::get_effective_cpu_isa()))},
        {"threads", static_cast<double>(ComputeLanes::available_cpus())},
        {"runtime", std::string(runtime_name(version->cpu_runtime))},
    };
    return info;
  }

  bool supports(OpKind) const override { return true; }  // every op of graph.h

  Result<std::shared_ptr<Executable>> compile(PreparedGraph& graph, const CompileOptions& options) override {
    if (options.precision != Precision::kFloat32 && options.precision != Precision::kInt8) {
      return Status(Code::kUnsupported,
                    cat("the CPU backend runs float32 and int8 only, not ", precision_name(options.precision),
                        "; use dtype 'float32' on the CPU, or device 'cuda' for ", precision_name(options.precision)));
    }
    if (options.precision == Precision::kInt8 && !is_quantized(graph.graph())) {
      return Status(
          Code::kUnsupported,
          "precision int8 needs a quantized graph: quantize the model first (quantize(model, { calibration }))");
    }
    std::shared_ptr<Executable> executable;
    Status status = dnnl_guard("compiling the graph for oneDNN", [&] {
      auto weights = graph.backend_state<WeightCache>(this, [] { return std::make_shared<WeightCache>(); });
      Program program = lower_graph(graph.graph(), options.batch, options.precision, engine(), *weights);
      executable = std::make_shared<CpuExecutable>(engine(), std::move(program), options.normalization);
      return Status();
    });
    if (!status.ok()) return status;
    return executable;
  }

  Result<HostMemory> allocate_host(size_t bytes, int /*device*/) override {
    auto block = std::make_shared<HeapBlock>(bytes);
    if (block->get() == nullptr) {
      return Status(Code::kOutOfMemory,
                    cat("out of memory for ", bytes, " bytes of input memory; use a smaller batch"));
    }
    // Aliasing constructor: the pointer is the block's memory, the ownership the block's.
    return HostMemory(block, block->get());
  }

  Result<HostPin> pin_host(void*, size_t, int) override { return HostPin{}; }  // the CPU reads any memory

  void attach(const void* client) override { ComputeLanes::instance().attach(client); }
  void submit(const void* client, JobShape shape, Work work) override {
    ComputeLanes::instance().submit(client, shape, std::move(work));
  }
  void detach(const void* client) override { ComputeLanes::instance().detach(client); }

 private:
  // One engine for the process, made on first use (on a lane).
  const dnnl::engine& engine() {
    std::call_once(engine_once_, [&] { engine_ = dnnl::engine(dnnl::engine::kind::cpu, 0); });
    return engine_;
  }

  std::once_flag engine_once_;
  dnnl::engine engine_;
};

}  // namespace

Backend* cpu_backend() {
  static CpuBackend* backend = new CpuBackend();  // leaked like the lanes: no work outlives it
  return backend;
}

}  // namespace resnet
