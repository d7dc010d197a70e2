// A conv step through cuDNN's graph (backend) API: the operation graph of a ConvGraphDescription
// (conv_graph_plan.h: conv → +bias → [+residual] → [relu], the epilogue fused into the conv kernel), the
// engine configurations cuDNN's heuristics rank best, finalized into execution plans, and running one.
//
// This is the path PyTorch takes for its convs (cuDNN's v8+ API), with access to the engines the legacy
// cudnnConvolution*Forward calls do not reach (Hopper's, and runtime fusion, which compiles a kernel for the
// whole epilogue with NVRTC when the plan is finalized). Nothing here decides which path a conv takes: the
// executable verifies each plan against the legacy path on real data and, with `benchmark`, times them all.
//
// Execution plans may not be executed from two threads at once (cuDNN's backend API has known thread-safety
// limits when plans are shared, PyTorch PR #103939): the executable serialises execute_conv_graph calls. Runs
// replay a captured CUDA graph, which does not call cuDNN.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backend.h"
#include "cuda/conv_graph_plan.h"
#include "cuda/cudnn_api.h"
#include "cuda/cudnn_descriptor.h"
#include "cuda/cudnn_loader.h"

namespace resnet {
namespace cuda {

/// One cuDNN backend descriptor, destroyed with cudnnBackendDestroyDescriptor. Move-only.
using BackendDescriptor = CudnnDescriptor<cudnn::cudnnBackendDescriptor_t>;

/// Every descriptor of one operation graph (tensors, ops, the graph): kept alive as long as a plan built
/// from it, since cuDNN does not promise that a finalized plan holds no reference to them.
struct ConvGraphObjects {
  std::vector<BackendDescriptor> descriptors;
  cudnn::cudnnBackendDescriptor_t operation_graph = nullptr;
};

/// One engine configuration of a conv graph, finalized into an execution plan.
struct ConvGraphPlan {
  std::shared_ptr<const ConvGraphObjects> graph;  // what the plan was built from
  std::shared_ptr<const BackendDescriptor> engine_config;
  std::shared_ptr<const BackendDescriptor> plan;
  int64_t engine = -1;            // cuDNN's global engine index
  bool runtime_compiled = false;  // NVRTC-compiled at finalize (runtime fusion)
  size_t workspace = 0;

  /// "engine 12 (runtime compiled), workspace 0".
  std::string name() const;
};

/// The plans of one conv graph, best first (cuDNN's heuristics' order), and why there are none or fewer than
/// asked for.
struct ConvGraphPlans {
  std::vector<ConvGraphPlan> plans;
  std::string note;
  double build_ms = 0;  // host time spent building and finalizing
};

/// Builds the operation graph of `description` on `handle` and finalizes execution plans for the engine
/// configurations cuDNN's heuristics return (instant mode, then the fallback list when it yields none), best
/// first, up to `limit`. Skipped: engines whose numerics `precision` forbids (tensor cores for float32, i.e.
/// TF32; down-converted inputs; reduced-precision reduction, as accumulation is FP32, except in an FP8 conv,
/// see excluded() in conv_graph.cc), plans wanting more than
/// `workspace_cap` bytes, and configurations that fail to finalize. Never fails: a graph cuDNN cannot run
/// gives no plans and a note saying why.
ConvGraphPlans build_conv_graph_plans(const CudnnApi& api, cudnn::cudnnHandle_t handle,
                                      const ConvGraphDescription& description, Precision precision, size_t limit,
                                      size_t workspace_cap);

/// The buffers of one execution, by tensor role (residual unused without one).
struct ConvGraphBindings {
  const void* input = nullptr;
  const void* filter = nullptr;
  const void* bias = nullptr;
  const void* residual = nullptr;
  void* output = nullptr;
  void* workspace = nullptr;
  const void* scale = nullptr;         // FP8 convs: α
  const void* output_scale = nullptr;  // FP8 convs: γ, when the graph has it
};

/// Enqueues `plan` on the handle's stream with `bindings`: cuDNN's status as is (the caller decides what a
/// refusal means). Not thread-safe for one plan (see the top of the file).
cudnn::cudnnStatus_t execute_conv_graph(const CudnnApi& api, cudnn::cudnnHandle_t handle, const ConvGraphPlan& plan,
                                        const ConvGraphDescription& description, const ConvGraphBindings& bindings);

}  // namespace cuda
}  // namespace resnet
