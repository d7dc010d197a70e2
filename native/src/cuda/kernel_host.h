// The host emulation of the custom kernels: each runs the kernel's per-element function (kernel_math.h)
// over every output element on the CPU, the very code the device runs in its grid-stride loop, so the
// tests check the device's arithmetic without a GPU. Pointers are host pointers here. Each validates its
// arguments as the launcher does and returns ERR_INVALID_ARGUMENT instead of touching memory.
#pragma once

#include "cuda/kernel_args.h"
#include "cuda/preprocess_args.h"
#include "status.h"

namespace resnet {
namespace cuda {

Status input_convert_host(const InputConvertArgs& args);
Status output_convert_host(const OutputConvertArgs& args);
Status epilogue_host(const EpilogueArgs& args);
Status elementwise_host(const ElementwiseArgs& args);
Status maxpool_host(const PoolArgs& args);
Status adaptive_avgpool_host(const PoolArgs& args);
Status scale_convert_host(const ScaleConvertArgs& args);
/// Checks every table entry first (validate_preprocess_tables), so a bad plan never reads out of bounds.
Status preprocess_host(const PreprocessArgs& args);

}  // namespace cuda
}  // namespace resnet
