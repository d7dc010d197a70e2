// The GPU image decoder as the server drives it: encoded images in host memory → each image's centre crop as
// uint8 pixels in the caller's host memory (pinned: the copies back are DMA), decoded by nvJPEG and resized on
// the GPU (nvjpeg_decoder.h). One pool per served model (one device, one preprocessing): nvJPEG's states belong
// to one thread at a time, so each concurrent batch takes a decoder of its own (with its stream and device
// output buffer), made on demand on the GPU worker that runs the batch, at most one per worker, and kept for
// the next batch. Free of CUDA headers (the implementation is in the .cc), so the JS binding outside gpu/ can
// hold one; built only with CUDA (RESNET_WITH_CUDA).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cuda/image_batch_plan.h"
#include "cuda/preprocess_plan.h"
#include "status.h"

namespace resnet {
namespace cuda {

/// What became of one image of a batch.
struct ImageDecodeOutcome {
  /// kHardware or kGpu: decoded, its output written. kCpu: not decoded here (the plan's route, or nvJPEG
  /// failed on it), its output untouched: decode it on the CPU. kRefused: over the pixel limit, not decoded.
  DecodeRoute route = DecodeRoute::kCpu;
  std::string reason;  // why kCpu or kRefused; "" for decoded images
};

/// One batch's outcomes, one per image.
struct ImageDecodeReport {
  std::vector<ImageDecodeOutcome> images;
};

class GpuImageDecoderPool {
 public:
  /// A pool for `device` and `options` (the output is always uint8, options.output is ignored), refusing
  /// images above `max_pixels` and decoding at most `max_decoded_bytes` of RGB pixels per batch on the GPU (the
  /// rest go to the CPU). Checks on the calling thread that the device exists (kNoGpu), that nvJPEG loads
  /// (kNvjpegNotFound, kNvjpegVersion) and the options (kInvalidArgument); nvJPEG itself is set up with the
  /// first batch, on a GPU worker.
  static Result<std::shared_ptr<GpuImageDecoderPool>> create(int device, PreprocessOptions options, int64_t max_pixels,
                                                             size_t max_decoded_bytes);
  ~GpuImageDecoderPool();
  GpuImageDecoderPool(const GpuImageDecoderPool&) = delete;
  GpuImageDecoderPool& operator=(const GpuImageDecoderPool&) = delete;

  /// Bytes of one image's output: 3 · crop² uint8 pixels.
  size_t image_bytes() const { return image_bytes_; }

  /// Decodes `images` and copies the crop of each image decoded on the GPU into `outputs[i]` (host memory of
  /// image_bytes() bytes; pinned for DMA, pageable works too); waits until the copies are done. Call on a GPU
  /// worker. A failure of the whole batch (CUDA, device memory, nvJPEG's setup) is the Status, and no output is
  /// written after it returns; a failure of one image is that image's outcome.
  Result<ImageDecodeReport> decode(const std::vector<EncodedImage>& images, const std::vector<uint8_t*>& outputs);

  /// Decoders made so far (at most one per GPU worker): the most batches that overlapped.
  int decoder_count() const;

 private:
  struct Decoder;  // an NvjpegDecoder with its stream and device output buffer (CUDA types: in the .cc)

  GpuImageDecoderPool(int device, PreprocessOptions options, int64_t max_pixels, size_t max_decoded_bytes);
  Result<std::unique_ptr<Decoder>> take();
  void give(std::unique_ptr<Decoder> decoder);
  Result<ImageDecodeReport> decode_with(Decoder& decoder, const std::vector<EncodedImage>& images,
                                        const std::vector<uint8_t*>& outputs);

  const int device_;
  const PreprocessOptions options_;
  const int64_t max_pixels_;
  const size_t max_decoded_bytes_;
  const size_t image_bytes_;
  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<Decoder>> idle_;
  int created_ = 0;
};

}  // namespace cuda
}  // namespace resnet
