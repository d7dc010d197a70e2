// launch_preprocess: preprocess_element (preprocess_math.h) over every output element of the images written.
#include "cuda/gpu/kernels/for_each_element.cuh"
#include "cuda/kernels.h"
#include "cuda/preprocess_math.h"

namespace resnet {
namespace cuda {

cudaError_t launch_preprocess(const PreprocessArgs& args, cudaStream_t stream) {
  return launch_for_each_element<PreprocessArgs, preprocess_element>(args, validate_preprocess_shape(args),
                                                                     element_count(args), stream);
}

}  // namespace cuda
}  // namespace resnet
