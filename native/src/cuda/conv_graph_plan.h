// A conv step as a cuDNN graph (the backend API's operation graph), planned apart from cuDNN itself so that
// it is tested without a GPU: the tensors (logical NCHW dimensions over NHWC / KRSC strides, data types,
// unique ids, which ones are virtual), the convolution's geometry, and the chain of pointwise ops that make
// up the epilogue:
//
//     conv = conv_fprop(x, w)                 virtual, float
//     sum  = conv + bias                      bias [1, K, 1, 1], broadcast (always an op's second input)
//     sum  = sum + residual                   when the step has a residual
//     y    = relu(sum)                        when the step has a ReLU
//
// The last op writes y in the storage type; every intermediate is a virtual float tensor, so the
// epilogue runs in FP32 inside the conv kernel (runtime fusion) and nothing but y reaches memory. The
// bias is the one the legacy fused call takes (the storage type; float32 for float32 storage). Each
// non-virtual tensor has a role that says which buffer the executable binds to its unique id.
//
// An FP8 conv of an int8 plan (Step::fp8, plan_fp8.h) has x and w in FP8 E4M3, FP32 compute, and the folded
// epilogue with FLOAT scale tensors:
//
//     conv = conv_fprop(x, w)                 virtual, float (FP8 tensor cores, FP32 accumulation)
//     v    = conv · α                         α [1, K, 1, 1] float (the scale role)
//     v    = v + β                            β [1, K, 1, 1] float (the bias role)
//     v    = v + residual                     FP8 or FP16, as the residual is stored
//     v    = relu(v)
//     y    = v · γ                            γ [1, 1, 1, 1] float (the output scale role), when γ ≠ 1
//
// y is FP8 or FP16 as the plan stores the step's output.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "cuda/cuda_plan.h"
#include "cuda/cudnn_api.h"
#include "status.h"

namespace resnet {
namespace cuda {

/// Which buffer a tensor of a conv graph is at run time.
enum class GraphTensorRole {
  kInput,        // the step's src value
  kFilter,       // the packed filter (weights blob + filter_offset)
  kBias,         // the bias in the fused call's type (DeviceWeights::fused_bias)
  kResidual,     // the step's residual value
  kOutput,       // the step's dst value
  kVirtual,      // an intermediate that never reaches memory
  kScale,        // FP8 convs: α, [1, K, 1, 1] float (weights blob + scale_offset)
  kOutputScale,  // FP8 convs: γ, [1, 1, 1, 1] float (weights blob + output_scale_offset)
};

/// cuDNN's data type for a storage type (of an activation or a filter; of the fused bias but in FP8 convs).
cudnn::cudnnDataType_t cudnn_data_type(StorageType storage);

/// "input", "filter", "bias", "residual", "output", "virtual", "scale", "output_scale".
const char* graph_tensor_role_name(GraphTensorRole role);

/// "FLOAT", "HALF", "BFLOAT16", … (cuDNN's names without the CUDNN_DATA_ prefix).
const char* graph_data_type_name(cudnn::cudnnDataType_t type);

/// "ADD", "RELU_FWD", … (without the CUDNN_POINTWISE_ prefix).
const char* graph_pointwise_name(cudnn::cudnnPointwiseMode_t mode);

struct GraphTensor {
  int64_t uid = 0;
  GraphTensorRole role = GraphTensorRole::kVirtual;
  cudnn::cudnnDataType_t type = cudnn::CUDNN_DATA_FLOAT;
  std::array<int64_t, 4> dims{};     // N, C, H, W (K, C/groups, R, S for the filter)
  std::array<int64_t, 4> strides{};  // in elements: NHWC (KRSC) in memory
  int64_t alignment = 16;            // bytes the data pointer is aligned to (a virtual tensor's is nominal)
  bool is_virtual() const { return role == GraphTensorRole::kVirtual; }
};

/// y = mode(x[, b]); the indices are into ConvGraphDescription::tensors.
struct GraphPointwise {
  cudnn::cudnnPointwiseMode_t mode = cudnn::CUDNN_POINTWISE_ADD;
  int x = -1;
  int b = -1;  // -1 for a unary op (RELU_FWD)
  int y = -1;
};

struct ConvGraphDescription {
  std::vector<GraphTensor> tensors;
  /// The convolution op: tensors[x] * tensors[w] → tensors[conv_out].
  int x = -1, w = -1, conv_out = -1;
  std::array<int64_t, 2> pre_padding{}, post_padding{}, stride{}, dilation{};
  cudnn::cudnnDataType_t compute_type = cudnn::CUDNN_DATA_FLOAT;  // of the conv
  /// Of every pointwise op: FLOAT always (cuDNN's pointwise ops compute in FP32 or INT32; FP8's conv-only
  /// FAST_FLOAT_FOR_FP8 is not a pointwise precision), kept apart from compute_type for that reason.
  cudnn::cudnnDataType_t pointwise_type = cudnn::CUDNN_DATA_FLOAT;
  std::vector<GraphPointwise> pointwise;  // in execution order; the last writes the kOutput tensor

  /// One line per tensor and op. Two steps with the same text have the same graph (and may share a plan).
  std::string describe() const;
};

/// The graph of conv step `step_index` of `plan` (kUnsupported when the step is not a conv).
Result<ConvGraphDescription> describe_conv_graph(const CudaPlan& plan, int step_index);

}  // namespace cuda
}  // namespace resnet
