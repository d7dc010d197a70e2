// The JS side of host memory that runs read in place (host_memory.h): allocateHostMemory() hands out an
// ArrayBuffer of the backend's own memory (pinned for CUDA), and registerHostMemory() lends existing memory
// (a SharedArrayBuffer staging arena, a shared-memory mapping) to runs, page-locking it for CUDA. Both record
// the range in the registry that NativeExecutable::run consults to skip its staging copy.
#pragma once

#include <napi.h>

#include "host_memory.h"

namespace resnet {

/// allocateHostMemory(backend, device, bytes) → ArrayBuffer. JS thread.
Napi::Value allocate_host_memory(const Napi::CallbackInfo& info);

/// The handle of one registration: `pinned`, `note`, `bytes`, and dispose() (idempotent; also run when the
/// handle is collected). It keeps the registered array alive until disposed.
class NativeHostRegistration : public Napi::ObjectWrap<NativeHostRegistration> {
 public:
  static Napi::Function define(Napi::Env env);
  /// registerHostMemory(backend, device, view) → NativeHostRegistration. JS thread.
  static Napi::Value register_memory(const Napi::CallbackInfo& info, const Napi::FunctionReference& constructor);

  explicit NativeHostRegistration(const Napi::CallbackInfo& info);
  ~NativeHostRegistration() override;

 private:
  void release();
  Napi::Value dispose(const Napi::CallbackInfo& info);

  Napi::ObjectReference view_;  // keeps the registered memory alive
  const void* data_ = nullptr;
};

}  // namespace resnet
