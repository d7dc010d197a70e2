#include "cpu/cpu_backend.h"

#include <dnnl.hpp>

#include <mutex>
#include <string>

#include "cpu/cpu_executable.h"
#include "cpu/dnnl_guard.h"
#include "cpu/compute_lanes.h"
#include "cpu/cpu_features.h"
#include "cpu/lowering.h"
#include "cpu/weight_cache.h"

namespace resnet {
namespace {

const char* runtime_name(unsigned runtime) {
  switch (runtime) {
    case DNNL_RUNTIME_OMP: return "OpenMP";
    case DNNL_RUNTIME_TBB: return "TBB";
    case DNNL_RUNTIME_SEQ: return "sequential";
    case DNNL_RUNTIME_THREADPOOL: return "threadpool";
    default: return "other";
  }
}

// The implementation name of the first step that runs a oneDNN reference kernel, or null.
const char* reference_kernel(const Program& program) {
  for (const Step& step : program.steps) {
    if (!step.primitive) continue;  // the hand-written adaptive pool
    const char* impl = nullptr;
    if (dnnl_primitive_desc_query(step.primitive.get_primitive_desc(), dnnl_query_impl_info_str, 0, &impl) ==
            dnnl_success &&
        impl != nullptr && std::string(impl).rfind("ref", 0) == 0) {
      return impl;
    }
  }
  return nullptr;
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
        {"lowPrecisionIsas", low_precision_isas()},
        {"bfloat16", native_bfloat16(dnnl::get_effective_cpu_isa())},
    };
    return info;
  }

  bool supports(OpKind) const override { return true; }  // every op of graph.h

  Result<std::shared_ptr<Executable>> compile(PreparedGraph& graph, const CompileOptions& options) override {
    if (options.precision == Precision::kBFloat16) {
      Status native = check_bfloat16(dnnl::get_effective_cpu_isa());
      if (!native.ok()) return native;
    } else if (options.precision != Precision::kFloat32 && options.precision != Precision::kInt8) {
      return Status(Code::kUnsupported,
                    cat("the CPU backend runs float32, bfloat16 and int8 only, not ", precision_name(options.precision),
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
      if (options.precision == Precision::kBFloat16) {
        // bfloat16 is for speed: a primitive oneDNN could only run with its reference kernel would make it
        // slower than float32, so that graph is refused rather than run.
        if (const char* reference = reference_kernel(program)) {
          return Status(Code::kUnsupported, cat("bfloat16 on the CPU: oneDNN has only its reference kernel (",
                                                reference, ") for a step of this graph; use dtype 'float32'"));
        }
      }
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
