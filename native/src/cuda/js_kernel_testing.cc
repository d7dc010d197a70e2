// `testing.cudaKernels`: the host emulation of every custom kernel (kernel_host.h) and the storage
// conversions (kernel_math.h), for the tests of test/gpu/cuda-kernels.test.ts. Data crosses as float32 (or
// uint8 for the input): each function rounds it to the storage type, runs the kernel's emulation, and
// returns the result converted back to float32, so a test sees exactly the values the device would store.
// Every argument is checked; a bad one throws a coded error (never a crash).
#include <napi.h>

#include <cmath>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "cuda/js_cuda_testing.h"
#include "cuda/kernel_host.h"
#include "cuda/kernel_math.h"
#include "js_error.h"

namespace resnet {
namespace cuda {
namespace {

// Far above any test's tensor, far below what would exhaust memory: keeps a typo from allocating gigabytes.
constexpr int64_t kMaxElements = int64_t{1} << 26;
constexpr int64_t kDimensionLimit = int64_t{1} << 31;

[[noreturn]] void fail(Napi::Env env, Code code, const std::string& message) {
  throw make_error(env, Status(code, message));
}

/// How a received value reads in a message: numbers and strings as themselves, objects by kind.
std::string describe(const Napi::Value& value) {
  if (value.IsNumber()) return cat(value.As<Napi::Number>().DoubleValue());
  if (value.IsString()) return cat('"', value.As<Napi::String>().Utf8Value(), '"');
  if (value.IsUndefined()) return "undefined";
  if (value.IsNull()) return "null";
  if (value.IsBoolean()) return value.As<Napi::Boolean>().Value() ? "true" : "false";
  if (value.IsTypedArray()) return cat("a typed array of ", value.As<Napi::TypedArray>().ElementLength(), " elements");
  if (value.IsArray()) return "an array";
  return "an object";
}

/// The fields of one call's options object, read with uniform messages:
/// "cudaKernels.maxpool: Expected an integer >= 1 for kernel[0] but received 0".
class Options {
 public:
  Options(const Napi::CallbackInfo& info, const char* function) : env_(info.Env()), function_(function) {
    if (info.Length() < 1 || !info[0].IsObject() || info[0].IsArray() || info[0].IsTypedArray()) {
      expected("an options object", "the first argument", info.Length() < 1 ? env_.Undefined() : info[0]);
    }
    object_ = info[0].As<Napi::Object>();
  }

  Napi::Env env() const { return env_; }

  [[noreturn]] void expected(const std::string& what, const std::string& name, const Napi::Value& received) const {
    fail(env_, Code::kInvalidArgument,
         cat("cudaKernels.", function_, ": Expected ", what, " for ", name, " but received ", describe(received)));
  }

  [[noreturn]] void wrong_length(const char* name, size_t length, int64_t expected_length,
                                 const std::string& why) const {
    fail(env_, Code::kInvalidShape,
         cat("cudaKernels.", function_, ": ", name, " has ", length, " elements, expected ", expected_length, " (", why,
             ")"));
  }

  Napi::Value get(const char* name) const { return object_.Get(name); }
  bool has(const char* name) const { return !get(name).IsUndefined(); }

  static bool is_integer_in(const Napi::Value& value, int64_t min) {
    if (!value.IsNumber()) return false;
    const double number = value.As<Napi::Number>().DoubleValue();
    return std::isfinite(number) && std::floor(number) == number && number >= static_cast<double>(min) &&
           number < static_cast<double>(kDimensionLimit);
  }

  int64_t integer(const char* name, int64_t min) const {
    const Napi::Value value = get(name);
    if (!is_integer_in(value, min)) expected(cat("an integer in [", min, ", 2^31)"), name, value);
    return static_cast<int64_t>(value.As<Napi::Number>().DoubleValue());
  }

  /// `[h, w]` of integers >= min, or `*fallback` when absent (required without a fallback).
  Pair pair(const char* name, int64_t min, const Pair* fallback = nullptr) const {
    const Napi::Value value = get(name);
    if (value.IsUndefined() && fallback != nullptr) return *fallback;
    if (!value.IsArray() || value.As<Napi::Array>().Length() != 2) expected("an array [h, w]", name, value);
    const Napi::Array array = value.As<Napi::Array>();
    int64_t parts[2];
    for (uint32_t i = 0; i < 2; ++i) {
      const Napi::Value part = array.Get(i);
      if (!is_integer_in(part, min)) expected(cat("an integer in [", min, ", 2^31)"), cat(name, "[", i, "]"), part);
      parts[i] = static_cast<int64_t>(part.As<Napi::Number>().DoubleValue());
    }
    return Pair{parts[0], parts[1]};
  }

  float number(const char* name, float fallback) const {
    const Napi::Value value = get(name);
    if (value.IsUndefined()) return fallback;
    if (!value.IsNumber() || !std::isfinite(value.As<Napi::Number>().DoubleValue())) {
      expected("a finite number", name, value);
    }
    return static_cast<float>(value.As<Napi::Number>().DoubleValue());
  }

  bool flag(const char* name) const {
    const Napi::Value value = get(name);
    if (value.IsUndefined()) return false;
    if (!value.IsBoolean()) expected("a boolean", name, value);
    return value.As<Napi::Boolean>().Value();
  }

  StorageType storage() const {
    const Napi::Value value = get("storage");
    const std::string name = value.IsString() ? value.As<Napi::String>().Utf8Value() : "";
    if (name == "float32") return StorageType::kFloat32;
    if (name == "float16") return StorageType::kFloat16;
    if (name == "bfloat16") return StorageType::kBFloat16;
    expected("'float32', 'float16' or 'bfloat16'", "storage", value);
  }

  bool is_typed(const char* name, napi_typedarray_type type) const {
    const Napi::Value value = get(name);
    return value.IsTypedArray() && value.As<Napi::TypedArray>().TypedArrayType() == type;
  }

  /// The Float32Array `name`, which must hold `expected_length` elements (`why` says where that comes from).
  Napi::Float32Array floats(const char* name, int64_t expected_length, const std::string& why) const {
    if (!is_typed(name, napi_float32_array)) expected("a Float32Array", name, get(name));
    const Napi::Float32Array array = get(name).As<Napi::Float32Array>();
    if (static_cast<int64_t>(array.ElementLength()) != expected_length) {
      wrong_length(name, array.ElementLength(), expected_length, why);
    }
    return array;
  }

 private:
  Napi::Env env_;
  const char* function_;
  Napi::Object object_;
};

/// The product of `dims` when it is at most kMaxElements; throws otherwise.
int64_t elements(const Options& options, std::initializer_list<int64_t> dims) {
  int64_t result = 1;
  for (int64_t dim : dims) {
    if (__builtin_mul_overflow(result, dim, &result) || result > kMaxElements) {
      fail(options.env(), Code::kInvalidArgument,
           "cudaKernels: the tensor is larger than the 2^26 elements tests may use");
    }
  }
  return result;
}

/// `values` rounded to `storage`, as the device would hold them.
std::vector<uint8_t> to_storage(const float* values, int64_t count, StorageType storage) {
  std::vector<uint8_t> data(static_cast<size_t>(count) * storage_bytes(storage));
  for (int64_t i = 0; i < count; ++i) store(data.data(), storage, i, values[i]);
  return data;
}

/// `count` elements of a storage array, as a Float32Array.
Napi::Float32Array from_storage(Napi::Env env, const void* data, int64_t count, StorageType storage) {
  Napi::Float32Array result = Napi::Float32Array::New(env, static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) result[static_cast<size_t>(i)] = load(data, storage, i);
  return result;
}

void throw_if_error(Napi::Env env, const Status& status) {
  if (!status.ok()) throw make_error(env, status);
}

/// Runs `body`, turning an allocation failure into a coded error instead of an escaping exception.
template <typename Body>
Napi::Value guarded(const Napi::CallbackInfo& info, Body&& body) {
  try {
    return body();
  } catch (const std::bad_alloc&) {
    fail(info.Env(), Code::kOutOfMemory, "cudaKernels: out of memory");
  }
}

// ---- storage conversions -----------------------------------------------------------------------------------

/// Throws unless the first argument is a typed array of `type` (`what` names it in the message).
void expect_typed_argument(const Napi::CallbackInfo& info, const char* function, napi_typedarray_type type,
                           const char* what) {
  const Napi::Value value = info.Length() < 1 ? info.Env().Undefined() : info[0];
  if (value.IsTypedArray() && value.As<Napi::TypedArray>().TypedArrayType() == type) return;
  fail(info.Env(), Code::kInvalidArgument,
       cat("cudaKernels.", function, ": Expected ", what, " for the first argument but received ", describe(value)));
}

template <uint16_t (*convert)(float)>
Napi::Value to_bits(const Napi::CallbackInfo& info, const char* function) {
  expect_typed_argument(info, function, napi_float32_array, "a Float32Array");
  const Napi::Float32Array values = info[0].As<Napi::Float32Array>();
  Napi::Uint16Array result = Napi::Uint16Array::New(info.Env(), values.ElementLength());
  for (size_t i = 0; i < values.ElementLength(); ++i) {
    float value;  // read the bits, so that NaN payloads reach the conversion untouched
    std::memcpy(&value, values.Data() + i, sizeof value);
    result[i] = convert(value);
  }
  return result;
}

template <float (*convert)(uint16_t)>
Napi::Value from_bits(const Napi::CallbackInfo& info, const char* function) {
  expect_typed_argument(info, function, napi_uint16_array, "a Uint16Array");
  const Napi::Uint16Array bits = info[0].As<Napi::Uint16Array>();
  Napi::Float32Array result = Napi::Float32Array::New(info.Env(), bits.ElementLength());
  for (size_t i = 0; i < bits.ElementLength(); ++i) {
    const float value = convert(bits[i]);
    std::memcpy(result.Data() + i, &value, sizeof value);
  }
  return result;
}

// ---- kernels -------------------------------------------------------------------------------------------

Napi::Value input_convert(const Napi::CallbackInfo& info) {
  const Options options(info, "inputConvert");
  InputConvertArgs args;
  args.n = options.integer("n", 0);
  args.channels = options.integer("c", 0);
  args.h = options.integer("h", 0);
  args.w = options.integer("w", 0);
  args.stored_channels = options.integer("storedChannels", 0);
  args.storage = options.storage();
  args.scale = options.number("scale", 1.0f);
  // The stem form's layout: `block` (space-to-depth cells), `padding` [top, left], `outH`/`outW` (the
  // destination's size; the source's by default).
  args.block = options.has("block") ? options.integer("block", 1) : 1;
  const Pair zero{0, 0};
  const Pair padding = options.pair("padding", 0, &zero);
  args.pad_top = padding.h;
  args.pad_left = padding.w;
  args.out_h = options.has("outH") ? options.integer("outH", 0) : args.h;
  args.out_w = options.has("outW") ? options.integer("outW", 0) : args.w;
  const int64_t source_count = elements(options, {args.n, args.channels, args.h, args.w});
  const int64_t count = elements(options, {args.n, args.out_h, args.out_w, args.stored_channels});
  const std::string shape = cat("n·c·h·w = ", args.n, "·", args.channels, "·", args.h, "·", args.w);
  // A Uint16Array holds float16 bits; `layout: 'nhwc'` reads the source as [n, h, w, c].
  const bool uint8 = options.is_typed("src", napi_uint8_array);
  const bool half = options.is_typed("src", napi_uint16_array);
  if (!uint8 && !half && !options.is_typed("src", napi_float32_array)) {
    options.expected("a Float32Array, a Uint16Array (float16 bits) or a Uint8Array", "src", options.get("src"));
  }
  const Napi::TypedArray src = options.get("src").As<Napi::TypedArray>();
  if (static_cast<int64_t>(src.ElementLength()) != source_count) {
    options.wrong_length("src", src.ElementLength(), source_count, shape);
  }
  args.src_format.type = uint8 ? InputType::kUint8 : half ? InputType::kFloat16 : InputType::kFloat32;
  if (options.has("layout")) {
    const Napi::Value layout = options.get("layout");
    const std::string name = layout.IsString() ? layout.As<Napi::String>().Utf8Value() : std::string();
    if (name != "nchw" && name != "nhwc") options.expected("\"nchw\" or \"nhwc\"", "layout", layout);
    args.src_format.layout = name == "nhwc" ? InputLayout::kNhwc : InputLayout::kNchw;
  }
  args.src = static_cast<const uint8_t*>(src.ArrayBuffer().Data()) + src.ByteOffset();

  if (options.has("mean") != options.has("std")) {
    const char* missing = options.has("mean") ? "std" : "mean";
    options.expected("a Float32Array (mean and std come together)", missing, options.get(missing));
  }
  std::vector<float> mean, inv_std;
  if (options.has("mean")) {
    const std::string why = cat("one per channel, c = ", args.channels);
    const Napi::Float32Array mean_array = options.floats("mean", args.channels, why);
    const Napi::Float32Array std_array = options.floats("std", args.channels, why);
    for (size_t c = 0; c < std_array.ElementLength(); ++c) {
      if (!(std_array[c] > 0.0f) || !std::isfinite(std_array[c])) {
        options.expected("a positive finite number", cat("std[", c, "]"), Napi::Number::New(info.Env(), std_array[c]));
      }
      mean.push_back(mean_array[c]);
      inv_std.push_back(1.0f / std_array[c]);  // as the executable computes it, in float
    }
    args.mean = mean.data();
    args.inv_std = inv_std.data();
  }
  std::vector<uint8_t> dst(static_cast<size_t>(count) * storage_bytes(args.storage));
  args.dst = dst.data();
  throw_if_error(info.Env(), input_convert_host(args));
  return from_storage(info.Env(), dst.data(), count, args.storage);
}

Napi::Value output_convert(const Napi::CallbackInfo& info) {
  const Options options(info, "outputConvert");
  OutputConvertArgs args;
  args.n = options.integer("n", 0);
  args.channels = options.integer("c", 0);
  args.h = options.integer("h", 0);
  args.w = options.integer("w", 0);
  args.stored_channels = options.integer("storedChannels", 0);
  args.storage = options.storage();
  const int64_t source_count = elements(options, {args.n, args.h, args.w, args.stored_channels});
  const int64_t count = elements(options, {args.n, args.channels, args.h, args.w});
  const std::string shape = cat("n·h·w·storedChannels = ", args.n, "·", args.h, "·", args.w, "·", args.stored_channels);
  const Napi::Float32Array src = options.floats("src", source_count, shape);
  const std::vector<uint8_t> stored = to_storage(src.Data(), source_count, args.storage);
  args.src = stored.data();
  std::vector<float> dst(static_cast<size_t>(count));
  args.dst = dst.data();
  throw_if_error(info.Env(), output_convert_host(args));
  return from_storage(info.Env(), dst.data(), count, StorageType::kFloat32);
}

Napi::Value epilogue(const Napi::CallbackInfo& info) {
  const Options options(info, "epilogue");
  EpilogueArgs args;
  args.stored_channels = options.integer("storedChannels", 1);
  args.storage = options.storage();
  args.relu = options.flag("relu");
  if (!options.is_typed("y", napi_float32_array)) options.expected("a Float32Array", "y", options.get("y"));
  args.count = static_cast<int64_t>(options.get("y").As<Napi::Float32Array>().ElementLength());
  elements(options, {args.count});
  if (args.count % args.stored_channels != 0) {
    fail(info.Env(), Code::kInvalidShape,
         cat("cudaKernels.epilogue: y has ", args.count,
             " elements, not a multiple of storedChannels = ", args.stored_channels));
  }
  const Napi::Float32Array bias = options.floats("bias", args.stored_channels, "one per stored channel");
  args.bias = bias.Data();
  std::vector<uint8_t> y = to_storage(options.get("y").As<Napi::Float32Array>().Data(), args.count, args.storage);
  args.y = y.data();
  std::vector<uint8_t> residual;
  if (options.has("residual")) {
    const Napi::Float32Array residual_array = options.floats("residual", args.count, "as many as y");
    residual = to_storage(residual_array.Data(), args.count, args.storage);
    args.residual = residual.data();
  }
  throw_if_error(info.Env(), epilogue_host(args));
  return from_storage(info.Env(), y.data(), args.count, args.storage);
}

Napi::Value elementwise(const Napi::CallbackInfo& info) {
  const Options options(info, "elementwise");
  ElementwiseArgs args;
  args.storage = options.storage();
  args.relu = options.flag("relu");
  if (!options.is_typed("a", napi_float32_array)) options.expected("a Float32Array", "a", options.get("a"));
  args.count = static_cast<int64_t>(options.get("a").As<Napi::Float32Array>().ElementLength());
  elements(options, {args.count});
  const std::vector<uint8_t> a = to_storage(options.get("a").As<Napi::Float32Array>().Data(), args.count, args.storage);
  args.a = a.data();
  std::vector<uint8_t> b;
  if (options.has("b")) {
    b = to_storage(options.floats("b", args.count, "as many as a").Data(), args.count, args.storage);
    args.b = b.data();
  }
  std::vector<uint8_t> dst(a.size());
  args.dst = dst.data();
  throw_if_error(info.Env(), elementwise_host(args));
  return from_storage(info.Env(), dst.data(), args.count, args.storage);
}

/// The fields both pools share: src [n, h, w, c] (NHWC) in `storage`.
PoolArgs pool_source(const Options& options, std::vector<uint8_t>& stored) {
  PoolArgs args;
  args.n = options.integer("n", 0);
  args.channels = options.integer("c", 0);
  args.in_h = options.integer("h", 0);
  args.in_w = options.integer("w", 0);
  args.storage = options.storage();
  const int64_t count = elements(options, {args.n, args.in_h, args.in_w, args.channels});
  const Napi::Float32Array src =
      options.floats("src", count, cat("n·h·w·c = ", args.n, "·", args.in_h, "·", args.in_w, "·", args.channels));
  stored = to_storage(src.Data(), count, args.storage);
  args.src = stored.data();
  return args;
}

/// Runs `pool` into a fresh output of the args' output size and returns it as float32.
Napi::Value run_pool(const Options& options, PoolArgs& args, Status (*pool)(const PoolArgs&)) {
  const int64_t count = elements(options, {args.n, args.out_h, args.out_w, args.channels});
  std::vector<uint8_t> dst(static_cast<size_t>(count) * storage_bytes(args.storage));
  args.dst = dst.data();
  throw_if_error(options.env(), pool(args));
  return from_storage(options.env(), dst.data(), count, args.storage);
}

Napi::Value maxpool(const Napi::CallbackInfo& info) {
  const Options options(info, "maxpool");
  std::vector<uint8_t> src;
  PoolArgs args = pool_source(options, src);
  const Pair zero{0, 0}, one{1, 1};
  args.kernel = options.pair("kernel", 1);
  args.stride = options.pair("stride", 1, &args.kernel);  // PyTorch: the stride defaults to the kernel
  args.padding = options.pair("padding", 0, &zero);
  args.dilation = options.pair("dilation", 1, &one);
  const bool ceil_mode = options.flag("ceilMode");
  args.out_h = window_output_size(args.in_h, args.kernel.h, args.stride.h, args.padding.h, args.dilation.h, ceil_mode);
  args.out_w = window_output_size(args.in_w, args.kernel.w, args.stride.w, args.padding.w, args.dilation.w, ceil_mode);
  if (args.out_h < 1 || args.out_w < 1) {
    fail(info.Env(), Code::kInvalidShape,
         cat("cudaKernels.maxpool: the window (kernel, dilation) is larger than the padded input [", args.in_h, ", ",
             args.in_w, "]"));
  }
  return run_pool(options, args, maxpool_host);
}

Napi::Value adaptive_avgpool(const Napi::CallbackInfo& info) {
  const Options options(info, "adaptiveAvgPool");
  std::vector<uint8_t> src;
  PoolArgs args = pool_source(options, src);
  args.out_h = options.integer("outH", 1);
  args.out_w = options.integer("outW", 1);
  return run_pool(options, args, adaptive_avgpool_host);
}

template <Napi::Value (*function)(const Napi::CallbackInfo&)>
Napi::Value entry(const Napi::CallbackInfo& info) {
  return guarded(info, [&] { return function(info); });
}

Napi::Value to_half(const Napi::CallbackInfo& info) { return to_bits<float_to_half_bits>(info, "toHalf"); }
Napi::Value from_half(const Napi::CallbackInfo& info) { return from_bits<half_bits_to_float>(info, "fromHalf"); }
Napi::Value to_bfloat16(const Napi::CallbackInfo& info) { return to_bits<float_to_bfloat16_bits>(info, "toBFloat16"); }
Napi::Value from_bfloat16(const Napi::CallbackInfo& info) {
  return from_bits<bfloat16_bits_to_float>(info, "fromBFloat16");
}

}  // namespace

void add_kernel_testing(Napi::Env env, Napi::Object& testing) {
  Napi::Object kernels = Napi::Object::New(env);
  kernels.Set("toHalf", Napi::Function::New<entry<to_half>>(env, "toHalf"));
  kernels.Set("fromHalf", Napi::Function::New<entry<from_half>>(env, "fromHalf"));
  kernels.Set("toBFloat16", Napi::Function::New<entry<to_bfloat16>>(env, "toBFloat16"));
  kernels.Set("fromBFloat16", Napi::Function::New<entry<from_bfloat16>>(env, "fromBFloat16"));
  kernels.Set("inputConvert", Napi::Function::New<entry<input_convert>>(env, "inputConvert"));
  kernels.Set("outputConvert", Napi::Function::New<entry<output_convert>>(env, "outputConvert"));
  kernels.Set("epilogue", Napi::Function::New<entry<epilogue>>(env, "epilogue"));
  kernels.Set("elementwise", Napi::Function::New<entry<elementwise>>(env, "elementwise"));
  kernels.Set("maxpool", Napi::Function::New<entry<maxpool>>(env, "maxpool"));
  kernels.Set("adaptiveAvgPool", Napi::Function::New<entry<adaptive_avgpool>>(env, "adaptiveAvgPool"));
  testing.Set("cudaKernels", kernels);
}

}  // namespace cuda
}  // namespace resnet
