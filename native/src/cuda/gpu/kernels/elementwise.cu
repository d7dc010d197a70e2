// launch_elementwise: elementwise_element (kernel_math.h) over every output element.
#include "cuda/gpu/kernels/for_each_element.cuh"
#include "cuda/kernel_math.h"
#include "cuda/kernels.h"

namespace resnet {
namespace cuda {

cudaError_t launch_elementwise(const ElementwiseArgs& args, cudaStream_t stream) {
  return launch_for_each_element<ElementwiseArgs, elementwise_element>(args, validate_args(args), element_count(args),
                                                                       stream);
}

}  // namespace cuda
}  // namespace resnet
