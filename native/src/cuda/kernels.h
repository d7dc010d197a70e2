// The few kernels cuDNN does not cover, one entry point each (ggml's habit): input conversion, the
// epilogue of a conv that cuDNN could not fuse, elementwise add/relu, pooling and output conversion, and the
// preprocessing of decoded images (resize, crop, normalise).
// Their arguments live in kernel_args.h (CUDA-free), their per-element logic in kernel_math.h as
// __host__ __device__ functions, which the host emulation (kernel_host.h) runs on the CPU for the tests.
// Every launcher returns the launch's cudaError_t: cudaErrorInvalidValue, without launching, for arguments
// that kernel_args.h's validate_*args() functions reject (call those first for a message), and cudaSuccess,
// without launching, for zero elements. None synchronises, and each is safe inside a stream capture.
#pragma once

#include <cuda_runtime.h>

#include "cuda/kernel_args.h"
#include "cuda/preprocess_args.h"

namespace resnet {
namespace cuda {

cudaError_t launch_input_convert(const InputConvertArgs& args, cudaStream_t stream);
cudaError_t launch_output_convert(const OutputConvertArgs& args, cudaStream_t stream);
cudaError_t launch_epilogue(const EpilogueArgs& args, cudaStream_t stream);
cudaError_t launch_elementwise(const ElementwiseArgs& args, cudaStream_t stream);
cudaError_t launch_maxpool(const PoolArgs& args, cudaStream_t stream);
cudaError_t launch_adaptive_avgpool(const PoolArgs& args, cudaStream_t stream);
cudaError_t launch_scale_convert(const ScaleConvertArgs& args, cudaStream_t stream);
/// Checks only the scalars (validate_preprocess_shape): the tables are device memory here, so the caller
/// validates them on the host before uploading (validate_preprocess_tables).
cudaError_t launch_preprocess(const PreprocessArgs& args, cudaStream_t stream);

}  // namespace cuda
}  // namespace resnet
