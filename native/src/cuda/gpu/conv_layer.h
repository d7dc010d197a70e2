// One conv step as cuDNN runs it: the descriptors (NHWC tensors, a KRSC filter, the convolution with its
// math type, the bias and the activation of the fused call), the step's graph-API plans (conv_graph.h), and
// the choices made at compile time: the algorithm of cudnnConvolutionForward, the algorithm of the fused
// cudnnConvolutionBiasActivationForward, and which of the three paths the step takes. Built once per
// executable and read by all its contexts.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "backend.h"
#include "cuda/cuda_plan.h"
#include "cuda/conv_graph_plan.h"
#include "cuda/conv_path_choice.h"
#include "cuda/cudnn_api.h"
#include "cuda/conv_graph.h"
#include "cuda/gpu/cudnn_handles.h"
#include "status.h"

namespace resnet {
namespace cuda {

/// The largest workspace any one algorithm may ask for (PyTorch does not cap it; TensorRT's default
/// workspace pool is a similar size): algorithms wanting more are passed over.
constexpr size_t kWorkspaceCap = size_t{256} << 20;

struct ConvLayer {
  int step = -1;  // index in CudaPlan::steps
  bool relu = false;
  std::string name;  // "conv step 3 (graph op 2)", for messages
  TensorDescriptor x, y;
  FilterDescriptor w;
  ConvolutionDescriptor conv;
  TensorDescriptor bias;            // [1, k_stored, 1, 1] in the storage type (the fused call's)
  ActivationDescriptor activation;  // RELU, or IDENTITY when the step has no relu
  cudnn::cudnnConvolutionFwdAlgo_t algo = cudnn::CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
  size_t workspace = 0;
  /// Whether the fused call is worth a try: an algorithm for it exists within the workspace cap (why not in
  /// `unfusable`).
  bool fusable = false;
  std::string unfusable;
  /// IDENTITY activation only works with IMPLICIT_PRECOMP_GEMM; RELU works with `algo`.
  cudnn::cudnnConvolutionFwdAlgo_t fused_algo = cudnn::CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM;
  size_t fused_workspace = 0;
  /// The step as a graph-API operation graph, and its execution plans as built, in cuDNN's heuristics' order
  /// (the evidence's `plans` and the choice's indices follow it). Empty when the graph API is off or cuDNN has
  /// none.
  ConvGraphDescription graph;
  std::vector<ConvGraphPlan> graph_plans;
  std::string graph_note;  // why there are no (or fewer) graph plans than asked for, for describe()
  /// What compiling found of each path (the trial run, timing with `benchmark`, the capture check), and the
  /// path chosen from it (conv_path_choice.h).
  ConvPathEvidence evidence;
  ConvPathChoice choice;

  /// The graph plan kGraph runs.
  const ConvGraphPlan& chosen_plan() const { return graph_plans[static_cast<size_t>(choice.plan)]; }
  size_t mode_workspace() const {
    if (choice.mode == ConvMode::kGraph) return choice.plan >= 0 ? chosen_plan().workspace : 0;
    return choice.mode == ConvMode::kFused ? fused_workspace : workspace;
  }
};

/// The convolution math type for a precision: FMA only for float32 (no TF32), tensor ops otherwise.
cudnn::cudnnMathType_t cudnn_math_type(Precision precision);
/// "IMPLICIT_PRECOMP_GEMM", …
const char* algorithm_name(cudnn::cudnnConvolutionFwdAlgo_t algo);

/// Creates and sets the descriptors of conv step `step_index` of `plan`.
Result<ConvLayer> describe_conv(const CudnnApi& api, const CudaPlan& plan, int step_index);

/// Chooses `layer.algo` by cuDNN's heuristics: the first result that succeeds, fits kWorkspaceCap and (for
/// float32) does not use tensor-op math. Then the fused call's algorithm and workspace.
Status choose_algorithm(const CudnnApi& api, cudnn::cudnnHandle_t handle, Precision precision, ConvLayer& layer);

/// The same by timing every algorithm on real buffers (cudnnFindConvolutionForwardAlgorithmEx, fastest
/// first): `x`, `w` and `y` as the step uses them, `workspace` for the candidates (y is overwritten).
Status find_algorithm(const CudnnApi& api, cudnn::cudnnHandle_t handle, Precision precision, ConvLayer& layer,
                      const void* x, const void* w, void* y, void* workspace, size_t workspace_bytes);

}  // namespace cuda
}  // namespace resnet
