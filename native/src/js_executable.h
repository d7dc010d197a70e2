// NativeExecutable: the JS handle of a compiled graph. run() validates the input on the JS thread and copies
// what is not memory lent to runs (host_memory.h), then the forward runs where the backend runs work; dispose() drops the weights and contexts
// (runs already queued keep what they need and finish).
#pragma once

#include <napi.h>

#include <memory>
#include <vector>

#include "backend.h"
#include "context_pool.h"
#include "js_env.h"

namespace resnet {

/// What compile hands to a new NativeExecutable.
struct CompiledGraph {
  std::shared_ptr<ContextPool> pool;
  Backend* backend = nullptr;
  int threads = 0;
  int64_t input_elements = 0;            // batch included
  std::vector<int64_t> output_elements;  // batch included, by graph output
  Shape input_shape;                     // per sample, for messages
  int64_t batch = 0;
};

class NativeExecutable : public Napi::ObjectWrap<NativeExecutable> {
 public:
  /// The class, for `exports.NativeExecutable` (so `instanceof` works); JS cannot construct it usefully.
  static Napi::Function define(Napi::Env env, EnvState* state);
  /// A new instance owning `compiled`. JS thread only.
  static Napi::Object create(EnvState& state, CompiledGraph compiled);

  explicit NativeExecutable(const Napi::CallbackInfo& info);

 private:
  Napi::Value run(const Napi::CallbackInfo& info);
  void dispose(const Napi::CallbackInfo& info);
  Napi::Value weight_bytes(const Napi::CallbackInfo& info);
  Napi::Value shared_weight_bytes(const Napi::CallbackInfo& info);
  Napi::Value activation_bytes(const Napi::CallbackInfo& info);
  Napi::Value context_count(const Napi::CallbackInfo& info);
  Napi::Value batch(const Napi::CallbackInfo& info);
  Napi::Value input_shape(const Napi::CallbackInfo& info);
  Napi::Value describe(const Napi::CallbackInfo& info);

  EnvState* state_;
  CompiledGraph compiled_;
  size_t weight_bytes_ = 0;
  size_t shared_weight_bytes_ = 0;
  size_t activation_bytes_ = 0;
};

}  // namespace resnet
