#include "js_host_memory.h"

#include <new>
#include <string>

#include "backend.h"
#include "graph_from_js.h"
#include "js_error.h"

namespace resnet {
namespace {

// The largest single allocation or registration: far above any batch's input, low enough that a typo in a
// size cannot ask the driver to pin the whole machine.
constexpr double kMaxHostBytes = 64.0 * 1024 * 1024 * 1024;

Backend* backend_argument(Napi::Env env, const Napi::Value& value) {
  if (!value.IsString()) {
    throw make_error(env, Status(Code::kInvalidArgument, cat("Expected \"cpu\" or \"cuda\" for backend but received ",
                                                             describe_js_value(value))));
  }
  Result<Backend*> backend = find_backend(value.As<Napi::String>().Utf8Value());
  if (!backend.ok()) throw make_error(env, backend.status());
  return backend.value();
}

int device_argument(Napi::Env env, const Napi::Value& value) {
  const double device = value.IsNumber() ? value.As<Napi::Number>().DoubleValue() : -1;
  if (!(device >= 0 && device <= 1023 && device == static_cast<int>(device))) {
    throw make_error(env, Status(Code::kInvalidArgument,
                                 cat("Expected an integer between 0 and 1023 for device but received ",
                                     describe_js_value(value))));
  }
  return static_cast<int>(device);
}

// Holds what the external ArrayBuffer's finalizer releases.
struct HostAllocation {
  HostMemory memory;
};

}  // namespace

Napi::Value allocate_host_memory(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Backend* backend = backend_argument(env, info[0]);
  const int device = device_argument(env, info[1]);
  const double requested = info[2].IsNumber() ? info[2].As<Napi::Number>().DoubleValue() : -1;
  if (!(requested >= 1 && requested <= kMaxHostBytes &&
        requested == static_cast<double>(static_cast<size_t>(requested)))) {
    throw make_error(env,
                     Status(Code::kInvalidArgument, cat("Expected a byte count from 1 to 2^36 for bytes but received ",
                                                        describe_js_value(info[2]))));
  }
  const size_t bytes = static_cast<size_t>(requested);
  Result<HostMemory> memory = backend->allocate_host(bytes, device);
  if (!memory.ok()) throw make_error(env, memory.status());
  void* data = memory.value().get();
  Status recorded = HostMemoryRegistry::instance().add(data, bytes);
  if (!recorded.ok()) throw make_error(env, recorded);
  auto* allocation = new HostAllocation{memory.take()};
  try {
    return Napi::ArrayBuffer::New(
        env, data, bytes,
        [](Napi::Env, void* finalized, HostAllocation* owned) {
          // Runs hold the array while they read it, so none can be in flight here.
          HostMemoryRegistry::instance().remove(finalized);
          delete owned;
        },
        allocation);
  } catch (...) {
    HostMemoryRegistry::instance().remove(data);
    delete allocation;
    throw;
  }
}

Napi::Function NativeHostRegistration::define(Napi::Env env) {
  return DefineClass(env, "NativeHostRegistration", {InstanceMethod<&NativeHostRegistration::dispose>("dispose")});
}

Napi::Value NativeHostRegistration::register_memory(const Napi::CallbackInfo& info,
                                                    const Napi::FunctionReference& constructor) {
  Napi::Env env = info.Env();
  Backend* backend = backend_argument(env, info[0]);
  const int device = device_argument(env, info[1]);
  const Napi::Value view = info[2];
  if (!view.IsTypedArray()) {
    throw make_error(env, Status(Code::kInvalidArgument, cat("Expected a typed array (over an ArrayBuffer or a "
                                                             "SharedArrayBuffer) for memory but received ",
                                                             describe_js_value(view))));
  }
  // napi_get_typedarray_info gives the data pointer for SharedArrayBuffer-backed arrays too.
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  napi_value buffer;
  size_t offset = 0;
  NAPI_THROW_IF_FAILED(env, napi_get_typedarray_info(env, view, &type, &length, &data, &buffer, &offset),
                       Napi::Value());
  const size_t bytes = view.As<Napi::TypedArray>().ByteLength();
  if (data == nullptr || bytes == 0 || static_cast<double>(bytes) > kMaxHostBytes) {
    throw make_error(env,
                     Status(Code::kInvalidArgument,
                            cat("Expected 1 byte to 2^36 bytes of memory to register but received ", bytes, " bytes")));
  }
  Result<HostPin> pin = backend->pin_host(data, bytes, device);
  if (!pin.ok()) throw make_error(env, pin.status());
  // The registry keeps the pin (and every run reading the range keeps it too): undone when the last lets go.
  Status recorded = HostMemoryRegistry::instance().add(data, bytes, pin.value().undo);
  if (!recorded.ok()) throw make_error(env, recorded);  // the pin's undo runs as `pin` goes
  Napi::Object handle;
  try {
    handle = constructor.New({});
  } catch (...) {
    HostMemoryRegistry::instance().remove(data);  // no handle could dispose it
    throw;
  }
  NativeHostRegistration* registration = Unwrap(handle);
  registration->view_ = Napi::Persistent(view.As<Napi::Object>());
  registration->data_ = data;
  handle.Set("pinned", Napi::Boolean::New(env, pin.value().pinned));
  handle.Set("note", Napi::String::New(env, pin.value().note));
  handle.Set("bytes", Napi::Number::New(env, static_cast<double>(bytes)));
  return handle;
}

NativeHostRegistration::NativeHostRegistration(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<NativeHostRegistration>(info) {}

NativeHostRegistration::~NativeHostRegistration() {
  // Collected without dispose(): forget the range (its pin goes with the last run that reads it). The array
  // reference goes with the environment's own bookkeeping (a finalizer must not call into JS).
  if (data_ != nullptr) HostMemoryRegistry::instance().remove(data_);
}

void NativeHostRegistration::release() {
  if (data_ == nullptr) return;
  HostMemoryRegistry::instance().remove(data_);
  data_ = nullptr;
  view_.Reset();
}

Napi::Value NativeHostRegistration::dispose(const Napi::CallbackInfo& info) {
  release();
  return info.Env().Undefined();
}

}  // namespace resnet
