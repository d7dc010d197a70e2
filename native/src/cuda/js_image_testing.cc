// `testing.imageDecode`: the image decoder's plain-C++ decisions per image, for test/unit/image-decode-plan.test.ts:
// parseJpeg (jpeg_header.h), sniff (image_header.h) and planBatch (image_batch_plan.h, with nvJPEG's verdicts
// applied when given). Synchronous; a bad argument throws ERR_INVALID_ARGUMENT, never a crash.
#include <napi.h>

#include <new>
#include <string>
#include <vector>

#include "cuda/image_batch_plan.h"
#include "cuda/js_cuda_testing.h"
#include "cuda/js_fields.h"
#include "js_error.h"

namespace resnet {
namespace cuda {
namespace {

constexpr const char* kWhere = "imageDecode";
constexpr int64_t kMaxSafe = 9007199254740991;

/// The bytes of a Uint8Array (a Buffer is one), viewed, not copied.
EncodedImage bytes_of(const Napi::Value& value, const std::string& name) {
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    throw_expected(value, "a Uint8Array", name, kWhere);
  }
  const Napi::Uint8Array array = value.As<Napi::Uint8Array>();
  return {array.Data(), array.ElementLength()};
}

std::vector<EncodedImage> images_of(const Napi::Value& value) {
  if (!value.IsArray()) throw_expected(value, "an array of Uint8Arrays", "images", kWhere);
  const Napi::Array array = value.As<Napi::Array>();
  std::vector<EncodedImage> images;
  for (uint32_t i = 0; i < array.Length(); ++i) images.push_back(bytes_of(array.Get(i), cat("images[", i, "]")));
  return images;
}

Napi::Object object_argument(const Napi::CallbackInfo& info, size_t index, const char* what) {
  if (info.Length() <= index || !info[index].IsObject() || info[index].IsArray()) {
    throw_invalid(info.Env(), cat("imageDecode: Expected an object for ", what));
  }
  return info[index].As<Napi::Object>();
}

Napi::Object header_to_js(Napi::Env env, const JpegHeader& h) {
  Napi::Object out = Napi::Object::New(env);
  out.Set("coding", jpeg_coding_name(h.coding));
  out.Set("sofMarker", h.sof_marker);
  out.Set("precision", h.precision);
  out.Set("width", h.width);
  out.Set("height", h.height);
  out.Set("components", h.components);
  Napi::Array sampling = Napi::Array::New(env);
  Napi::Array ids = Napi::Array::New(env);
  for (int i = 0; i < h.components; ++i) {
    Napi::Array factors = Napi::Array::New(env, 2);
    factors.Set(0u, h.component[i].h);
    factors.Set(1u, h.component[i].v);
    sampling.Set(static_cast<uint32_t>(i), factors);
    ids.Set(static_cast<uint32_t>(i), h.component[i].id);
  }
  out.Set("sampling", sampling);
  out.Set("ids", ids);
  out.Set("subsampling", chroma_subsampling_name(h.subsampling));
  out.Set("colour", jpeg_colour_name(h.colour));
  out.Set("scans", h.scans);
  out.Set("firstScanInterleaved", h.first_scan_interleaved);
  out.Set("restartInterval", h.restart_interval);
  out.Set("exifOrientation", h.exif_orientation);
  return out;
}

// parseJpeg(bytes) → { ok, truncated, error, header? }
Napi::Value parse_jpeg_js(const Napi::CallbackInfo& info) {
  const EncodedImage image = bytes_of(info.Length() > 0 ? info[0] : info.Env().Undefined(), "bytes");
  const JpegParse parse = parse_jpeg(image.data, image.size);
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("ok", parse.ok);
  out.Set("truncated", parse.truncated);
  out.Set("error", parse.error);
  if (parse.ok) out.Set("header", header_to_js(info.Env(), parse.header));
  return out;
}

// sniff(bytes) → { format, width, height, error }
Napi::Value sniff_js(const Napi::CallbackInfo& info) {
  const EncodedImage image = bytes_of(info.Length() > 0 ? info[0] : info.Env().Undefined(), "bytes");
  const ImageSize size = sniff_image(image.data, image.size);
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("format", image_format_name(size.format));
  out.Set("width", static_cast<double>(size.width));
  out.Set("height", static_cast<double>(size.height));
  out.Set("error", size.error);
  return out;
}

ImageDecodeCapabilities capabilities_of(const Napi::Object& given) {
  ImageDecodeCapabilities capabilities;
  capabilities.hardware_engines = static_cast<int>(js_integer_field(given, "hardwareEngines", 0, 0, 1024, kWhere));
  capabilities.gpu_backend = js_flag_field(given, "gpuBackend", kWhere);
  capabilities.max_pixels = js_integer_field(given, "maxPixels", 0, 0, kMaxSafe, kWhere);
  capabilities.max_aspect_ratio = static_cast<double>(
      js_integer_field(given, "maxAspectRatio", static_cast<int64_t>(kDefaultMaxAspectRatio), 0, kMaxSafe, kWhere));
  capabilities.max_decoded_bytes =
      static_cast<size_t>(js_integer_field(given, "maxDecodedBytes", 0, 0, kMaxSafe, kWhere));
  return capabilities;
}

NvjpegVerdict verdict_of(const Napi::Value& value) {
  NvjpegVerdict verdict;
  if (value.IsUndefined() || value.IsNull()) return verdict;
  if (!value.IsObject()) throw_expected(value, "an object or null", "a verdict", kWhere);
  const Napi::Object given = value.As<Napi::Object>();
  verdict.info_ok = js_flag_field(given, "infoOk", kWhere);
  verdict.components = static_cast<int>(js_integer_field(given, "components", 0, 0, 4, kWhere));
  verdict.width = static_cast<int>(js_integer_field(given, "width", 0, 0, 1 << 30, kWhere));
  verdict.height = static_cast<int>(js_integer_field(given, "height", 0, 0, 1 << 30, kWhere));
  verdict.hardware_checked = js_flag_field(given, "hardwareChecked", kWhere);
  verdict.hardware_supported = js_flag_field(given, "hardwareSupported", kWhere);
  verdict.detail = js_string_field(given, "detail", kWhere);
  return verdict;
}

}  // namespace

Napi::Object batch_plan_to_js(Napi::Env env, const ImageBatchPlan& plan) {
  Napi::Array images = Napi::Array::New(env, plan.images.size());
  for (uint32_t i = 0; i < plan.images.size(); ++i) {
    const ImagePlan& p = plan.images[i];
    Napi::Object image = Napi::Object::New(env);
    image.Set("route", decode_route_name(p.route));
    image.Set("format", image_format_name(p.format));
    image.Set("reason", p.reason);
    image.Set("width", static_cast<double>(p.width));
    image.Set("height", static_cast<double>(p.height));
    image.Set("pixels", static_cast<double>(p.pixels));
    if (p.format == ImageFormat::kJpeg && p.components > 0) {
      image.Set("coding", jpeg_coding_name(p.coding));
      image.Set("subsampling", chroma_subsampling_name(p.subsampling));
      image.Set("components", p.components);
    }
    image.Set("decodedOffset", static_cast<double>(p.decoded_offset));
    image.Set("decodedPitch", static_cast<double>(p.decoded_pitch));
    images.Set(i, image);
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("images", images);
  out.Set("decodedBytes", static_cast<double>(plan.decoded_bytes));
  return out;
}

namespace {

// planBatch(images, capabilities, verdicts?) → { images: [{ route, reason, … }], decodedBytes }
Napi::Value plan_batch_js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::vector<EncodedImage> images = images_of(info.Length() > 0 ? info[0] : env.Undefined());
  const ImageDecodeCapabilities capabilities = capabilities_of(object_argument(info, 1, "capabilities"));
  ImageBatchPlan plan = plan_image_batch(images, capabilities);
  if (info.Length() > 2 && !info[2].IsUndefined()) {
    if (!info[2].IsArray()) throw_expected(info[2], "an array", "verdicts", kWhere);
    const Napi::Array given = info[2].As<Napi::Array>();
    std::vector<NvjpegVerdict> verdicts;
    for (uint32_t i = 0; i < given.Length(); ++i) verdicts.push_back(verdict_of(given.Get(i)));
    plan = confirm_with_nvjpeg(plan, verdicts, capabilities);
  }
  return batch_plan_to_js(env, plan);
}

template <Napi::Value (*function)(const Napi::CallbackInfo&)>
Napi::Value guarded(const Napi::CallbackInfo& info) {
  try {
    return function(info);
  } catch (const std::bad_alloc&) {
    throw make_error(info.Env(), Status(Code::kOutOfMemory, "imageDecode: out of memory"));
  }
}

}  // namespace

void add_image_testing(Napi::Env env, Napi::Object& testing) {
  Napi::Object decode = Napi::Object::New(env);
  decode.Set("parseJpeg", Napi::Function::New<guarded<parse_jpeg_js>>(env, "parseJpeg"));
  decode.Set("sniff", Napi::Function::New<guarded<sniff_js>>(env, "sniff"));
  decode.Set("planBatch", Napi::Function::New<guarded<plan_batch_js>>(env, "planBatch"));
  testing.Set("imageDecode", decode);
}

}  // namespace cuda
}  // namespace resnet
