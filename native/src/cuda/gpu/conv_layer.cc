#include "cuda/gpu/conv_layer.h"

#include <climits>
#include <vector>

#include "cuda/gpu/cuda_status.h"

namespace resnet {
namespace cuda {
namespace {

using namespace cudnn;  // NOLINT: cuDNN's own enumerator names read best unqualified here

// Sets `layer.fused_algo` and `layer.fused_workspace` once `layer.algo` is chosen.
void choose_fused_algorithm(const CudnnApi& api, cudnnHandle_t handle, ConvLayer& layer) {
  if (layer.relu) {
    layer.fused_algo = layer.algo;
    layer.fused_workspace = layer.workspace;
    layer.fusable = true;
    return;
  }
  // cudnnConvolutionBiasActivationForward with CUDNN_ACTIVATION_IDENTITY runs IMPLICIT_PRECOMP_GEMM only.
  layer.fused_algo = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM;
  size_t bytes = 0;
  const cudnnStatus_t status = api.cudnnGetConvolutionForwardWorkspaceSize(handle, layer.x.get(), layer.w.get(),
                                                                           layer.conv.get(), layer.y.get(),
                                                                           layer.fused_algo, &bytes);
  if (status != CUDNN_STATUS_SUCCESS) {
    layer.fusable = false;
    layer.unfusable = cat("the fused call without ReLU needs IMPLICIT_PRECOMP_GEMM, which cuDNN refuses here (",
                          api.cudnnGetErrorString(status), ")");
    return;
  }
  if (bytes > kWorkspaceCap) {
    layer.fusable = false;
    layer.unfusable = cat("IMPLICIT_PRECOMP_GEMM wants ", bytes, " bytes of workspace, over the cap");
    return;
  }
  layer.fused_workspace = bytes;
  layer.fusable = true;
}

// Takes the first usable candidate of `results` (cuDNN orders them best first).
Status pick(const CudnnApi& api, cudnnHandle_t handle, Precision precision, ConvLayer& layer,
            const std::vector<cudnnConvolutionFwdAlgoPerf_t>& results, int returned, const char* source) {
  std::string refused;
  for (int i = 0; i < returned && i < static_cast<int>(results.size()); ++i) {
    const cudnnConvolutionFwdAlgoPerf_t& result = results[i];
    if (result.status != CUDNN_STATUS_SUCCESS) continue;
    // Float32 means no TF32: FMA math is set on the descriptor, and a tensor-op result would contradict it.
    if (precision == Precision::kFloat32 &&
        (result.mathType == CUDNN_TENSOR_OP_MATH || result.mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION)) {
      continue;
    }
    size_t bytes = 0;
    const cudnnStatus_t status = api.cudnnGetConvolutionForwardWorkspaceSize(handle, layer.x.get(), layer.w.get(),
                                                                             layer.conv.get(), layer.y.get(),
                                                                             result.algo, &bytes);
    if (status != CUDNN_STATUS_SUCCESS) {
      refused += cat(" ", algorithm_name(result.algo), " (", api.cudnnGetErrorString(status), ")");
      continue;
    }
    if (bytes > kWorkspaceCap) {
      refused += cat(" ", algorithm_name(result.algo), " (", bytes, " bytes of workspace)");
      continue;
    }
    layer.algo = result.algo;
    layer.workspace = bytes;
    choose_fused_algorithm(api, handle, layer);
    return Status();
  }
  return Status(Code::kUnsupported, cat("cuDNN has no algorithm for ", layer.name, " at ", precision_name(precision),
                                        " (", source, " returned ", returned, " candidates; refused:",
                                        refused.empty() ? " none usable" : refused, "); try another dtype"));
}

bool fits_int(int64_t value) { return value >= 0 && value <= INT_MAX; }

}  // namespace

cudnnMathType_t cudnn_math_type(Precision precision) {
  return precision == Precision::kFloat32 ? CUDNN_FMA_MATH : CUDNN_TENSOR_OP_MATH;
}

const char* algorithm_name(cudnnConvolutionFwdAlgo_t algo) {
  switch (algo) {
#define RESNET_ALGO_NAME(name, value) \
  case name: return #name;
    RESNET_CUDNN_CONVOLUTION_FWD_ALGO_VALUES(RESNET_ALGO_NAME)
#undef RESNET_ALGO_NAME
  }
  return "an unknown algorithm";
}

Result<ConvLayer> describe_conv(const CudnnApi& api, const CudaPlan& plan, int step_index) {
  const Step& step = plan.steps[static_cast<size_t>(step_index)];
  const DeviceValue& x = plan.values[static_cast<size_t>(step.src)];
  const DeviceValue& y = plan.values[static_cast<size_t>(step.dst)];
  ConvLayer layer;
  layer.step = step_index;
  layer.relu = step.relu;
  layer.name = cat("conv step ", step_index, " (graph op ", step.op_index, ")");
  for (int64_t value :
       {x.n, x.h, x.w, x.stored_channels, y.h, y.w, y.stored_channels, step.kernel.h, step.kernel.w, step.stride.h,
        step.stride.w, step.padding.h, step.padding.w, step.dilation.h, step.dilation.w, step.groups}) {
    RESNET_CHECK(fits_int(value), Code::kUnsupported,
                 cat(layer.name,
                     " has a size over 2^31 - 1, which cuDNN's descriptors cannot hold; use a smaller batch"));
  }
  const cudnnDataType_t type = cudnn_data_type(plan.storage);
  const auto i = [](int64_t value) { return static_cast<int>(value); };

  RESNET_ASSIGN_OR_RETURN(layer.x, create_tensor_descriptor(api));
  RESNET_CUDNN_CHECK(api,
                     api.cudnnSetTensor4dDescriptor(layer.x.get(), CUDNN_TENSOR_NHWC, type, i(x.n),
                                                    i(x.stored_channels), i(x.h), i(x.w)),
                     cat("describing the input of ", layer.name, " (NHWC, n ", x.n, ", c ", x.stored_channels, ", ",
                         x.h, "x", x.w, ")"));
  RESNET_ASSIGN_OR_RETURN(layer.y, create_tensor_descriptor(api));
  RESNET_CUDNN_CHECK(api,
                     api.cudnnSetTensor4dDescriptor(layer.y.get(), CUDNN_TENSOR_NHWC, type, i(y.n),
                                                    i(y.stored_channels), i(y.h), i(y.w)),
                     cat("describing the output of ", layer.name, " (NHWC, n ", y.n, ", c ", y.stored_channels, ", ",
                         y.h, "x", y.w, ")"));
  // Note the argument order: data type before format here, format before data type for tensors.
  RESNET_ASSIGN_OR_RETURN(layer.w, create_filter_descriptor(api));
  RESNET_CUDNN_CHECK(api,
                     api.cudnnSetFilter4dDescriptor(layer.w.get(), type, CUDNN_TENSOR_NHWC, i(y.stored_channels),
                                                    i(x.stored_channels / step.groups), i(step.kernel.h),
                                                    i(step.kernel.w)),
                     cat("describing the filter of ", layer.name, " (KRSC)"));
  RESNET_ASSIGN_OR_RETURN(layer.conv, create_convolution_descriptor(api));
  // Accumulation in float at every precision (cuDNN's PSEUDO_HALF / PSEUDO_BFLOAT16 configurations).
  RESNET_CUDNN_CHECK(api,
                     api.cudnnSetConvolution2dDescriptor(layer.conv.get(), i(step.padding.h), i(step.padding.w),
                                                         i(step.stride.h), i(step.stride.w), i(step.dilation.h),
                                                         i(step.dilation.w), CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT),
                     cat("describing the convolution of ", layer.name));
  RESNET_CUDNN_CHECK(api, api.cudnnSetConvolutionGroupCount(layer.conv.get(), i(step.groups)),
                     cat("setting the group count of ", layer.name));
  RESNET_CUDNN_CHECK(api, api.cudnnSetConvolutionMathType(layer.conv.get(), cudnn_math_type(plan.precision)),
                     cat("setting the math type of ", layer.name));
  RESNET_ASSIGN_OR_RETURN(layer.bias, create_tensor_descriptor(api));
  RESNET_CUDNN_CHECK(api,
                     api.cudnnSetTensor4dDescriptor(layer.bias.get(), CUDNN_TENSOR_NCHW, type, 1, i(y.stored_channels),
                                                    1, 1),
                     cat("describing the bias of ", layer.name));
  RESNET_ASSIGN_OR_RETURN(layer.activation, create_activation_descriptor(api));
  // NOT_PROPAGATE_NAN, as PyTorch, lc0 and MegEngine pass to the fused call: the combination known to be
  // accepted. (The unfused path's epilogue kernel does propagate NaN.)
  RESNET_CUDNN_CHECK(api,
                     api.cudnnSetActivationDescriptor(layer.activation.get(),
                                                      step.relu ? CUDNN_ACTIVATION_RELU : CUDNN_ACTIVATION_IDENTITY,
                                                      CUDNN_NOT_PROPAGATE_NAN, 0.0),
                     cat("describing the activation of ", layer.name));
  return layer;
}

Status choose_algorithm(const CudnnApi& api, cudnnHandle_t handle, Precision precision, ConvLayer& layer) {
  int count = 0;
  RESNET_CUDNN_CHECK(api, api.cudnnGetConvolutionForwardAlgorithmMaxCount(handle, &count),
                     "asking cuDNN how many convolution algorithms it has");
  std::vector<cudnnConvolutionFwdAlgoPerf_t> results(static_cast<size_t>(count > 0 ? count : 1));
  int returned = 0;
  RESNET_CUDNN_CHECK(api,
                     api.cudnnGetConvolutionForwardAlgorithm_v7(handle, layer.x.get(), layer.w.get(), layer.conv.get(),
                                                                layer.y.get(), static_cast<int>(results.size()),
                                                                &returned, results.data()),
                     cat("asking cuDNN's heuristics for the algorithms of ", layer.name));
  return pick(api, handle, precision, layer, results, returned, "the heuristics");
}

Status find_algorithm(const CudnnApi& api, cudnnHandle_t handle, Precision precision, ConvLayer& layer, const void* x,
                      const void* w, void* y, void* workspace, size_t workspace_bytes) {
  int count = 0;
  RESNET_CUDNN_CHECK(api, api.cudnnGetConvolutionForwardAlgorithmMaxCount(handle, &count),
                     "asking cuDNN how many convolution algorithms it has");
  std::vector<cudnnConvolutionFwdAlgoPerf_t> results(static_cast<size_t>(count > 0 ? count : 1));
  int returned = 0;
  RESNET_CUDNN_CHECK(api,
                     api.cudnnFindConvolutionForwardAlgorithmEx(handle, layer.x.get(), x, layer.w.get(), w,
                                                                layer.conv.get(), layer.y.get(), y,
                                                                static_cast<int>(results.size()), &returned,
                                                                results.data(), workspace, workspace_bytes),
                     cat("timing the algorithms of ", layer.name));
  return pick(api, handle, precision, layer, results, returned, "timing");
}

}  // namespace cuda
}  // namespace resnet
