// Test-only exports of the CUDA backend's host-side logic (the addon's `testing` object): planning,
// the kernels' host emulation and the cuDNN loader's search, so CI tests them without a GPU. Each
// subject adds its functions in its own file.
#pragma once

#include <napi.h>

namespace resnet {
namespace cuda {

/// `testing.cudaPlan(graph, { batch, precision })` and friends (js_plan_testing.cc).
void add_plan_testing(Napi::Env env, Napi::Object& testing);
/// `testing.cudaKernels.*`: the host emulation of every kernel (js_kernel_testing.cc).
void add_kernel_testing(Napi::Env env, Napi::Object& testing);
/// `testing.cudnnLoader.*`: the loader's candidate list and error messages (js_loader_testing.cc).
void add_loader_testing(Napi::Env env, Napi::Object& testing);

}  // namespace cuda
}  // namespace resnet
