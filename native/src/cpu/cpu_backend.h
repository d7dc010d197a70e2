// The oneDNN CPU backend: compiles graphs into CpuExecutables and runs all its work on the compute lanes.
#pragma once

#include "backend.h"

namespace resnet {

/// The process's CPU backend (created on first use, never destroyed, like the lanes it runs on).
Backend* cpu_backend();

}  // namespace resnet
