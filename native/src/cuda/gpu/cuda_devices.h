// The CUDA devices this process sees, shared by the CUDA backend (cuda_backend.cc) and the image decoder's
// probe (image_decoder_probe.cc): whether there is a driver and a device at all, and version names.
#pragma once

#include <string>

#include "status.h"

namespace resnet {
namespace cuda {

/// The CUDA devices this process sees: kNoGpu when there is no driver or no device (saying what to do).
Result<int> cuda_device_count();

/// "13.0" from CUDA's 1000·major + 10·minor.
std::string cuda_version_name(int version);

}  // namespace cuda
}  // namespace resnet
