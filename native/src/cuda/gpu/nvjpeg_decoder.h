// The GPU image decoder: encoded images in host memory → the model's input in device memory. It plans the
// batch (image_batch_plan.h), confirms the plan with nvJPEG's own view of each image, decodes with nvJPEG
// (nvjpeg_session.h: the hardware engines in one batched call where the GPU has them, nvJPEG's GPU backend
// otherwise) into a device buffer of RGB pixels, and runs the preprocessing kernel (resize, centre crop,
// normalise: preprocess_plan.h, kernels.h) into the caller's device buffer. Every decision comes from the
// plain-C++ plans, which the tests cover without a GPU; this file only allocates, copies and launches.
// Every nvJPEG and CUDA failure is a coded Status; every handle and buffer is RAII. One batch at a time per
// decoder (nvJPEG's states belong to one thread); make one per worker thread.
#pragma once

#include <cuda_runtime.h>

#include <memory>
#include <vector>

#include "cuda/gpu/device_memory.h"
#include "cuda/image_batch_plan.h"
#include "cuda/nvjpeg_loader.h"
#include "cuda/nvjpeg_session.h"
#include "cuda/preprocess_plan.h"
#include "status.h"

namespace resnet {
namespace cuda {

/// What one decode_and_preprocess did.
struct GpuDecodeResult {
  /// The route of every image, confirmed with nvJPEG: kCpu and kRefused images (with their reasons) are the
  /// caller's to decode on the CPU or to refuse; their slots of the output are left untouched.
  ImageBatchPlan plan;
  /// One per image: ok when its slot of the output was written; for an image nvJPEG was meant to decode but
  /// failed on, the failure (decode it on the CPU instead).
  std::vector<Status> images;
};

class NvjpegDecoder {
 public:
  /// A decoder on `device` for `options` (the model's transforms and input layout), refusing images above
  /// `max_pixels` and decoding at most `max_decoded_bytes` of RGB pixels per batch on the GPU (the rest go
  /// to the CPU). kNvjpegNotFound / kNvjpegVersion when nvJPEG cannot be loaded, kNoGpu without a device.
  static Result<std::unique_ptr<NvjpegDecoder>> create(int device, const PreprocessOptions& options, int64_t max_pixels,
                                                       size_t max_decoded_bytes);

  /// The hardware JPEG engines in use (0: nvJPEG's GPU backend only).
  int hardware_engines() const { return session_->hardware_engines(); }

  /// Decodes `images` and writes the preprocessed ones into `output` (device memory of images.size() ×
  /// output_image_bytes(options) bytes; image i into slot i), on `stream`, and waits for it: when this
  /// returns, the output is ready and the staging buffers are free for the next batch.
  Result<GpuDecodeResult> decode_and_preprocess(const std::vector<EncodedImage>& images, void* output,
                                                cudaStream_t stream);

 private:
  NvjpegDecoder(int device, const PreprocessOptions& options, ImageDecodeCapabilities capabilities)
      : device_(device), options_(options), capabilities_(capabilities) {}

  /// Makes `buffer` at least `bytes` long (reallocating; the stream is idle between batches).
  Status reserve_device(DeviceBuffer& buffer, size_t bytes, const char* what);
  Status reserve_pinned(PinnedBuffer& buffer, size_t bytes, const char* what);

  int device_;
  PreprocessOptions options_;
  ImageDecodeCapabilities capabilities_;
  std::unique_ptr<NvjpegSession> session_;
  DeviceBuffer decoded_;  // RGB pixels nvJPEG writes
  DeviceBuffer tables_;   // the preprocessing plan's tables
  PinnedBuffer tables_staging_;
};

}  // namespace cuda
}  // namespace resnet
