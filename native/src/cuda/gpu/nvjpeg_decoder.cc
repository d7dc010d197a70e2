#include "cuda/gpu/nvjpeg_decoder.h"

#include <cstring>

#include "cuda/gpu/cuda_devices.h"
#include "cuda/gpu/cuda_status.h"
#include "cuda/kernels.h"

namespace resnet {
namespace cuda {

Result<std::unique_ptr<NvjpegDecoder>> NvjpegDecoder::create(int device, const PreprocessOptions& options,
                                                             int64_t max_pixels, size_t max_decoded_bytes) {
  RESNET_ASSIGN_OR_RETURN(const int devices, cuda_device_count());
  RESNET_CHECK(device >= 0 && device < devices, Code::kNoGpu,
               cat("CUDA device ", device, " does not exist: this process sees ", devices));
  RESNET_ASSIGN_OR_RETURN(const NvjpegLibrary* library, load_nvjpeg());
  ScopedDevice current(device);
  RESNET_CUDA_CHECK(current.error(), cat("making CUDA device ", device, " current"));
  // Checked once here, so that a bad option fails at creation rather than on the first batch.
  Result<PreprocessPlan> checked = plan_preprocess({}, options, 0);
  if (!checked.ok()) return checked.status();
  ImageDecodeCapabilities capabilities;
  capabilities.gpu_backend = true;
  capabilities.max_pixels = max_pixels;
  capabilities.max_decoded_bytes = max_decoded_bytes;
  std::unique_ptr<NvjpegDecoder> decoder(new NvjpegDecoder(device, options, capabilities));
  RESNET_ASSIGN_OR_RETURN(decoder->session_, NvjpegSession::create(library->api, true));
  decoder->capabilities_.hardware_engines = decoder->session_->hardware_engines();
  return decoder;
}

Status NvjpegDecoder::reserve_device(DeviceBuffer& buffer, size_t bytes, const char* what) {
  if (buffer.bytes() >= bytes) return Status();
  buffer = DeviceBuffer();  // free first: the old and the new one need not fit together
  RESNET_ASSIGN_OR_RETURN(buffer, DeviceBuffer::allocate(device_, bytes, what));
  return Status();
}

Status NvjpegDecoder::reserve_pinned(PinnedBuffer& buffer, size_t bytes, const char* what) {
  if (buffer.bytes() >= bytes) return Status();
  buffer = PinnedBuffer();
  RESNET_ASSIGN_OR_RETURN(buffer, PinnedBuffer::allocate(bytes, what));
  return Status();
}

Result<GpuDecodeResult> NvjpegDecoder::decode_and_preprocess(const std::vector<EncodedImage>& images, void* output,
                                                             cudaStream_t stream) {
  ScopedDevice current(device_);
  RESNET_CUDA_CHECK(current.error(), cat("making CUDA device ", device_, " current"));
  GpuDecodeResult result;
  const ImageBatchPlan planned = plan_image_batch(images, capabilities_);
  result.plan = confirm_with_nvjpeg(planned, session_->examine(planned, images), capabilities_);
  RESNET_RETURN_IF_ERROR(reserve_device(decoded_, result.plan.decoded_bytes, "decoded images"));

  auto synchronize = [stream]() -> Status {
    RESNET_CUDA_CHECK(cudaStreamSynchronize(stream), "waiting for nvJPEG's transfers");
    return Status();
  };
  NvjpegDecodeReport report = session_->decode(result.plan, images, decoded_.as<uint8_t>(), stream, synchronize);
  result.images = std::move(report.images);

  std::vector<PreprocessSource> sources;
  for (size_t i = 0; i < images.size(); ++i) {
    const ImagePlan& image = result.plan.images[i];
    const bool on_gpu = image.route == DecodeRoute::kHardware || image.route == DecodeRoute::kGpu;
    if (!on_gpu || !result.images[i].ok()) continue;
    sources.push_back({image.width, image.height, static_cast<int64_t>(image.decoded_offset),
                       static_cast<int64_t>(image.decoded_pitch), static_cast<int32_t>(i)});
  }
  if (!sources.empty()) {
    RESNET_ASSIGN_OR_RETURN(const PreprocessPlan plan,
                            plan_preprocess(sources, options_, static_cast<int64_t>(images.size())));
    const auto decoded_bytes = static_cast<int64_t>(result.plan.decoded_bytes);
    // The tables are checked on the host, where they are readable, before the kernel trusts them.
    RESNET_RETURN_IF_ERROR(
        validate_preprocess_tables(preprocess_args(plan, decoded_.as<uint8_t>(), decoded_bytes, output)));
    const PreprocessTableLayout layout = preprocess_table_layout(plan);
    RESNET_RETURN_IF_ERROR(reserve_pinned(tables_staging_, layout.bytes, "preprocessing tables (staging)"));
    RESNET_RETURN_IF_ERROR(reserve_device(tables_, layout.bytes, "preprocessing tables"));
    write_preprocess_tables(plan, layout, tables_staging_.as<uint8_t>());
    RESNET_CUDA_CHECK(cudaMemcpyAsync(tables_.get(), tables_staging_.get(), layout.bytes, cudaMemcpyHostToDevice,
                                      stream),
                      "copying the preprocessing tables to the GPU");
    const PreprocessArgs args =
        preprocess_args_at(plan, layout, tables_.as<uint8_t>(), decoded_.as<uint8_t>(), decoded_bytes, output);
    RESNET_CUDA_CHECK(launch_preprocess(args, stream), "launching the image preprocessing kernel");
  }
  // nvJPEG's work and the kernel are asynchronous: their errors surface here.
  RESNET_CUDA_CHECK(cudaStreamSynchronize(stream), "decoding and preprocessing images on the GPU");
  return result;
}

}  // namespace cuda
}  // namespace resnet
