#include "cuda/conv_graph_plan.h"

#include <sstream>

namespace resnet {
namespace cuda {
namespace {

using namespace cudnn;  // NOLINT: cuDNN's own enumerator names read best unqualified here

// Unique ids: the bound tensors get small fixed ids (the variant pack's), virtual ones count up from 100.
int64_t bound_uid(GraphTensorRole role) { return static_cast<int64_t>(role) + 1; }
constexpr int64_t kFirstVirtualUid = 100;

// An NHWC activation [n, c, h, w] (logical order), packed.
GraphTensor activation(GraphTensorRole role, cudnnDataType_t type, int64_t n, int64_t c, int64_t h, int64_t w) {
  GraphTensor tensor;
  tensor.role = role;
  tensor.type = type;
  tensor.dims = {n, c, h, w};
  tensor.strides = {h * w * c, 1, w * c, c};
  return tensor;
}

}  // namespace

cudnnDataType_t cudnn_data_type(StorageType storage) {
  switch (storage) {
    case StorageType::kFloat16: return CUDNN_DATA_HALF;
    case StorageType::kBFloat16: return CUDNN_DATA_BFLOAT16;
    case StorageType::kFloat8E4M3: return CUDNN_DATA_FP8_E4M3;
    case StorageType::kFloat32: break;
  }
  return CUDNN_DATA_FLOAT;
}

const char* graph_tensor_role_name(GraphTensorRole role) {
  switch (role) {
    case GraphTensorRole::kInput: return "input";
    case GraphTensorRole::kFilter: return "filter";
    case GraphTensorRole::kBias: return "bias";
    case GraphTensorRole::kResidual: return "residual";
    case GraphTensorRole::kOutput: return "output";
    case GraphTensorRole::kVirtual: return "virtual";
    case GraphTensorRole::kScale: return "scale";
    case GraphTensorRole::kOutputScale: return "output_scale";
  }
  return "unknown";
}

const char* graph_data_type_name(cudnnDataType_t type) {
  switch (type) {
#define RESNET_DATA_TYPE_NAME(name, value) \
  case name: return #name + sizeof("CUDNN_DATA_") - 1;
    RESNET_CUDNN_DATA_TYPE_VALUES(RESNET_DATA_TYPE_NAME)
#undef RESNET_DATA_TYPE_NAME
  }
  return "UNKNOWN";
}

const char* graph_pointwise_name(cudnnPointwiseMode_t mode) {
  switch (mode) {
#define RESNET_POINTWISE_NAME(name, value) \
  case name: return #name + sizeof("CUDNN_POINTWISE_") - 1;
    RESNET_CUDNN_POINTWISE_MODE_VALUES(RESNET_POINTWISE_NAME)
#undef RESNET_POINTWISE_NAME
  }
  return "UNKNOWN";
}

std::string ConvGraphDescription::describe() const {
  std::ostringstream text;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const GraphTensor& t = tensors[i];
    text << "tensor " << i << ": uid " << t.uid << ", " << graph_tensor_role_name(t.role) << ", "
         << graph_data_type_name(t.type) << ", dims " << t.dims[0] << "x" << t.dims[1] << "x" << t.dims[2] << "x"
         << t.dims[3] << ", strides " << t.strides[0] << "," << t.strides[1] << "," << t.strides[2] << ","
         << t.strides[3] << ", alignment " << t.alignment << "\n";
  }
  text << "conv_fprop: tensor " << x << " * tensor " << w << " -> tensor " << conv_out << ", padding " << pre_padding[0]
       << "," << pre_padding[1] << " / " << post_padding[0] << "," << post_padding[1] << ", stride " << stride[0] << ","
       << stride[1] << ", dilation " << dilation[0] << "," << dilation[1] << ", compute "
       << graph_data_type_name(compute_type) << ", pointwise " << graph_data_type_name(pointwise_type) << "\n";
  for (const GraphPointwise& op : pointwise) {
    text << graph_pointwise_name(op.mode) << ": tensor " << op.x;
    if (op.b >= 0) text << ", tensor " << op.b;
    text << " -> tensor " << op.y << "\n";
  }
  return text.str();
}

Result<ConvGraphDescription> describe_conv_graph(const CudaPlan& plan, int step_index) {
  RESNET_CHECK(step_index >= 0 && static_cast<size_t>(step_index) < plan.steps.size() &&
                   plan.steps[static_cast<size_t>(step_index)].kind == StepKind::kConv,
               Code::kUnsupported, cat("step ", step_index, " of the plan is not a convolution"));
  const Step& step = plan.steps[static_cast<size_t>(step_index)];
  const DeviceValue& in = plan.values[static_cast<size_t>(step.src)];
  const DeviceValue& out = plan.values[static_cast<size_t>(step.dst)];
  // Each tensor in its value's storage (one type for all but in int8 plans); the bias in the fused call's type,
  // FLOAT in FP8 convs (β, plan_fp8.h).
  const cudnnDataType_t io = cudnn_data_type(plan.storage);
  const cudnnDataType_t bias_type = step.fp8 ? CUDNN_DATA_FLOAT : io;

  ConvGraphDescription graph;
  int64_t next_virtual_uid = kFirstVirtualUid;
  auto add = [&](GraphTensor tensor) {
    tensor.uid = tensor.is_virtual() ? next_virtual_uid++ : bound_uid(tensor.role);
    graph.tensors.push_back(tensor);
    return static_cast<int>(graph.tensors.size() - 1);
  };
  // Intermediates have y's shape in float: what the epilogue computes in before y is stored.
  auto intermediate = [&]() {
    return add(activation(GraphTensorRole::kVirtual, CUDNN_DATA_FLOAT, out.n, out.stored_channels, out.h, out.w));
  };

  graph.x = add(activation(GraphTensorRole::kInput, cudnn_data_type(in.storage), in.n, in.stored_channels, in.h, in.w));
  GraphTensor filter;
  filter.role = GraphTensorRole::kFilter;
  filter.type = step.fp8 ? CUDNN_DATA_FP8_E4M3 : io;
  const int64_t per_group = in.stored_channels / step.groups;
  filter.dims = {out.stored_channels, per_group, step.kernel.h, step.kernel.w};
  filter.strides = {step.kernel.h * step.kernel.w * per_group, 1, step.kernel.w * per_group, per_group};
  graph.w = add(filter);
  graph.conv_out = intermediate();
  graph.pre_padding = {step.padding.h, step.padding.w};
  graph.post_padding = {step.padding.h, step.padding.w};
  graph.stride = {step.stride.h, step.stride.w};
  graph.dilation = {step.dilation.h, step.dilation.w};

  // Per output channel, broadcast: [1, K, 1, 1] (the bias; an FP8 conv's α too).
  auto per_channel = [&](GraphTensorRole role) {
    GraphTensor tensor;
    tensor.role = role;
    tensor.type = role == GraphTensorRole::kBias ? bias_type : CUDNN_DATA_FLOAT;
    tensor.dims = {1, out.stored_channels, 1, 1};
    tensor.strides = {out.stored_channels, 1, out.stored_channels, out.stored_channels};
    return add(tensor);
  };
  const int scale_index = step.fp8 ? per_channel(GraphTensorRole::kScale) : -1;
  const int bias_index = per_channel(GraphTensorRole::kBias);
  int residual_index = -1;
  if (step.residual >= 0) {
    const DeviceValue& residual = plan.values[static_cast<size_t>(step.residual)];
    residual_index = add(activation(GraphTensorRole::kResidual, cudnn_data_type(residual.storage), out.n,
                                    out.stored_channels, out.h, out.w));
  }
  const int output_index =
      add(activation(GraphTensorRole::kOutput, cudnn_data_type(out.storage), out.n, out.stored_channels, out.h, out.w));
  int output_scale_index = -1;
  if (step.fp8 && step.output_scale_bytes > 0) {
    GraphTensor gamma;
    gamma.role = GraphTensorRole::kOutputScale;
    gamma.dims = {1, 1, 1, 1};
    gamma.strides = {1, 1, 1, 1};
    output_scale_index = add(gamma);
  }

  // The chain: each op reads the previous op's result as its first input, so a broadcast (the bias) is never
  // an op's first input, which cuDNN's runtime fusion does not accept. The last op writes y.
  const int ops = (scale_index >= 0 ? 1 : 0) + 1 + (residual_index >= 0 ? 1 : 0) + (step.relu ? 1 : 0) +
                  (output_scale_index >= 0 ? 1 : 0);
  int current = graph.conv_out;
  auto push = [&](cudnnPointwiseMode_t mode, int b) {
    GraphPointwise op;
    op.mode = mode;
    op.x = current;
    op.b = b;
    op.y = static_cast<int>(graph.pointwise.size()) + 1 == ops ? output_index : intermediate();
    graph.pointwise.push_back(op);
    current = op.y;
  };
  if (scale_index >= 0) push(CUDNN_POINTWISE_MUL, scale_index);
  push(CUDNN_POINTWISE_ADD, bias_index);
  if (residual_index >= 0) push(CUDNN_POINTWISE_ADD, residual_index);
  if (step.relu) push(CUDNN_POINTWISE_RELU_FWD, -1);
  if (output_scale_index >= 0) push(CUDNN_POINTWISE_MUL, output_scale_index);
  return graph;
}

}  // namespace cuda
}  // namespace resnet
