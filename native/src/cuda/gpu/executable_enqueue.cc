// Enqueueing on a context's stream: each step of the forward (a conv on its chosen path: the graph API's
// plan, the legacy fused call, or cudnnConvolutionForward + the epilogue kernel), and the whole forward.
#include <cuda_runtime.h>

#include "cuda/gpu/cuda_executable.h"
#include "cuda/gpu/cuda_status.h"
#include "cuda/kernels.h"

namespace resnet {
namespace cuda {

using cudnn::cudnnStatus_t;

cudnnStatus_t CudaExecutable::call_fused(CudaContext& context, const ConvLayer& layer) const {
  const Step& step = plan_.steps[static_cast<size_t>(layer.step)];
  void* y = value_pointer(context, step.dst);
  const void* residual = step.residual >= 0 ? value_pointer(context, step.residual) : nullptr;
  // y = act(alpha1·conv(x) + alpha2·z + bias): z is the residual (alpha2 = 1), or y itself, unread (alpha2 = 0).
  const float alpha1 = 1.0f;
  const float alpha2 = residual ? 1.0f : 0.0f;
  return api_.cudnnConvolutionBiasActivationForward(context.handle(), &alpha1, layer.x.get(),
                                                    value_pointer(context, step.src), layer.w.get(),
                                                    weights_->blob() + step.filter_offset, layer.conv.get(),
                                                    layer.fused_algo, context.workspace(), context.workspace_bytes(),
                                                    &alpha2, layer.y.get(), residual ? residual : y, layer.bias.get(),
                                                    weights_->fused_bias(step), layer.activation.get(), layer.y.get(),
                                                    y);
}

cudnnStatus_t CudaExecutable::call_graph(CudaContext& context, const ConvLayer& layer,
                                         const ConvGraphPlan& plan) const {
  const Step& step = plan_.steps[static_cast<size_t>(layer.step)];
  ConvGraphBindings bindings;
  bindings.input = value_pointer(context, step.src);
  bindings.filter = weights_->blob() + step.filter_offset;
  bindings.bias = weights_->fused_bias(step);
  bindings.residual = step.residual >= 0 ? value_pointer(context, step.residual) : nullptr;
  bindings.output = value_pointer(context, step.dst);
  bindings.workspace = context.workspace();
  std::lock_guard<std::mutex> lock(graph_execute_mutex_);
  return execute_conv_graph(api_, context.handle(), plan, layer.graph, bindings);
}

Status CudaExecutable::enqueue_conv(CudaContext& context, const ConvLayer& layer, ConvMode mode) const {
  if (mode == ConvMode::kGraph) {
    RESNET_CHECK(layer.choice.plan >= 0 && static_cast<size_t>(layer.choice.plan) < layer.graph_plans.size(),
                 Code::kBackend, cat(layer.name, " has no graph plan to run"));
    RESNET_CUDNN_CHECK(api_, call_graph(context, layer, layer.chosen_plan()),
                       cat("running ", layer.name, " (graph API, ", layer.chosen_plan().name(), ")"));
    return Status();
  }
  const Step& step = plan_.steps[static_cast<size_t>(layer.step)];
  const void* x = value_pointer(context, step.src);
  const void* w = weights_->blob() + step.filter_offset;
  void* y = value_pointer(context, step.dst);
  const void* residual = step.residual >= 0 ? value_pointer(context, step.residual) : nullptr;
  if (mode == ConvMode::kFused) {
    RESNET_CUDNN_CHECK(api_, call_fused(context, layer), cat("running ", layer.name, " (fused convolution)"));
    return Status();
  }
  const float one = 1.0f, zero = 0.0f;
  RESNET_CUDNN_CHECK(api_,
                     api_.cudnnConvolutionForward(context.handle(), &one, layer.x.get(), x, layer.w.get(), w,
                                                  layer.conv.get(), layer.algo, context.workspace(),
                                                  context.workspace_bytes(), &zero, layer.y.get(), y),
                     cat("running ", layer.name));
  const DeviceValue& out = plan_.values[static_cast<size_t>(step.dst)];
  EpilogueArgs epilogue;
  epilogue.y = y;
  epilogue.residual = residual;
  epilogue.bias = reinterpret_cast<const float*>(weights_->blob() + step.bias_offset);
  epilogue.storage = plan_.storage;
  epilogue.count = out.n * out.h * out.w * out.stored_channels;
  epilogue.stored_channels = out.stored_channels;
  epilogue.relu = step.relu;
  RESNET_CUDA_CHECK(launch_epilogue(epilogue, context.stream()), cat("launching the epilogue kernel of ", layer.name));
  return Status();
}

Status CudaExecutable::enqueue_step(CudaContext& context, size_t index, InputFormat format) const {
  const Step& step = plan_.steps[index];
  cudaStream_t stream = context.stream();
  switch (step.kind) {
    case StepKind::kInput: {
      const DeviceValue& value = plan_.values[static_cast<size_t>(step.dst)];
      InputConvertArgs args;
      args.src = context.input();
      args.src_format = format;
      args.dst = value_pointer(context, step.dst);
      args.storage = plan_.storage;
      args.n = plan_.batch;
      args.channels = plan_.input_channels;
      args.h = plan_.input_h;
      args.w = plan_.input_w;
      // The stem form's layout (cuda_plan.h's Step::block).
      args.out_h = value.h;
      args.out_w = value.w;
      args.stored_channels = value.stored_channels;
      args.block = step.block;
      args.pad_top = step.padding.h;
      args.pad_left = step.padding.w;
      if (normalization_applies_to_ >> static_cast<int>(format.type) & 1u) {
        args.scale = scale_;
        args.mean = normalization_.as<const float>();
        args.inv_std = args.mean + plan_.input_channels;
      }
      RESNET_CUDA_CHECK(launch_input_convert(args, stream), "launching the input conversion kernel");
      return Status();
    }
    case StepKind::kConv:
      return enqueue_conv(context, layers_[static_cast<size_t>(layer_of_step_[index])],
                          layers_[static_cast<size_t>(layer_of_step_[index])].choice.mode);
    case StepKind::kMaxPool:
    case StepKind::kAdaptiveAvgPool: {
      const DeviceValue& in = plan_.values[static_cast<size_t>(step.src)];
      const DeviceValue& out = plan_.values[static_cast<size_t>(step.dst)];
      PoolArgs args;
      args.src = value_pointer(context, step.src);
      args.dst = value_pointer(context, step.dst);
      args.storage = plan_.storage;
      args.n = in.n;
      args.channels = in.stored_channels;
      args.in_h = in.h;
      args.in_w = in.w;
      args.out_h = out.h;
      args.out_w = out.w;
      args.kernel = step.kernel;
      args.stride = step.stride;
      args.padding = step.padding;
      args.dilation = step.dilation;
      if (step.kind == StepKind::kMaxPool) {
        RESNET_CUDA_CHECK(launch_maxpool(args, stream), cat("launching the max pool kernel of step ", index));
      } else {
        RESNET_CUDA_CHECK(launch_adaptive_avgpool(args, stream),
                          cat("launching the adaptive average pool kernel of step ", index));
      }
      return Status();
    }
    case StepKind::kAdd:
    case StepKind::kRelu: {
      const DeviceValue& out = plan_.values[static_cast<size_t>(step.dst)];
      ElementwiseArgs args;
      args.a = value_pointer(context, step.src);
      args.b = step.kind == StepKind::kAdd ? value_pointer(context, step.src2) : nullptr;
      args.dst = value_pointer(context, step.dst);
      args.storage = plan_.storage;
      args.count = out.n * out.h * out.w * out.stored_channels;
      args.relu = step.relu;
      RESNET_CUDA_CHECK(launch_elementwise(args, stream), cat("launching the elementwise kernel of step ", index));
      return Status();
    }
    case StepKind::kOutput: {
      const DeviceValue& value = plan_.values[static_cast<size_t>(step.src)];
      OutputConvertArgs args;
      args.src = value_pointer(context, step.src);
      args.storage = plan_.storage;
      args.dst = reinterpret_cast<float*>(context.outputs() + output_offsets_[static_cast<size_t>(step.output_index)]);
      args.n = value.n;
      args.channels = value.channels;
      args.h = value.h;
      args.w = value.w;
      args.stored_channels = value.stored_channels;
      RESNET_CUDA_CHECK(launch_output_convert(args, stream),
                        cat("launching the output conversion of output ", step.output_index));
      return Status();
    }
    case StepKind::kConvert: {  // int8 plans (plan_fp8.h), which compile() refuses until FP8 convs run
      const DeviceValue& in = plan_.values[static_cast<size_t>(step.src)];
      const DeviceValue& out = plan_.values[static_cast<size_t>(step.dst)];
      ScaleConvertArgs args;
      args.src = value_pointer(context, step.src);
      args.dst = value_pointer(context, step.dst);
      args.src_storage = in.storage;
      args.dst_storage = out.storage;
      args.scale = step.scale;
      args.count = out.n * out.h * out.w * out.stored_channels;
      RESNET_CUDA_CHECK(launch_scale_convert(args, stream), cat("launching the scale conversion of step ", index));
      return Status();
    }
  }
  return Status(Code::kBackend, cat("step ", index, " has an unknown kind"));
}

// The input's copy to the device is not part of it: run() issues it from the run's own (pinned) input
// buffer, whose address changes from run to run, ahead of the captured graph.
Status CudaExecutable::enqueue_forward(CudaContext& context, InputFormat format) const {
  cudaStream_t stream = context.stream();
  for (size_t i = 0; i < plan_.steps.size(); ++i) RESNET_RETURN_IF_ERROR(enqueue_step(context, i, format));
  if (output_bytes_ > 0) {
    RESNET_CUDA_CHECK(cudaMemcpyAsync(context.pinned_outputs(), context.outputs(), output_bytes_,
                                      cudaMemcpyDeviceToHost, stream),
                      "copying the outputs from the GPU");
  }
  return Status();
}

}  // namespace cuda
}  // namespace resnet
