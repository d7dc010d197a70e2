// The cuDNN GPU backend: compiles graphs into CudaExecutables and runs all its work on the GPU workers
// (gpu_workers.h). Built only where nvcc is found (RESNET_WITH_CUDA); it loads cuDNN at run time, so a
// machine without a GPU or without cuDNN still loads the addon and reports why the backend is unavailable.
#pragma once

#include "backend.h"

namespace resnet {

/// The process's CUDA backend (created on first use, never destroyed, like its workers).
Backend* cuda_backend();

}  // namespace resnet
