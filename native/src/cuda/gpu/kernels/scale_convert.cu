// launch_scale_convert: scale_convert_element (kernel_math.h) over every element, the FP16 ↔ FP8 boundaries of
// an int8 plan.
#include "cuda/gpu/kernels/for_each_element.cuh"
#include "cuda/kernel_math.h"
#include "cuda/kernels.h"

namespace resnet {
namespace cuda {

cudaError_t launch_scale_convert(const ScaleConvertArgs& args, cudaStream_t stream) {
  return launch_for_each_element<ScaleConvertArgs, scale_convert_element>(args, validate_args(args),
                                                                          element_count(args), stream);
}

}  // namespace cuda
}  // namespace resnet
