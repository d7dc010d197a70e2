// The one interface every backend implements (ggml's split): compile a PreparedGraph for a batch size into
// an Executable that holds the weights in the backend's layout (shared with the other executables of
// that PreparedGraph where the layouts agree); execution contexts hold the per-run state
// (activation memory, staging); a run entry; and which ops the backend supports. Backends also say where
// their work runs, since "off the JS thread" means a different place for each (the CPU lane, a CUDA
// stream's host thread).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "cuda/cuda_settings.h"
#include "graph.h"
#include "host_input.h"
#include "host_memory.h"
#include "input_buffer.h"
#include "status.h"

namespace resnet {

/// Arithmetic of a compiled graph.
enum class Precision {
  kFloat32,   // float storage and math, TF32 off (tensor cores not used for float math)
  kTf32,      // float storage, TF32 tensor-core math allowed
  kFloat16,   // half storage (activations and weights), float accumulation
  kBFloat16,  // bfloat16 storage, float accumulation
  kInt8,      // a quantized graph's convs in 8-bit integers (lib/compile/graph.ts), the rest in float32
};

/// "float32", "tf32", "float16", "bfloat16", "int8".
const char* precision_name(Precision precision);

/// What compile() needs besides the graph.
struct CompileOptions {
  int64_t batch = 1;
  /// Threads for this executable's runs; 0 picks the backend's default (CPU).
  int threads = 0;
  /// Device ordinal (CUDA).
  int device = 0;
  Precision precision = Precision::kFloat32;
  /// Time candidate algorithms when compiling and keep the fastest (torch.backends.cudnn.benchmark);
  /// otherwise the library's heuristics choose (CUDA).
  bool benchmark = false;
  /// Applied to every run's input before the first op.
  InputNormalization normalization;
  /// The CUDA backend's graph-API and verbosity knobs: the environment's, unless the compile's `cudnn`
  /// option overrides them (the CPU backend ignores them).
  cuda::CudaSettings cudnn = cuda::cuda_settings_from_environment();
};

/// How a queued job shares the backend's compute threads (CPU; the CUDA backend's host threads ignore it).
struct JobShape {
  /// Compute threads for the job; 0 takes the backend's default (all the CPUs). Jobs whose threads add up
  /// to at most the CPUs run side by side.
  int threads = 0;
  /// Runs with nothing beside it (compiles: they update weights that other executables share).
  bool exclusive = false;
};

class Backend;

/// A validated graph whose weights crossed into native memory once (TensorRT's engine/context split one
/// level up): every executable compiled from it, for any batch size, may share what its backend derives
/// from the weights. Immutable but for the backends' states; thread-safe. Executables never point back
/// to it, so it may die while they live.
class PreparedGraph {
 public:
  explicit PreparedGraph(Graph graph) : graph_(std::move(graph)) {}
  PreparedGraph(const PreparedGraph&) = delete;
  PreparedGraph& operator=(const PreparedGraph&) = delete;

  const Graph& graph() const { return graph_; }

  /// What `backend` keeps for this graph (for the CPU backend, its cache of reordered weights), made by
  /// `make` on the first call for that backend.
  template <typename State, typename Make>
  std::shared_ptr<State> backend_state(const Backend* backend, Make make) {
    std::lock_guard<std::mutex> lock(mutex_);
    std::shared_ptr<void>& state = states_[backend];
    if (!state) state = make();
    return std::static_pointer_cast<State>(state);
  }

 private:
  const Graph graph_;
  std::mutex mutex_;
  std::map<const Backend*, std::shared_ptr<void>> states_;
};

/// What a run measured, where the backend can tell.
struct RunStats {
  /// Milliseconds the device spent on the forward pass (CUDA: from the input on the device to the outputs
  /// copied back, timed with CUDA events); -1 where not measured (the CPU backend).
  double device_ms = -1;
};

/// Per-run state: activation memory, workspace, staging. One run at a time uses a context.
class ExecutionContext {
 public:
  virtual ~ExecutionContext() = default;
};

/// A compiled graph: the weights in the backend's layout (shared, read-only) and the plan for a run.
/// Thread-safe for concurrent runs on distinct contexts (TensorRT's engine/context split).
class Executable {
 public:
  virtual ~Executable() = default;
  /// Bytes of weights held in the backend's layout (shared ones included).
  virtual size_t weight_bytes() const = 0;
  /// Of weight_bytes(), those an earlier executable of the same PreparedGraph had already placed in the
  /// same layout and this one shares rather than copies (0 for a graph compiled on its own).
  virtual size_t shared_weight_bytes() const = 0;
  /// Bytes of activation memory (arena and workspace) each context holds.
  virtual size_t activation_bytes() const = 0;
  /// A fresh context for runs of this executable.
  virtual Result<std::unique_ptr<ExecutionContext>> create_context() const = 0;
  /// A buffer of `bytes` for one run's input, from this executable's pool (pinned memory for CUDA). Any
  /// thread. kOutOfMemory when none can be had.
  virtual Result<std::unique_ptr<InputBuffer>> acquire_input(size_t bytes) const = 0;
  /// Runs the forward pass: `input` is N·C·H·W elements in its format, as segments that stay valid until the run
  /// returns (copied into the executable's staging, or memory lent to runs: host_memory.h); `outputs[i]` receives graph
  /// output i as plain row-major floats (NCHW or [N, F]). Blocks until done; call it where the backend's
  /// scheduler runs work. A failed run leaves the executable and the context usable.
  virtual Status run(ExecutionContext& context, const HostInput& input, const std::vector<float*>& outputs,
                     RunStats* stats = nullptr) const = 0;
  /// What compiling chose, for humans (the CUDA backend: each conv's path, algorithm or engine, and timings);
  /// empty where a backend has nothing to report.
  virtual std::string describe() const { return std::string(); }
};

/// One value of a backend's self-description in info().
using InfoValue = std::variant<bool, double, std::string, std::vector<std::string>>;

/// A backend's self-description: `{ available, …fields }` or `{ available: false, reason }`.
struct BackendInfo {
  bool available = false;
  std::string reason;
  std::vector<std::pair<std::string, InfoValue>> fields;
};

/// A compute backend.
class Backend {
 public:
  virtual ~Backend() = default;

  /// "cpu", "cuda".
  virtual const char* name() const = 0;
  virtual BackendInfo info() const = 0;
  virtual bool supports(OpKind kind) const = 0;

  /// Compiles a validated graph. Runs where submit() runs work (primitive creation may depend on it).
  /// The executable may share weight memory with others compiled from the same `graph`.
  virtual Result<std::shared_ptr<Executable>> compile(PreparedGraph& graph, const CompileOptions& options) = 0;

  /// Work posted by one client (a Node-API environment): runs off the JS thread, started in submission order
  /// (the CPU backend may run jobs side by side, see cpu/compute_lanes.h).
  using Work = std::function<void()>;

  /// `bytes` of host memory that runs read in place (CUDA: pinned, usable from every device; CPU: aligned heap).
  /// kOutOfMemory when none can be had; the backend's own errors (no GPU) as they are. JS thread.
  virtual Result<HostMemory> allocate_host(size_t bytes, int device) = 0;
  /// Prepares existing memory for runs to read in place (CUDA: page-locks it with cudaHostRegister, falling back
  /// to unpinned when the driver refuses; CPU: nothing). JS thread.
  virtual Result<HostPin> pin_host(void* data, size_t bytes, int device) = 0;

  /// Registers a client before its first submit().
  virtual void attach(const void* client) = 0;
  /// Queues `work` for `client`, run as `shape` says. Jobs start in submission order.
  virtual void submit(const void* client, JobShape shape, Work work) = 0;
  /// Drops the client's queued work, waits for its running work, and releases what only it kept alive.
  virtual void detach(const void* client) = 0;
};

/// The built-in backend called `name`: ERR_INVALID_ARGUMENT for an unknown name, ERR_BACKEND_UNAVAILABLE for
/// a backend this build leaves out.
Result<Backend*> find_backend(const std::string& name);

/// The names of every backend this library knows, available or not, with their info (for `info()`).
std::vector<std::pair<std::string, BackendInfo>> describe_backends();

}  // namespace resnet
