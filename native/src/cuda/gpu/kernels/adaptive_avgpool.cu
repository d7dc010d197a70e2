// launch_adaptive_avgpool: adaptive_avgpool_element (kernel_math.h) over every output element.
#include "cuda/gpu/kernels/for_each_element.cuh"
#include "cuda/kernel_math.h"
#include "cuda/kernels.h"

namespace resnet {
namespace cuda {

cudaError_t launch_adaptive_avgpool(const PoolArgs& args, cudaStream_t stream) {
  return launch_for_each_element<PoolArgs, adaptive_avgpool_element>(args, validate_adaptive_avgpool_args(args),
                                                                     element_count(args), stream);
}

}  // namespace cuda
}  // namespace resnet
