// Node-API entry: registers prepare(), compile(), info() and the NativePreparedGraph and NativeExecutable
// classes, nothing else. Context-aware
// (Napi::Addon keeps one instance per environment), so worker threads may load it too.
#include <napi.h>

#include "js_engine.h"
#include "js_env.h"
#include "js_executable.h"
#include "js_prepared_graph.h"

namespace resnet {

class Addon : public Napi::Addon<Addon> {
 public:
  Addon(Napi::Env env, Napi::Object exports) : state_(env) {
    Napi::Function executable_class = NativeExecutable::define(env, &state_);
    state_.executable_class = Napi::Persistent(executable_class);
    Napi::Function prepared_graph_class = NativePreparedGraph::define(env);
    state_.prepared_graph_class = Napi::Persistent(prepared_graph_class);
    DefineAddon(exports, {
                             InstanceMethod<&Addon::prepare>("prepare"),
                             InstanceMethod<&Addon::compile>("compile"),
                             InstanceMethod<&Addon::info>("info"),
                             InstanceValue("NativeExecutable", executable_class),
                             InstanceValue("NativePreparedGraph", prepared_graph_class),
                         });
  }

 private:
  Napi::Value prepare(const Napi::CallbackInfo& info) { return resnet::prepare(info, state_); }
  Napi::Value compile(const Napi::CallbackInfo& info) { return resnet::compile(info, state_); }
  Napi::Value info(const Napi::CallbackInfo& info) { return resnet::info(info); }

  EnvState state_;
};

}  // namespace resnet

using resnet::Addon;
NODE_API_ADDON(Addon)
