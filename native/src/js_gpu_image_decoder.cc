#include "js_gpu_image_decoder.h"

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "cuda/js_fields.h"
#include "cuda/preprocess_plan.h"
#include "graph_from_js.h"
#include "host_memory.h"
#include "js_error.h"
#ifdef RESNET_WITH_CUDA
#include "cuda/gpu/gpu_image_decoder_pool.h"
#endif

namespace resnet {
namespace {

constexpr const char* kWhere = "NativeGpuImageDecoder";
// The most images one decode takes: a few batches of the largest model batch, far below what would exhaust memory.
constexpr uint32_t kMaxImages = 4096;

/// The three numbers of `object[name]` (mean, std) into `values`; left as they are when absent.
void channel_values(const Napi::Object& object, const char* name, bool positive, float* values) {
  const Napi::Value value = object.Get(name);
  if (value.IsUndefined()) return;
  const char* what = positive ? "an array of 3 positive numbers" : "an array of 3 finite numbers";
  if (!value.IsArray() || value.As<Napi::Array>().Length() != 3)
    cuda::throw_expected(value, what, cat("options.", name), kWhere);
  const Napi::Array list = value.As<Napi::Array>();
  for (uint32_t c = 0; c < 3; ++c) {
    const Napi::Value element = list.Get(c);
    const double number = element.IsNumber() ? element.As<Napi::Number>().DoubleValue() : NAN;
    if (!std::isfinite(number) || (positive && !(number > 0)))
      cuda::throw_expected(value, what, cat("options.", name), kWhere);
    values[c] = static_cast<float>(number);
  }
}

/// The model's preprocessing from `{ resizeSize, cropSize, mean?, std?, layout? }`; the output is uint8 pixels.
cuda::PreprocessOptions preprocess_options(const Napi::Value& value) {
  if (!value.IsObject() || value.IsArray()) {
    cuda::throw_expected(value, "an object { resizeSize, cropSize, mean?, std?, layout? }", "options", kWhere);
  }
  const Napi::Object object = value.As<Napi::Object>();
  cuda::PreprocessOptions options;
  options.output = cuda::PreprocessOutput::kUint8;
  constexpr int64_t kMaxSize = (int64_t{1} << 31) - 1;
  if (object.Get("resizeSize").IsUndefined() || object.Get("cropSize").IsUndefined()) {
    cuda::throw_invalid(value.Env(), cat(kWhere, ": Expected options.resizeSize and options.cropSize (integers ≥ 1)"));
  }
  options.resize_size = cuda::js_integer_field(object, "resizeSize", 0, 1, kMaxSize, kWhere);
  options.crop_size = cuda::js_integer_field(object, "cropSize", 0, 1, kMaxSize, kWhere);
  channel_values(object, "mean", false, options.mean);
  channel_values(object, "std", true, options.std);
  const Napi::Value layout = object.Get("layout");
  if (!layout.IsUndefined()) {
    const std::string name = layout.IsString() ? layout.As<Napi::String>().Utf8Value() : std::string();
    if (name == "nhwc") options.layout = cuda::PreprocessLayout::kNhwc;
    else if (name != "nchw") cuda::throw_expected(layout, "\"nchw\" or \"nhwc\"", "options.layout", kWhere);
  }
  return options;
}

/// `list` as an array of 1 to kMaxImages Uint8Arrays, with their data.
std::vector<Napi::Uint8Array> byte_arrays(const Napi::Value& list, const char* name) {
  if (!list.IsArray() || list.As<Napi::Array>().Length() == 0 || list.As<Napi::Array>().Length() > kMaxImages) {
    cuda::throw_expected(list, cat("an array of 1 to ", kMaxImages, " Uint8Arrays"), name, kWhere);
  }
  const Napi::Array array = list.As<Napi::Array>();
  std::vector<Napi::Uint8Array> arrays;
  for (uint32_t i = 0; i < array.Length(); ++i) {
    const Napi::Value element = array.Get(i);
    if (!element.IsTypedArray() || element.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
      cuda::throw_expected(element, "a Uint8Array", cat(name, "[", i, "]"), kWhere);
    }
    arrays.push_back(element.As<Napi::Uint8Array>());
  }
  return arrays;
}

#ifdef RESNET_WITH_CUDA

class DecodeJob final : public AsyncJob {
 public:
  DecodeJob(Napi::Env env, std::shared_ptr<cuda::GpuImageDecoderPool> pool, std::vector<cuda::EncodedImage> images,
            std::vector<uint8_t*> outputs, std::vector<napi_ref> held,
            std::vector<std::shared_ptr<const HostLoan>> loans)
      : AsyncJob(env), pool_(std::move(pool)), images_(std::move(images)), outputs_(std::move(outputs)),
        held_(std::move(held)), loans_(std::move(loans)) {}

  void execute() override {
    try {
      Result<cuda::ImageDecodeReport> decoded = pool_->decode(images_, outputs_);
      if (decoded.ok()) report_ = decoded.take();
      else status_ = decoded.status();
    } catch (const std::bad_alloc&) {
      status_ = Status(Code::kOutOfMemory, "decoding images on the GPU: out of host memory");
    } catch (const std::exception& error) {
      // Caught here, not by the job runner: settle() must run to give back the arrays.
      status_ = Status(Code::kBackend, cat("decoding images on the GPU: ", error.what()));
    }
    loans_.clear();  // a registration disposed meanwhile is undone now (cudaHostUnregister), on this worker
    pool_.reset();   // the last reference (the handle disposed) frees the decoders here, on this worker
  }

  void settle(Napi::Env env, const Napi::Promise::Deferred& deferred) override {
    // Nothing reads the images or writes the outputs any more: the arrays may be collected or reused.
    for (napi_ref reference : held_) napi_delete_reference(env, reference);
    held_.clear();
    if (!status_.ok()) {
      deferred.Reject(make_error(env, status_).Value());
      return;
    }
    Napi::Array routes = Napi::Array::New(env, report_.images.size());
    Napi::Array reasons = Napi::Array::New(env, report_.images.size());
    for (uint32_t i = 0; i < report_.images.size(); ++i) {
      routes.Set(i, cuda::decode_route_name(report_.images[i].route));
      reasons.Set(i, report_.images[i].reason);
    }
    Napi::Object result = Napi::Object::New(env);
    result.Set("routes", routes);
    result.Set("reasons", reasons);
    deferred.Resolve(result);
  }

 private:
  std::shared_ptr<cuda::GpuImageDecoderPool> pool_;
  std::vector<cuda::EncodedImage> images_;  // in the arrays held_ keeps alive
  std::vector<uint8_t*> outputs_;           // likewise
  std::vector<napi_ref> held_;
  std::vector<std::shared_ptr<const HostLoan>> loans_;  // outputs in memory lent to runs: pinned while copied into
  cuda::ImageDecodeReport report_;
  Status status_;
};

#endif  // RESNET_WITH_CUDA

}  // namespace

Napi::Function NativeGpuImageDecoder::define(Napi::Env env, EnvState* state) {
  return DefineClass(env, "NativeGpuImageDecoder",
                     {
                         InstanceMethod<&NativeGpuImageDecoder::decode>("decode"),
                         InstanceMethod<&NativeGpuImageDecoder::dispose>("dispose"),
                         InstanceAccessor<&NativeGpuImageDecoder::image_bytes>("imageBytes"),
                         InstanceAccessor<&NativeGpuImageDecoder::decoder_count>("decoderCount"),
                     },
                     state);
}

NativeGpuImageDecoder::NativeGpuImageDecoder(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<NativeGpuImageDecoder>(info), state_(static_cast<EnvState*>(info.Data())) {
  Napi::Env env = info.Env();
  // The arguments are checked in every build, so that a caller's mistake reads the same with or without CUDA.
  const int device = static_cast<int>(cuda::js_integer(info[0], "device", 0, 1023, kWhere));
  const cuda::PreprocessOptions options = preprocess_options(info[1]);
  const int64_t max_pixels = cuda::js_integer(info[2], "maxPixels", 1, int64_t{1} << 53, kWhere);
  const int64_t max_decoded_bytes = cuda::js_integer(info[3], "maxDecodedBytes", 0, int64_t{1} << 53, kWhere);
#ifdef RESNET_WITH_CUDA
  Result<std::shared_ptr<cuda::GpuImageDecoderPool>> pool =
      cuda::GpuImageDecoderPool::create(device, options, max_pixels, static_cast<size_t>(max_decoded_bytes));
  if (!pool.ok()) throw make_error(env, pool.status());
  pool_ = pool.take();
  image_bytes_ = static_cast<double>(pool_->image_bytes());
#else
  (void)device;
  (void)options;
  (void)max_pixels;
  (void)max_decoded_bytes;
  throw make_error(env, Status(Code::kBackendUnavailable,
                               "built without CUDA: this addon has no GPU image decoder (nvcc was not found when it "
                               "was built, RESNET_CPU_ONLY was set, or it was built with node-gyp); decode images on "
                               "the CPU, or install the CUDA toolkit and rebuild with `npm run build:native`"));
#endif
}

Napi::Value NativeGpuImageDecoder::decode(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return promise_boundary(env, "decode", [&]() -> Napi::Value {
    if (!pool_)
      return rejected(env, Status(Code::kDisposed, "This image decoder was disposed; make a new one to decode"));
    const std::vector<Napi::Uint8Array> images = byte_arrays(info[0], "images");
    std::vector<Napi::Uint8Array> outputs = byte_arrays(info[1], "outputs");
    if (outputs.size() != images.size()) {
      return rejected(env, Status(Code::kInvalidArgument, cat(kWhere, ": Expected one output per image (",
                                                              images.size(), ") but received ", outputs.size())));
    }
    for (size_t i = 0; i < outputs.size(); ++i) {
      if (static_cast<double>(outputs[i].ByteLength()) != image_bytes_) {
        return rejected(env, Status(Code::kInvalidShape, cat(kWhere, ": Expected ", static_cast<size_t>(image_bytes_),
                                                             " bytes (3 × crop² pixels) for outputs[", i,
                                                             "] but received ", outputs[i].ByteLength())));
      }
    }
#ifdef RESNET_WITH_CUDA
    Result<Backend*> backend = find_backend("cuda");
    if (!backend.ok()) return rejected(env, backend.status());
    std::vector<cuda::EncodedImage> encoded;
    std::vector<uint8_t*> destinations;
    std::vector<napi_ref> held;
    std::vector<std::shared_ptr<const HostLoan>> loans;
    // References first, so that a failure below releases them (the job owns them only once made).
    auto release = [&] {
      for (napi_ref reference : held) napi_delete_reference(env, reference);
    };
    try {
      const HostMemoryRegistry& registry = HostMemoryRegistry::instance();
      for (size_t i = 0; i < images.size(); ++i) {
        for (napi_value array : {static_cast<napi_value>(images[i]), static_cast<napi_value>(outputs[i])}) {
          napi_ref reference;
          NAPI_THROW_IF_FAILED(env, napi_create_reference(env, array, 1, &reference), Napi::Value());
          held.push_back(reference);
        }
        encoded.push_back({images[i].Data(), images[i].ByteLength()});
        destinations.push_back(outputs[i].Data());
        std::shared_ptr<const HostLoan> loan = registry.find(outputs[i].Data(), outputs[i].ByteLength());
        if (loan) loans.push_back(std::move(loan));
      }
    } catch (...) {
      release();
      throw;
    }
    auto job = std::make_shared<DecodeJob>(env, pool_, std::move(encoded), std::move(destinations), std::move(held),
                                           std::move(loans));
    return state_->start(backend.value(), JobShape{}, std::move(job));
#else
    return rejected(env, Status(Code::kBackendUnavailable, "built without CUDA: this addon has no GPU image decoder"));
#endif
  });
}

void NativeGpuImageDecoder::dispose(const Napi::CallbackInfo&) { pool_.reset(); }

Napi::Value NativeGpuImageDecoder::image_bytes(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), image_bytes_);
}

Napi::Value NativeGpuImageDecoder::decoder_count(const Napi::CallbackInfo& info) {
#ifdef RESNET_WITH_CUDA
  if (pool_) return Napi::Number::New(info.Env(), pool_->decoder_count());
#endif
  return Napi::Number::New(info.Env(), 0);
}

}  // namespace resnet
