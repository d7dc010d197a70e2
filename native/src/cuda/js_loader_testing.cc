#include "cuda/js_cuda_testing.h"

namespace resnet {
namespace cuda {

void add_loader_testing(Napi::Env, Napi::Object&) {}

}  // namespace cuda
}  // namespace resnet
