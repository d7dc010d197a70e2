// `testing.fp8`: the pieces of the int8 (FP8) CUDA path that run on the CPU, for test/gpu/cuda-fp8.test.ts.
//   encode(Float32Array) → Uint8Array          float_to_e4m3_bits of each element
//   decode(Uint8Array) → Float32Array          e4m3_bits_to_float of each code
//   scaleConvert({ src: Float32Array, from: 'float16' | 'float8_e4m3', to: …, scale }) → Float32Array
//       the boundary kernel's host emulation: src rounded to `from` first (for FP8, src holds the codes' values),
//       then dst = src · scale in `to`, read back as float
//   deviceSupport(major, minor) → undefined, or throws fp8_device_support's coded Error
// Synchronous; bad arguments throw coded Errors.
#include <napi.h>

#include <cmath>
#include <string>
#include <vector>

#include "cuda/fp8_math.h"
#include "cuda/js_cuda_testing.h"
#include "cuda/kernel_host.h"
#include "cuda/kernel_math.h"
#include "cuda/plan_fp8.h"
#include "graph_from_js.h"
#include "js_error.h"

namespace resnet {
namespace cuda {
namespace {

// Past this a test has gone wrong.
constexpr size_t kMaxElements = size_t{1} << 26;

[[noreturn]] void throw_invalid(Napi::Env env, const std::string& message) {
  throw make_error(env, Status(Code::kInvalidArgument, cat("testing.fp8.", message)));
}

template <typename Array>
Array typed(Napi::Env env, const Napi::Value& value, napi_typedarray_type type, const char* what, const char* where) {
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != type) {
    throw_invalid(env, cat(where, ": Expected ", what, " but received ", describe_js_value(value)));
  }
  Array array = value.As<Array>();
  if (array.ElementLength() > kMaxElements) throw_invalid(env, cat(where, ": at most 2^26 elements"));
  return array;
}

Napi::Value encode(const Napi::CallbackInfo& info) {
  const Napi::Float32Array values =
      typed<Napi::Float32Array>(info.Env(), info[0], napi_float32_array, "a Float32Array", "encode");
  Napi::Uint8Array codes = Napi::Uint8Array::New(info.Env(), values.ElementLength());
  for (size_t i = 0; i < values.ElementLength(); ++i) codes[i] = float_to_e4m3_bits(values[i]);
  return codes;
}

Napi::Value decode(const Napi::CallbackInfo& info) {
  const Napi::Uint8Array codes =
      typed<Napi::Uint8Array>(info.Env(), info[0], napi_uint8_array, "a Uint8Array", "decode");
  Napi::Float32Array values = Napi::Float32Array::New(info.Env(), codes.ElementLength());
  for (size_t i = 0; i < codes.ElementLength(); ++i) values[i] = e4m3_bits_to_float(codes[i]);
  return values;
}

StorageType storage_option(Napi::Env env, const Napi::Object& options, const char* name) {
  const Napi::Value value = options.Get(name);
  const std::string text = value.IsString() ? value.As<Napi::String>().Utf8Value() : "";
  if (text == "float16") return StorageType::kFloat16;
  if (text == "float8_e4m3") return StorageType::kFloat8E4M3;
  throw_invalid(env, cat("scaleConvert: Expected 'float16' or 'float8_e4m3' for ", name, " but received ",
                         describe_js_value(value)));
}

Napi::Value scale_convert(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) throw_invalid(env, "scaleConvert: Expected an options object");
  const Napi::Object options = info[0].As<Napi::Object>();
  const Napi::Float32Array src =
      typed<Napi::Float32Array>(env, options.Get("src"), napi_float32_array, "a Float32Array", "scaleConvert.src");
  ScaleConvertArgs args;
  args.src_storage = storage_option(env, options, "from");
  args.dst_storage = storage_option(env, options, "to");
  const Napi::Value scale = options.Get("scale");
  args.scale = scale.IsNumber() ? static_cast<float>(scale.As<Napi::Number>().DoubleValue()) : NAN;
  args.count = static_cast<int64_t>(src.ElementLength());
  std::vector<uint8_t> stored(src.ElementLength() * storage_bytes(args.src_storage));
  for (size_t i = 0; i < src.ElementLength(); ++i)
    store(stored.data(), args.src_storage, static_cast<int64_t>(i), src[i]);
  std::vector<uint8_t> dst(src.ElementLength() * storage_bytes(args.dst_storage));
  args.src = stored.data();
  args.dst = dst.data();
  const Status status = scale_convert_host(args);
  if (!status.ok()) throw make_error(env, status);
  Napi::Float32Array result = Napi::Float32Array::New(env, src.ElementLength());
  for (size_t i = 0; i < src.ElementLength(); ++i)
    result[i] = load(dst.data(), args.dst_storage, static_cast<int64_t>(i));
  return result;
}

Napi::Value device_support(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber() || !info[1].IsNumber()) throw_invalid(env, "deviceSupport: Expected (major, minor) numbers");
  const Status status =
      fp8_device_support(info[0].As<Napi::Number>().Int32Value(), info[1].As<Napi::Number>().Int32Value());
  if (!status.ok()) throw make_error(env, status);
  return env.Undefined();
}

}  // namespace

void add_fp8_testing(Napi::Env env, Napi::Object& testing) {
  Napi::Object fp8 = Napi::Object::New(env);
  fp8.Set("encode", Napi::Function::New(env, encode, "encode"));
  fp8.Set("decode", Napi::Function::New(env, decode, "decode"));
  fp8.Set("scaleConvert", Napi::Function::New(env, scale_convert, "scaleConvert"));
  fp8.Set("deviceSupport", Napi::Function::New(env, device_support, "deviceSupport"));
  testing.Set("fp8", fp8);
}

}  // namespace cuda
}  // namespace resnet
