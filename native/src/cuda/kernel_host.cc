#include "cuda/kernel_host.h"

#include "cuda/kernel_math.h"
#include "cuda/preprocess_math.h"

namespace resnet {
namespace cuda {
namespace {

/// What for_each_element_kernel (gpu/kernels/for_each_element.cuh) does, in one CPU thread.
template <typename Args, void (*element)(const Args&, int64_t)>
Status for_each_element_host(const Args& args, const Status& validation) {
  RESNET_RETURN_IF_ERROR(validation);
  const int64_t count = element_count(args);
  for (int64_t i = 0; i < count; ++i) element(args, i);
  return Status();
}

}  // namespace

Status input_convert_host(const InputConvertArgs& args) {
  return for_each_element_host<InputConvertArgs, input_convert_element>(args, validate_args(args));
}

Status output_convert_host(const OutputConvertArgs& args) {
  return for_each_element_host<OutputConvertArgs, output_convert_element>(args, validate_args(args));
}

Status epilogue_host(const EpilogueArgs& args) {
  return for_each_element_host<EpilogueArgs, epilogue_element>(args, validate_args(args));
}

Status elementwise_host(const ElementwiseArgs& args) {
  return for_each_element_host<ElementwiseArgs, elementwise_element>(args, validate_args(args));
}

Status maxpool_host(const PoolArgs& args) {
  return for_each_element_host<PoolArgs, maxpool_element>(args, validate_maxpool_args(args));
}

Status adaptive_avgpool_host(const PoolArgs& args) {
  return for_each_element_host<PoolArgs, adaptive_avgpool_element>(args, validate_adaptive_avgpool_args(args));
}

Status scale_convert_host(const ScaleConvertArgs& args) {
  return for_each_element_host<ScaleConvertArgs, scale_convert_element>(args, validate_args(args));
}

Status preprocess_host(const PreprocessArgs& args) {
  return for_each_element_host<PreprocessArgs, preprocess_element>(args, validate_preprocess_tables(args));
}

}  // namespace cuda
}  // namespace resnet
