// launch_maxpool: maxpool_element (kernel_math.h) over every output element.
#include "cuda/gpu/kernels/for_each_element.cuh"
#include "cuda/kernel_math.h"
#include "cuda/kernels.h"

namespace resnet {
namespace cuda {

cudaError_t launch_maxpool(const PoolArgs& args, cudaStream_t stream) {
  return launch_for_each_element<PoolArgs, maxpool_element>(args, validate_maxpool_args(args), element_count(args),
                                                            stream);
}

}  // namespace cuda
}  // namespace resnet
