// `testing.gpuPreprocess`: the GPU preprocessing's plan (preprocess_plan.h) and the host emulation of its kernel
// (kernel_host.h: preprocess_host, the very per-element code the device runs), for test/gpu/gpu-resize.test.ts:
// windows() gives one axis' taps and weights, run() plans and runs a batch of decoded RGB images, tables() runs
// the kernel on tables the test writes itself (so that bad tables are seen to be refused). Float outputs come
// back as float32 (half and bfloat16 widened exactly), uint8 as bytes. Synchronous; bad arguments throw coded
// errors, never crash.
#include <napi.h>

#include <cmath>
#include <new>
#include <string>
#include <vector>

#include "cuda/js_cuda_testing.h"
#include "cuda/js_fields.h"
#include "cuda/kernel_host.h"
#include "cuda/kernel_math.h"
#include "cuda/preprocess_plan.h"
#include "graph_from_js.h"
#include "js_error.h"

namespace resnet {
namespace cuda {
namespace {

// Far above any test's data, far below what would exhaust memory.
constexpr int64_t kMaxElements = int64_t{1} << 28;

[[noreturn]] void fail(Napi::Env env, Code code, const std::string& message) {
  throw make_error(env, Status(code, message));
}

int64_t integer(const Napi::Value& value, const std::string& name, int64_t min, int64_t max) {
  return js_integer(value, name, min, max, "gpuPreprocess");
}

template <typename Array>
Array typed(const Napi::Value& value, napi_typedarray_type type, const std::string& name, const char* what) {
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != type) {
    fail(value.Env(), Code::kInvalidArgument,
         cat("gpuPreprocess: Expected ", what, " for ", name, " but received ", describe_js_value(value)));
  }
  return value.As<Array>();
}

Napi::Object object_of(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsObject() || info[0].IsArray()) {
    fail(info.Env(), Code::kInvalidArgument, "gpuPreprocess: Expected an options object");
  }
  return info[0].As<Napi::Object>();
}

/// The options' output type, layout, mean and std (ImageNet's by default).
void read_output_options(const Napi::Object& given, PreprocessOptions& options) {
  const Napi::Value layout = given.Get("layout");
  const std::string layout_name = layout.IsString() ? layout.As<Napi::String>().Utf8Value() : "nchw";
  if (layout_name == "nhwc") {
    options.layout = PreprocessLayout::kNhwc;
  } else if (layout_name != "nchw") {
    fail(given.Env(), Code::kInvalidArgument, "gpuPreprocess: Expected 'nchw' or 'nhwc' for layout");
  }
  const Napi::Value output = given.Get("output");
  const std::string output_name = output.IsString() ? output.As<Napi::String>().Utf8Value() : "float32";
  if (output_name == "float32") {
    options.output = PreprocessOutput::kFloat32;
  } else if (output_name == "float16") {
    options.output = PreprocessOutput::kFloat16;
  } else if (output_name == "bfloat16") {
    options.output = PreprocessOutput::kBFloat16;
  } else if (output_name == "uint8") {
    options.output = PreprocessOutput::kUint8;
  } else {
    fail(given.Env(), Code::kInvalidArgument,
         "gpuPreprocess: Expected 'float32', 'float16', 'bfloat16' or 'uint8' for output");
  }
  for (const char* name : {"mean", "std"}) {
    const Napi::Value value = given.Get(name);
    if (value.IsUndefined()) continue;
    const Napi::Float32Array array = typed<Napi::Float32Array>(value, napi_float32_array, name, "a Float32Array of 3");
    if (array.ElementLength() != 3)
      fail(given.Env(), Code::kInvalidArgument, cat("gpuPreprocess: ", name, " needs 3 values"));
    for (int c = 0; c < 3; ++c) (name[0] == 'm' ? options.mean : options.std)[c] = array[c];
  }
}

/// The output of `count` elements written by the host kernel, as JS sees it.
Napi::Value output_to_js(Napi::Env env, const std::vector<uint8_t>& out, int64_t count, PreprocessOutput output) {
  if (output == PreprocessOutput::kUint8) {
    Napi::Uint8Array bytes = Napi::Uint8Array::New(env, static_cast<size_t>(count));
    for (int64_t i = 0; i < count; ++i) bytes[static_cast<size_t>(i)] = out[static_cast<size_t>(i)];
    return bytes;
  }
  const StorageType storage = output == PreprocessOutput::kFloat16    ? StorageType::kFloat16
                              : output == PreprocessOutput::kBFloat16 ? StorageType::kBFloat16
                                                                      : StorageType::kFloat32;
  Napi::Float32Array values = Napi::Float32Array::New(env, static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) values[static_cast<size_t>(i)] = load(out.data(), storage, i);
  return values;
}

// windows(inSize, outSize, first, count) → { starts, counts, offsets, weights }
Napi::Value windows_js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto arg = [&](size_t i) { return info.Length() > i ? info[i] : env.Undefined(); };
  const int64_t in_size = integer(arg(0), "inSize", 1, 1 << 20);
  const int64_t out_size = integer(arg(1), "outSize", 1, 1 << 20);
  const int64_t first = integer(arg(2), "first", -(1 << 20), 1 << 20);
  const int64_t count = integer(arg(3), "count", 0, 1 << 20);
  std::vector<PreprocessWindow> windows;
  std::vector<float> weights;
  antialias_windows(in_size, out_size, first, count, windows, weights);
  Napi::Int32Array starts = Napi::Int32Array::New(env, windows.size());
  Napi::Int32Array counts = Napi::Int32Array::New(env, windows.size());
  Napi::Int32Array offsets = Napi::Int32Array::New(env, windows.size());
  for (size_t i = 0; i < windows.size(); ++i) {
    starts[i] = windows[i].start;
    counts[i] = windows[i].count;
    offsets[i] = windows[i].weights;
  }
  Napi::Float32Array weight_array = Napi::Float32Array::New(env, weights.size());
  for (size_t i = 0; i < weights.size(); ++i) weight_array[i] = weights[i];
  Napi::Object out = Napi::Object::New(env);
  out.Set("starts", starts);
  out.Set("counts", counts);
  out.Set("offsets", offsets);
  out.Set("weights", weight_array);
  return out;
}

// sizes(height, width, resizeSize, cropSize) → { height, width, top, left }: resized_size and center_crop_offset
Napi::Value sizes_js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto arg = [&](size_t i) { return info.Length() > i ? info[i] : env.Undefined(); };
  const int64_t height = integer(arg(0), "height", 1, 1 << 30);
  const int64_t width = integer(arg(1), "width", 1, 1 << 30);
  const int64_t size = integer(arg(2), "resizeSize", 1, 1 << 16);
  const int64_t crop = integer(arg(3), "cropSize", 1, 1 << 16);
  const auto [h, w] = resized_size(height, width, size);
  Napi::Object out = Napi::Object::New(env);
  out.Set("height", static_cast<double>(h));
  out.Set("width", static_cast<double>(w));
  out.Set("top", static_cast<double>(center_crop_offset(h, crop)));
  out.Set("left", static_cast<double>(center_crop_offset(w, crop)));
  return out;
}

// run({ images: [{ pixels (RGB interleaved), width, height, pitch? }], resizeSize, cropSize, layout?, output?,
//       mean?, std?, dstImages?, outputIndices? }) → Float32Array | Uint8Array of dstImages · 3 · crop²
Napi::Value run_js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Napi::Object given = object_of(info);
  PreprocessOptions options;
  options.resize_size = integer(given.Get("resizeSize"), "resizeSize", 1, 1 << 16);
  options.crop_size = integer(given.Get("cropSize"), "cropSize", 1, 1 << 12);
  read_output_options(given, options);
  const Napi::Value images_value = given.Get("images");
  if (!images_value.IsArray()) fail(env, Code::kInvalidArgument, "gpuPreprocess.run: Expected an array for images");
  const Napi::Array images = images_value.As<Napi::Array>();
  const Napi::Value indices_value = given.Get("outputIndices");
  const int64_t dst_images =
      given.Get("dstImages").IsUndefined() ? images.Length() : integer(given.Get("dstImages"), "dstImages", 0, 1 << 16);
  std::vector<PreprocessSource> sources;
  std::vector<uint8_t> src;
  for (uint32_t i = 0; i < images.Length(); ++i) {
    if (!images.Get(i).IsObject())
      fail(env, Code::kInvalidArgument, cat("gpuPreprocess.run: images[", i, "] is not an object"));
    const Napi::Object image = images.Get(i).As<Napi::Object>();
    const std::string name = cat("images[", i, "]");
    PreprocessSource source;
    source.width = integer(image.Get("width"), name + ".width", 1, 1 << 15);
    source.height = integer(image.Get("height"), name + ".height", 1, 1 << 15);
    source.pitch = image.Get("pitch").IsUndefined()
                       ? 3 * source.width
                       : integer(image.Get("pitch"), name + ".pitch", 3 * source.width, 1 << 18);
    source.output_index = static_cast<int32_t>(
        indices_value.IsArray() ? integer(indices_value.As<Napi::Array>().Get(i), name + " output index", 0, 1 << 16)
                                : i);
    const Napi::Uint8Array pixels =
        typed<Napi::Uint8Array>(image.Get("pixels"), napi_uint8_array, name + ".pixels", "a Uint8Array");
    if (static_cast<int64_t>(pixels.ElementLength()) != source.pitch * source.height) {
      fail(env, Code::kInvalidShape,
           cat("gpuPreprocess.run: ", name, ".pixels has ", pixels.ElementLength(),
               " bytes, expected pitch · height = ", source.pitch * source.height));
    }
    if (static_cast<int64_t>(src.size()) + pixels.ElementLength() > kMaxElements) {
      fail(env, Code::kInvalidArgument, "gpuPreprocess.run: the images are larger than tests may use");
    }
    source.offset = static_cast<int64_t>((src.size() + 255) / 256 * 256);  // as the decoder lays them out
    src.resize(static_cast<size_t>(source.offset), 0);
    src.insert(src.end(), pixels.Data(), pixels.Data() + pixels.ElementLength());
    sources.push_back(source);
  }
  Result<PreprocessPlan> plan = plan_preprocess(sources, options, dst_images);
  if (!plan.ok()) throw make_error(env, plan.status());
  const int64_t count = dst_images * 3 * options.crop_size * options.crop_size;
  if (count > kMaxElements)
    fail(env, Code::kInvalidArgument, "gpuPreprocess.run: the output is larger than tests may use");
  std::vector<uint8_t> out(static_cast<size_t>(output_image_bytes(options) * dst_images), 0);
  const Status status =
      preprocess_host(preprocess_args(plan.value(), src.data(), static_cast<int64_t>(src.size()), out.data()));
  if (!status.ok()) throw make_error(env, status);
  return output_to_js(env, out, count, options.output);
}

// tables({ src, images: [{ offset, pitch, width, height, output }], rows, cols (Int32Array of start, count,
//          weights triples), weights, crop, dstImages, layout?, output? }) → the kernel's output, or a coded error
Napi::Value tables_js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Napi::Object given = object_of(info);
  PreprocessOptions options;
  read_output_options(given, options);
  const Napi::Uint8Array src = typed<Napi::Uint8Array>(given.Get("src"), napi_uint8_array, "src", "a Uint8Array");
  const Napi::Value images_value = given.Get("images");
  if (!images_value.IsArray()) fail(env, Code::kInvalidArgument, "gpuPreprocess.tables: Expected an array for images");
  const Napi::Array images_array = images_value.As<Napi::Array>();
  std::vector<PreprocessImage> images;
  for (uint32_t i = 0; i < images_array.Length(); ++i) {
    if (!images_array.Get(i).IsObject())
      fail(env, Code::kInvalidArgument, cat("gpuPreprocess.tables: images[", i, "] is not an object"));
    const Napi::Object image = images_array.Get(i).As<Napi::Object>();
    PreprocessImage entry;
    entry.src_offset = integer(image.Get("offset"), "offset", -(int64_t{1} << 40), int64_t{1} << 40);
    entry.src_pitch = integer(image.Get("pitch"), "pitch", -(int64_t{1} << 40), int64_t{1} << 40);
    entry.src_width = static_cast<int32_t>(integer(image.Get("width"), "width", -(1 << 30), 1 << 30));
    entry.src_height = static_cast<int32_t>(integer(image.Get("height"), "height", -(1 << 30), 1 << 30));
    entry.output_index = static_cast<int32_t>(integer(image.Get("output"), "output", -(1 << 30), 1 << 30));
    images.push_back(entry);
  }
  auto windows = [&](const char* name) {
    const Napi::Int32Array flat = typed<Napi::Int32Array>(given.Get(name), napi_int32_array, name, "an Int32Array");
    std::vector<PreprocessWindow> list(flat.ElementLength() / 3);
    for (size_t k = 0; k < list.size(); ++k) list[k] = {flat[3 * k], flat[3 * k + 1], flat[3 * k + 2]};
    return list;
  };
  const std::vector<PreprocessWindow> rows = windows("rows"), cols = windows("cols");
  const Napi::Float32Array weights =
      typed<Napi::Float32Array>(given.Get("weights"), napi_float32_array, "weights", "a Float32Array");
  PreprocessArgs args;
  args.crop = integer(given.Get("crop"), "crop", 0, 1 << 12);
  args.dst_images = integer(given.Get("dstImages"), "dstImages", 0, 1 << 12);
  args.count = static_cast<int64_t>(images.size());
  if (static_cast<int64_t>(rows.size()) != args.count * args.crop ||
      static_cast<int64_t>(cols.size()) != args.count * args.crop) {
    fail(env, Code::kInvalidShape, "gpuPreprocess.tables: rows and cols need count · crop windows each");
  }
  const int64_t count = args.dst_images * 3 * args.crop * args.crop;
  if (count > kMaxElements) fail(env, Code::kInvalidArgument, "gpuPreprocess.tables: the output is too large");
  std::vector<uint8_t> out(static_cast<size_t>(count) * 4, 0);
  args.src = src.Data();
  args.src_bytes = static_cast<int64_t>(src.ElementLength());
  args.images = images.data();
  args.rows = rows.data();
  args.cols = cols.data();
  args.weights = weights.Data();
  args.weight_count = static_cast<int64_t>(weights.ElementLength());
  args.dst = out.data();
  args.layout = options.layout;
  args.output = options.output;
  for (int c = 0; c < 3; ++c) {
    args.mean[c] = options.mean[c];
    args.std[c] = options.std[c];
  }
  const Status status = preprocess_host(args);
  if (!status.ok()) throw make_error(env, status);
  return output_to_js(env, out, count, options.output);
}

template <Napi::Value (*function)(const Napi::CallbackInfo&)>
Napi::Value guarded(const Napi::CallbackInfo& info) {
  try {
    return function(info);
  } catch (const std::bad_alloc&) {
    fail(info.Env(), Code::kOutOfMemory, "gpuPreprocess: out of memory");
  }
}

}  // namespace

void add_preprocess_testing(Napi::Env env, Napi::Object& testing) {
  Napi::Object preprocess = Napi::Object::New(env);
  preprocess.Set("windows", Napi::Function::New<guarded<windows_js>>(env, "windows"));
  preprocess.Set("sizes", Napi::Function::New<guarded<sizes_js>>(env, "sizes"));
  preprocess.Set("run", Napi::Function::New<guarded<run_js>>(env, "run"));
  preprocess.Set("tables", Napi::Function::New<guarded<tables_js>>(env, "tables"));
  testing.Set("gpuPreprocess", preprocess);
}

}  // namespace cuda
}  // namespace resnet
