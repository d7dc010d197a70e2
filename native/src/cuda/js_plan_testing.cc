#include "cuda/js_cuda_testing.h"

namespace resnet {
namespace cuda {

void add_plan_testing(Napi::Env, Napi::Object&) {}

}  // namespace cuda
}  // namespace resnet
