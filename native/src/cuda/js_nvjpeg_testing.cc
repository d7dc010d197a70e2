// `testing.nvjpegSession.run(images, options)`: the GPU decoder's nvJPEG calls (nvjpeg_session.h) through the
// nvJPEG that load_nvjpeg() finds, with host memory standing in for the device and a made-up stream, for
// test/gpu/nvjpeg-loader.test.ts, which loads a fake libnvjpeg (test/fixtures/fake-nvjpeg.cc) that checks the calls'
// order and logs them. The whole path of a batch runs: plan, nvJPEG's verdicts, the confirmed plan, decode.
// The session is destroyed before this returns. Synchronous; failures are thrown coded Errors.
#include <napi.h>

#include <cstdint>
#include <new>
#include <vector>

#include "cuda/image_batch_plan.h"
#include "cuda/js_cuda_testing.h"
#include "cuda/js_fields.h"
#include "cuda/nvjpeg_loader.h"
#include "cuda/nvjpeg_session.h"
#include "js_error.h"

namespace resnet {
namespace cuda {
namespace {

// The stand-in stream: never dereferenced here, only handed to nvJPEG (the fake checks that it arrives).
const uintptr_t kFakeStream = 0x5eed;
// Far above any test's images, far below what would exhaust memory.
constexpr size_t kMaxDecodedBytes = size_t{1} << 28;

/// options[name] as a non-negative integer, or `fallback`.
int64_t option(const Napi::Value& options, const char* name, int64_t fallback) {
  if (!options.IsObject()) return fallback;
  return js_integer_field(options.As<Napi::Object>(), name, fallback, 0, int64_t{1} << 53, "nvjpegSession.run");
}

Napi::Value run(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  try {
    if (info.Length() < 1 || !info[0].IsArray()) {
      throw_invalid(env, "nvjpegSession.run: Expected an array of Uint8Arrays");
    }
    const Napi::Array given = info[0].As<Napi::Array>();
    std::vector<EncodedImage> images;
    for (uint32_t i = 0; i < given.Length(); ++i) {
      const Napi::Value value = given.Get(i);
      if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
        throw_expected(value, "a Uint8Array", cat("images[", i, "]"), "nvjpegSession.run");
      }
      const Napi::Uint8Array bytes = value.As<Napi::Uint8Array>();
      images.push_back({bytes.Data(), bytes.ElementLength()});
    }
    const Napi::Value options = info.Length() > 1 ? info[1] : env.Undefined();
    Result<const NvjpegLibrary*> loaded = load_nvjpeg();
    if (!loaded.ok()) throw make_error(env, loaded.status());
    Result<std::unique_ptr<NvjpegSession>> made =
        NvjpegSession::create(loaded.value()->api, option(options, "tryHardware", 1) != 0);
    if (!made.ok()) throw make_error(env, made.status());
    std::unique_ptr<NvjpegSession> session = made.take();

    ImageDecodeCapabilities capabilities;
    capabilities.hardware_engines = session->hardware_engines();
    capabilities.gpu_backend = true;
    capabilities.max_pixels = static_cast<int64_t>(option(options, "maxPixels", 0));
    capabilities.max_decoded_bytes = static_cast<size_t>(option(options, "maxDecodedBytes", kMaxDecodedBytes));
    const ImageBatchPlan planned = plan_image_batch(images, capabilities);
    const ImageBatchPlan plan = confirm_with_nvjpeg(planned, session->examine(planned, images), capabilities);
    if (plan.decoded_bytes > kMaxDecodedBytes) {
      throw_invalid(env, "nvjpegSession.run: the images are larger than tests may use");
    }
    std::vector<uint8_t> decoded(plan.decoded_bytes, 0);
    int synchronizations = 0;
    const NvjpegDecodeReport report =
        session->decode(plan, images, decoded.data(), reinterpret_cast<nvjpeg::cudaStream_t>(kFakeStream), [&]() {
          ++synchronizations;
          return Status();
        });
    const int engines = session->hardware_engines();
    const std::string no_hardware = session->no_hardware_reason();
    session.reset();  // every nvJPEG object destroyed here, before the result is built

    Napi::Object out = Napi::Object::New(env);
    out.Set("hardwareEngines", engines);
    out.Set("noHardwareReason", no_hardware);
    out.Set("planned", batch_plan_to_js(env, planned));
    out.Set("plan", batch_plan_to_js(env, plan));
    Napi::Array statuses = Napi::Array::New(env, report.images.size());
    for (uint32_t i = 0; i < report.images.size(); ++i) {
      Napi::Object status = Napi::Object::New(env);
      status.Set("code", report.images[i].ok() ? "" : code_name(report.images[i].code()));
      status.Set("message", report.images[i].message());
      statuses.Set(i, status);
    }
    out.Set("statuses", statuses);
    Napi::Uint8Array pixels = Napi::Uint8Array::New(env, decoded.size());
    std::copy(decoded.begin(), decoded.end(), pixels.Data());
    out.Set("decoded", pixels);
    out.Set("batchedCalls", report.batched_calls);
    out.Set("decoupledImages", report.decoupled_images);
    out.Set("synchronizations", synchronizations);
    return out;
  } catch (const std::bad_alloc&) {
    throw make_error(env, Status(Code::kOutOfMemory, "nvjpegSession.run: out of memory"));
  }
}

}  // namespace

void add_nvjpeg_testing(Napi::Env env, Napi::Object& testing) {
  Napi::Object session = Napi::Object::New(env);
  session.Set("run", Napi::Function::New(env, run, "run"));
  testing.Set("nvjpegSession", session);
}

}  // namespace cuda
}  // namespace resnet
