// Per-environment state of the addon (the main thread and each worker have their own): the channel that
// brings finished jobs back to the JS thread, and the bookkeeping that lets an idle addon not keep the
// process alive and lets an environment shut down cleanly.
#pragma once

#include <napi.h>

#include <memory>
#include <vector>

#include "backend.h"

namespace resnet {

/// Work that runs off the JS thread and then settles a promise on it.
class AsyncJob {
 public:
  explicit AsyncJob(Napi::Env env) : deferred_(Napi::Promise::Deferred::New(env)) {}
  virtual ~AsyncJob() = default;

  Napi::Promise promise() const { return deferred_.Promise(); }
  /// Off the JS thread, where the backend runs work. Must not touch Node-API; should report failures
  /// through its own status (an exception that escapes still rejects the promise, see EnvState::start).
  virtual void execute() = 0;
  /// On the JS thread: resolves or rejects the promise.
  virtual void settle(Napi::Env env, const Napi::Promise::Deferred& deferred) = 0;

 private:
  friend class EnvState;
  Napi::Promise::Deferred deferred_;
  Status escaped_;  // set when execute() threw: the promise is rejected with it instead of settled
};

class EnvState {
 public:
  explicit EnvState(Napi::Env env);
  EnvState(const EnvState&) = delete;
  EnvState& operator=(const EnvState&) = delete;

  /// Queues `job` on `backend`, shaped as `shape` says, and returns its promise. JS thread only.
  Napi::Promise start(Backend* backend, JobShape shape, std::shared_ptr<AsyncJob> job);

  /// This environment's NativeExecutable class (set when the addon registers it).
  Napi::FunctionReference executable_class;
  /// This environment's NativePreparedGraph class (set when the addon registers it).
  Napi::FunctionReference prepared_graph_class;
  /// This environment's NativeHostRegistration class (set when the addon registers it).
  Napi::FunctionReference host_registration_class;

 private:
  using Completion = std::shared_ptr<AsyncJob>;
  static void deliver(Napi::Env env, Napi::Function, EnvState* state, Completion* completion);
  using Channel = Napi::TypedThreadSafeFunction<EnvState, Completion, &EnvState::deliver>;

  void post(Completion* completion);  // off the JS thread; takes ownership
  void cleanup();

  Napi::Env env_;
  Channel channel_;
  size_t pending_ = 0;              // jobs started and not yet settled; the channel is ref'd while > 0
  std::vector<Backend*> attached_;  // backends this environment has submitted to
};

}  // namespace resnet
