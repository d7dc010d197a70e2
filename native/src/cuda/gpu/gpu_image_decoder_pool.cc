#include "cuda/gpu/gpu_image_decoder_pool.h"

#include <cuda_runtime.h>

#include <utility>

#include "cuda/gpu/cuda_devices.h"
#include "cuda/gpu/cuda_status.h"
#include "cuda/gpu/cuda_stream.h"
#include "cuda/gpu/device_memory.h"
#include "cuda/gpu/gpu_workers.h"
#include "cuda/gpu/nvjpeg_decoder.h"
#include "cuda/nvjpeg_loader.h"

namespace resnet {
namespace cuda {

struct GpuImageDecoderPool::Decoder {
  std::unique_ptr<NvjpegDecoder> nvjpeg;
  Stream stream;
  DeviceBuffer output;  // the batch's crops, image i at i · image_bytes (grown as batches grow)
};

namespace {

/// The device exists: kNoGpu naming the devices this process sees otherwise.
Status check_device(int device) {
  RESNET_ASSIGN_OR_RETURN(const int count, cuda_device_count());
  RESNET_CHECK(device >= 0 && device < count, Code::kNoGpu,
               cat("CUDA device ", device, " does not exist: this process sees ", count, " CUDA device",
                   count == 1 ? "" : "s", "; check CUDA_VISIBLE_DEVICES, or decode on another device"));
  return Status();
}

}  // namespace

GpuImageDecoderPool::GpuImageDecoderPool(int device, PreprocessOptions options, int64_t max_pixels,
                                         size_t max_decoded_bytes)
    : device_(device), options_(options), max_pixels_(max_pixels), max_decoded_bytes_(max_decoded_bytes),
      image_bytes_(static_cast<size_t>(output_image_bytes(options))) {}

Result<std::shared_ptr<GpuImageDecoderPool>> GpuImageDecoderPool::create(int device, PreprocessOptions options,
                                                                         int64_t max_pixels, size_t max_decoded_bytes) {
  options.output = PreprocessOutput::kUint8;  // pixels: the engine normalises them, as it does the CPU path's
  RESNET_CHECK(max_pixels > 0, Code::kInvalidArgument,
               cat("Expected a positive pixel limit for maxPixels but received ", max_pixels));
  Result<PreprocessPlan> checked = plan_preprocess({}, options, 0);
  if (!checked.ok()) return checked.status();
  RESNET_RETURN_IF_ERROR(check_device(device));
  RESNET_ASSIGN_OR_RETURN(const NvjpegLibrary* library, load_nvjpeg());
  (void)library;  // loaded once per process; each decoder makes its own session on its worker
  return std::shared_ptr<GpuImageDecoderPool>(new GpuImageDecoderPool(device, options, max_pixels, max_decoded_bytes));
}

GpuImageDecoderPool::~GpuImageDecoderPool() {
  // Streams, device buffers and nvJPEG's own (cudaFree synchronises): freed on a GPU worker, never in a JS
  // finalizer. The lambda holds the only reference. Should even that allocation fail, they go here and now.
  try {
    auto idle = std::make_shared<std::vector<std::unique_ptr<Decoder>>>(std::move(idle_));
    GpuWorkers::instance().release([idle]() mutable { idle.reset(); });
  } catch (...) {
    idle_.clear();
  }
}

int GpuImageDecoderPool::decoder_count() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return created_;
}

Result<std::unique_ptr<GpuImageDecoderPool::Decoder>> GpuImageDecoderPool::take() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!idle_.empty()) {
      std::unique_ptr<Decoder> decoder = std::move(idle_.back());
      idle_.pop_back();
      return decoder;
    }
  }
  auto decoder = std::make_unique<Decoder>();
  RESNET_ASSIGN_OR_RETURN(decoder->nvjpeg, NvjpegDecoder::create(device_, options_, max_pixels_, max_decoded_bytes_));
  RESNET_ASSIGN_OR_RETURN(decoder->stream, Stream::create(device_));
  std::lock_guard<std::mutex> lock(mutex_);
  ++created_;
  return decoder;
}

void GpuImageDecoderPool::give(std::unique_ptr<Decoder> decoder) {
  std::lock_guard<std::mutex> lock(mutex_);
  idle_.push_back(std::move(decoder));
}

Result<ImageDecodeReport> GpuImageDecoderPool::decode(const std::vector<EncodedImage>& images,
                                                      const std::vector<uint8_t*>& outputs) {
  RESNET_CHECK(images.size() == outputs.size(), Code::kInvalidArgument,
               cat("Expected one output per image but received ", outputs.size(), " for ", images.size(), " images"));
  RESNET_ASSIGN_OR_RETURN(std::unique_ptr<Decoder> decoder, take());
  Result<ImageDecodeReport> report = decode_with(*decoder, images, outputs);
  // A decoder whose batch failed as a whole may hold nvJPEG or stream state in an unknown condition: it is
  // dropped (here, on the worker) and the next batch makes a fresh one.
  if (report.ok()) give(std::move(decoder));
  return report;
}

Result<ImageDecodeReport> GpuImageDecoderPool::decode_with(Decoder& decoder, const std::vector<EncodedImage>& images,
                                                           const std::vector<uint8_t*>& outputs) {
  const size_t needed = images.size() * image_bytes_;
  if (decoder.output.bytes() < needed) {
    decoder.output = DeviceBuffer();  // the old and the new one need not fit together
    RESNET_ASSIGN_OR_RETURN(decoder.output, DeviceBuffer::allocate(device_, needed, "decoded image crops"));
  }
  const cudaStream_t stream = decoder.stream.get();
  RESNET_ASSIGN_OR_RETURN(GpuDecodeResult decoded,
                          decoder.nvjpeg->decode_and_preprocess(images, decoder.output.get(), stream));

  ImageDecodeReport report;
  report.images.resize(images.size());
  for (size_t i = 0; i < images.size(); ++i) {
    const ImagePlan& plan = decoded.plan.images[i];
    ImageDecodeOutcome& outcome = report.images[i];
    outcome.route = plan.route;
    if (plan.route == DecodeRoute::kCpu || plan.route == DecodeRoute::kRefused) {
      outcome.reason = plan.reason;
    } else if (!decoded.images[i].ok()) {
      outcome.route = DecodeRoute::kCpu;
      outcome.reason = cat("nvJPEG could not decode it (", decoded.images[i].message(), ")");
    }
  }

  // The decoded crops back to the host, one copy per run of images whose outputs lie end to end (the images
  // of one request, in the server's buffers).
  ScopedDevice current(device_);
  RESNET_CUDA_CHECK(current.error(), cat("making CUDA device ", device_, " current"));
  const auto* source = decoder.output.as<uint8_t>();
  cudaError_t copy_error = cudaSuccess;
  for (size_t first = 0; first < images.size() && copy_error == cudaSuccess;) {
    const DecodeRoute route = report.images[first].route;
    if (route != DecodeRoute::kHardware && route != DecodeRoute::kGpu) {
      ++first;
      continue;
    }
    size_t end = first + 1;
    while (end < images.size() && outputs[end] == outputs[end - 1] + image_bytes_ &&
           (report.images[end].route == DecodeRoute::kHardware || report.images[end].route == DecodeRoute::kGpu)) {
      ++end;
    }
    copy_error = cudaMemcpyAsync(outputs[first], source + first * image_bytes_, (end - first) * image_bytes_,
                                 cudaMemcpyDeviceToHost, stream);
    first = end;
  }
  // Waited for even after a failed enqueue: no copy may still write into the caller's memory once this returns.
  const cudaError_t wait_error = cudaStreamSynchronize(stream);
  RESNET_CUDA_CHECK(copy_error, "copying decoded images back to the host");
  RESNET_CUDA_CHECK(wait_error, "waiting for the decoded images' copies to the host");
  return report;
}

}  // namespace cuda
}  // namespace resnet
