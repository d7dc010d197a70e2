// NativeSharedMemoryMapping: the JS handle of a SharedMemoryRegion (shared_memory_region.h).
// `new NativeSharedMemoryMapping(key, offset, byteSize)` maps the range; `buffer` is an external
// ArrayBuffer over the mapping, from its page-aligned start (the registered bytes begin `byteOffset` into
// it). close() detaches that ArrayBuffer before unmapping, so every JS view of it becomes empty instead of
// pointing at unmapped memory; a mapping never closed is unmapped once both the handle and the ArrayBuffer
// have been collected.
#pragma once

#include <napi.h>

#include <memory>

#include "shared_memory_region.h"

namespace resnet {

class NativeSharedMemoryMapping : public Napi::ObjectWrap<NativeSharedMemoryMapping> {
 public:
  /// The class, for `exports.NativeSharedMemoryMapping`.
  static Napi::Function define(Napi::Env env);

  /// (key: string, offset: number, byteSize: number). Throws a coded Error (ERR_INVALID_ARGUMENT for a bad
  /// key, range or object; ERR_OUT_OF_MEMORY when mmap finds no room; ERR_BACKEND for too many open files).
  explicit NativeSharedMemoryMapping(const Napi::CallbackInfo& info);

 private:
  Napi::Value buffer(const Napi::CallbackInfo& info);
  Napi::Value byte_offset(const Napi::CallbackInfo& info);
  Napi::Value byte_length(const Napi::CallbackInfo& info);
  Napi::Value object_size(const Napi::CallbackInfo& info);
  void close(const Napi::CallbackInfo& info);

  // Shared with the ArrayBuffer's finalizer, which may run before or after this handle is collected.
  std::shared_ptr<SharedMemoryRegion> region_;
  Napi::Reference<Napi::ArrayBuffer> buffer_;
  size_t byte_offset_ = 0;
  size_t byte_length_ = 0;
};

}  // namespace resnet
