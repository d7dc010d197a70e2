// Node-API entry: registers prepare(), compile(), info(), host memory (allocate/register), listening
// sockets (open/close), the NativePreparedGraph, NativeExecutable, NativeSharedMemoryMapping and
// NativeGpuImageDecoder classes and the test-only `testing` object, nothing else. Context-aware (Napi::Addon
// keeps one instance per environment), so worker threads may load it too.
#include <napi.h>

#include "js_engine.h"
#include "js_env.h"
#include "js_executable.h"
#include "js_gpu_image_decoder.h"
#include "js_host_memory.h"
#include "js_listen_socket.h"
#include "js_prepared_graph.h"
#include "js_shared_memory.h"
#include "cuda/js_cuda_testing.h"

namespace resnet {

class Addon : public Napi::Addon<Addon> {
 public:
  Addon(Napi::Env env, Napi::Object exports) : state_(env) {
    Napi::Function executable_class = NativeExecutable::define(env, &state_);
    state_.executable_class = Napi::Persistent(executable_class);
    Napi::Function prepared_graph_class = NativePreparedGraph::define(env);
    state_.prepared_graph_class = Napi::Persistent(prepared_graph_class);
    Napi::Function host_registration_class = NativeHostRegistration::define(env);
    state_.host_registration_class = Napi::Persistent(host_registration_class);
    // Host-side logic of the CUDA backend, for tests that run without a GPU. Not part of the public API.
    Napi::Function shared_memory_class = NativeSharedMemoryMapping::define(env);
    Napi::Function gpu_image_decoder_class = NativeGpuImageDecoder::define(env, &state_);
    Napi::Object testing = Napi::Object::New(env);
    cuda::add_plan_testing(env, testing);
    cuda::add_kernel_testing(env, testing);
    cuda::add_loader_testing(env, testing);
    cuda::add_graph_testing(env, testing);
    cuda::add_fp8_testing(env, testing);
    cuda::add_path_choice_testing(env, testing);
    cuda::add_settings_testing(env, testing);
    cuda::add_stem_testing(env, testing);
    cuda::add_image_testing(env, testing);
    cuda::add_preprocess_testing(env, testing);
    cuda::add_nvjpeg_testing(env, testing);
    cuda::add_image_decoder_testing(env, testing);
    DefineAddon(exports, {
                             InstanceMethod<&Addon::prepare>("prepare"),
                             InstanceMethod<&Addon::compile>("compile"),
                             InstanceMethod<&Addon::info>("info"),
                             InstanceMethod<&Addon::allocate_host_memory>("allocateHostMemory"),
                             InstanceMethod<&Addon::register_host_memory>("registerHostMemory"),
                             InstanceMethod<&Addon::host_memory_ranges>("hostMemoryRanges"),
                             InstanceMethod<&Addon::open_listening_socket>("openListeningSocket"),
                             InstanceMethod<&Addon::close_listening_socket>("closeListeningSocket"),
                             InstanceValue("NativeExecutable", executable_class),
                             InstanceValue("NativePreparedGraph", prepared_graph_class),
                             InstanceValue("NativeSharedMemoryMapping", shared_memory_class),
                             InstanceValue("NativeGpuImageDecoder", gpu_image_decoder_class),
                             InstanceValue("testing", testing),
                         });
  }

 private:
  Napi::Value prepare(const Napi::CallbackInfo& info) { return resnet::prepare(info, state_); }
  Napi::Value compile(const Napi::CallbackInfo& info) { return resnet::compile(info, state_); }
  Napi::Value info(const Napi::CallbackInfo& info) { return resnet::info(info); }
  Napi::Value allocate_host_memory(const Napi::CallbackInfo& info) { return resnet::allocate_host_memory(info); }
  Napi::Value register_host_memory(const Napi::CallbackInfo& info) {
    return NativeHostRegistration::register_memory(info, state_.host_registration_class);
  }
  // Ranges lent to runs now, process-wide (tests check that nothing stays registered).
  Napi::Value host_memory_ranges(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(HostMemoryRegistry::instance().size()));
  }

  // A listening socket with SO_REUSEPORT for each HTTP thread of the server (js_listen_socket.h).
  Napi::Value open_listening_socket(const Napi::CallbackInfo& info) { return open_listening_socket_js(info); }
  Napi::Value close_listening_socket(const Napi::CallbackInfo& info) { return close_listening_socket_js(info); }

  EnvState state_;
};

}  // namespace resnet

using resnet::Addon;
NODE_API_ADDON(Addon)
