#include "js_shared_memory.h"

#include <cmath>
#include <iomanip>
#include <sstream>
#include <string>

#include "js_error.h"

namespace resnet {
namespace {

/// 2^53 - 1: the largest integer a JS number holds exactly.
constexpr double kMaxSafeInteger = 9007199254740991.0;

/// A value as an argument error shows it: numbers as written, anything else by its type.
std::string describe(const Napi::Value& value) {
  if (value.IsNumber()) {
    std::ostringstream out;
    out << std::setprecision(17) << value.As<Napi::Number>().DoubleValue();
    return out.str();
  }
  switch (value.Type()) {
    case napi_undefined: return "undefined";
    case napi_null: return "null";
    case napi_boolean: return value.As<Napi::Boolean>().Value() ? "true" : "false";
    case napi_string: return "a string";
    case napi_bigint: return "a bigint";
    default: return "an object";
  }
}

/// A non-negative integer argument, sharp's wording for anything else.
Result<uint64_t> byte_count(const Napi::Value& value, const char* name) {
  if (value.IsNumber()) {
    const double number = value.As<Napi::Number>().DoubleValue();
    if (std::isfinite(number) && number >= 0 && number <= kMaxSafeInteger && std::floor(number) == number) {
      return static_cast<uint64_t>(number);
    }
  }
  return Status(Code::kInvalidArgument,
                cat("Expected a non-negative integer for ", name, " but received ", describe(value)));
}

/// The finalizer's share of the region: dropped when the ArrayBuffer is collected.
void release_region(napi_env, void*, void* hint) { delete static_cast<std::shared_ptr<SharedMemoryRegion>*>(hint); }

}  // namespace

Napi::Function NativeSharedMemoryMapping::define(Napi::Env env) {
  return DefineClass(env, "NativeSharedMemoryMapping",
                     {
                         InstanceAccessor<&NativeSharedMemoryMapping::buffer>("buffer"),
                         InstanceAccessor<&NativeSharedMemoryMapping::byte_offset>("byteOffset"),
                         InstanceAccessor<&NativeSharedMemoryMapping::byte_length>("byteLength"),
                         InstanceMethod<&NativeSharedMemoryMapping::object_size>("objectSize"),
                         InstanceMethod<&NativeSharedMemoryMapping::close>("close"),
                     });
}

NativeSharedMemoryMapping::NativeSharedMemoryMapping(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<NativeSharedMemoryMapping>(info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) {
    throw make_error(env,
                     Status(Code::kInvalidArgument, "Expected a string (\"/my_region\") for the shared memory key"));
  }
  const std::string key = info[0].As<Napi::String>().Utf8Value();
  Result<uint64_t> offset = byte_count(info[1], "offset");
  if (!offset.ok()) throw make_error(env, offset.status());
  Result<uint64_t> byte_size = byte_count(info[2], "byteSize");
  if (!byte_size.ok()) throw make_error(env, byte_size.status());

  Result<std::unique_ptr<SharedMemoryRegion>> opened = SharedMemoryRegion::open(key, offset.value(), byte_size.value());
  if (!opened.ok()) throw make_error(env, opened.status());
  region_ = opened.take();

  auto* hint = new std::shared_ptr<SharedMemoryRegion>(region_);
  napi_value array_buffer = nullptr;
  napi_status status = napi_create_external_arraybuffer(env, region_->mapping(), region_->mapping_length(),
                                                        release_region, hint, &array_buffer);
  if (status != napi_ok) {
    delete hint;
    region_->unmap();
    // 22 is napi_no_external_buffers_allowed (a runtime built with the V8 sandbox, such as Electron's).
    throw make_error(env, status == 22 ? Status(Code::kUnsupported,
                                                "this JavaScript runtime does not allow external ArrayBuffers, "
                                                "so shared memory cannot be mapped in it")
                                       : Status(Code::kBackend,
                                                "could not create an ArrayBuffer over the shared memory mapping"));
  }
  buffer_ = Napi::Persistent(Napi::ArrayBuffer(env, array_buffer));
  byte_offset_ = region_->delta();
  byte_length_ = region_->byte_size();
}

Napi::Value NativeSharedMemoryMapping::buffer(const Napi::CallbackInfo& info) {
  if (buffer_.IsEmpty()) return info.Env().Null();
  return buffer_.Value();
}

Napi::Value NativeSharedMemoryMapping::byte_offset(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(byte_offset_));
}

Napi::Value NativeSharedMemoryMapping::byte_length(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(byte_length_));
}

Napi::Value NativeSharedMemoryMapping::object_size(const Napi::CallbackInfo& info) {
  if (!region_ || !region_->mapped()) {
    throw make_error(info.Env(), Status(Code::kDisposed, "this shared memory mapping was closed"));
  }
  Result<uint64_t> size = region_->object_size();
  if (!size.ok()) throw make_error(info.Env(), size.status());
  return Napi::Number::New(info.Env(), static_cast<double>(size.value()));
}

void NativeSharedMemoryMapping::close(const Napi::CallbackInfo&) {
  // Detach first: from here on no JS view can reach the memory, so unmapping it is safe.
  if (!buffer_.IsEmpty()) {
    Napi::ArrayBuffer array_buffer = buffer_.Value();
    if (!array_buffer.IsDetached()) array_buffer.Detach();
    buffer_.Reset();
  }
  if (region_) region_->unmap();
  region_.reset();
}

}  // namespace resnet
