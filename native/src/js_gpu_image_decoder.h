// NativeGpuImageDecoder: the JS handle of a GPU image decoder (cuda/gpu/gpu_image_decoder_pool.h) for one model's
// preprocessing on one device. decode(images, outputs) validates on the JS thread, keeps every array alive and
// queues the batch on the CUDA backend's workers; the promise resolves with each image's route (the GPU decoded
// it into its output, or the CPU must: with the reason). A build without CUDA (node-gyp, RESNET_CPU_ONLY, no
// nvcc) has the class too, and its constructor throws ERR_BACKEND_UNAVAILABLE saying so.
#pragma once

#include <napi.h>

#include <memory>

#include "js_env.h"

namespace resnet {

namespace cuda {
class GpuImageDecoderPool;
}

class NativeGpuImageDecoder : public Napi::ObjectWrap<NativeGpuImageDecoder> {
 public:
  /// The class, for `exports.NativeGpuImageDecoder`:
  /// `new NativeGpuImageDecoder(device, { resizeSize, cropSize, mean?, std?, layout? }, maxPixels, maxDecodedBytes)`.
  static Napi::Function define(Napi::Env env, EnvState* state);

  explicit NativeGpuImageDecoder(const Napi::CallbackInfo& info);

 private:
  /// decode(images: Uint8Array[], outputs: Uint8Array[]) → Promise<{ routes: string[], reasons: string[] }>.
  Napi::Value decode(const Napi::CallbackInfo& info);
  /// Drops this handle's decoders (batches in flight finish first); idempotent. Later decodes reject ERR_DISPOSED.
  void dispose(const Napi::CallbackInfo& info);
  Napi::Value image_bytes(const Napi::CallbackInfo& info);
  Napi::Value decoder_count(const Napi::CallbackInfo& info);

  EnvState* state_;
  std::shared_ptr<cuda::GpuImageDecoderPool> pool_;  // null once disposed (and always without CUDA)
  double image_bytes_ = 0;
};

}  // namespace resnet
