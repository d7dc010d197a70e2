// info()'s `imageDecoder` (image_decoder_choice.h as a JS object), and `testing.imageDecoder.choose(facts)`, the
// pure choice over made-up facts, for test/gpu/image-decoder-info.test.ts.
#include "cuda/js_image_decoder.h"

#include <new>

#include "cuda/image_decoder_choice.h"
#include "cuda/js_cuda_testing.h"
#include "cuda/js_fields.h"
#include "js_error.h"

namespace resnet {
namespace cuda {
namespace {

constexpr const char* kWhere = "imageDecoder.choose";

Napi::Object choice_to_js(Napi::Env env, const ImageDecoderChoice& choice) {
  Napi::Object out = Napi::Object::New(env);
  out.Set("decoder", image_decoder_kind_name(choice.kind));
  out.Set("hardwareEngines", choice.hardware_engines);
  out.Set("reason", choice.reason);
  if (!choice.nvjpeg_path.empty()) out.Set("nvjpegPath", choice.nvjpeg_path);
  if (!choice.nvjpeg_version.empty()) out.Set("nvjpegVersion", choice.nvjpeg_version);
  return out;
}

// choose(facts) → { decoder, hardwareEngines, reason, nvjpegPath?, nvjpegVersion? }
Napi::Value choose(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsObject())
    throw_invalid(info.Env(), "imageDecoder.choose: Expected a facts object");
  const Napi::Object given = info[0].As<Napi::Object>();
  ImageDecoderFacts facts;
  facts.cuda_built = js_flag_field(given, "cudaBuilt", kWhere);
  facts.no_cuda_reason = js_string_field(given, "noCudaReason", kWhere);
  facts.gpu = js_flag_field(given, "gpu", kWhere);
  facts.no_gpu_reason = js_string_field(given, "noGpuReason", kWhere);
  facts.nvjpeg_loaded = js_flag_field(given, "nvjpegLoaded", kWhere);
  facts.nvjpeg_error = js_string_field(given, "nvjpegError", kWhere);
  facts.nvjpeg_path = js_string_field(given, "nvjpegPath", kWhere);
  facts.nvjpeg_version = js_string_field(given, "nvjpegVersion", kWhere);
  facts.session = js_flag_field(given, "session", kWhere);
  facts.session_error = js_string_field(given, "sessionError", kWhere);
  facts.hardware_engines = static_cast<int>(js_integer_field(given, "hardwareEngines", 0, 0, 1024, kWhere));
  facts.no_hardware_reason = js_string_field(given, "noHardwareReason", kWhere);
  return choice_to_js(info.Env(), choose_image_decoder(facts));
}

}  // namespace

Napi::Value image_decoder_info_to_js(Napi::Env env) {
  try {
    return choice_to_js(env, image_decoder_choice());
  } catch (const std::bad_alloc&) {
    throw make_error(env, Status(Code::kOutOfMemory, "probing the image decoder: out of host memory"));
  } catch (const std::exception& error) {
    throw make_error(env, Status(Code::kBackend, cat("probing the image decoder failed: ", error.what())));
  }
}

void add_image_decoder_testing(Napi::Env env, Napi::Object& testing) {
  Napi::Object decoder = Napi::Object::New(env);
  decoder.Set("choose", Napi::Function::New(env, choose, "choose"));
  testing.Set("imageDecoder", decoder);
}

}  // namespace cuda
}  // namespace resnet
