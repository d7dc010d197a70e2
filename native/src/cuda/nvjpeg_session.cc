#include "cuda/nvjpeg_session.h"

#include <new>

#include "cuda/nvjpeg_loader.h"

namespace resnet {
namespace cuda {
namespace {

using nvjpeg::NVJPEG_STATUS_SUCCESS;

/// Returns the coded Status of a failed nvJPEG call from the enclosing function.
#define RESNET_NVJPEG_CHECK(call, what)                          \
  do {                                                           \
    const nvjpeg::nvjpegStatus_t resnet_nvjpeg_status_ = (call); \
    if (resnet_nvjpeg_status_ != NVJPEG_STATUS_SUCCESS) {        \
      return nvjpeg_error(resnet_nvjpeg_status_, (what));        \
    }                                                            \
  } while (0)

/// The destination of an image the plan lays out in `decoded`: interleaved RGB in channel 0.
nvjpeg::nvjpegImage_t destination(const ImagePlan& plan, uint8_t* decoded) {
  nvjpeg::nvjpegImage_t image{};
  image.channel[0] = decoded + plan.decoded_offset;
  image.pitch[0] = plan.decoded_pitch;
  return image;
}

}  // namespace

Result<std::unique_ptr<NvjpegSession>> NvjpegSession::create(const NvjpegApi& api, bool try_hardware) {
  std::unique_ptr<NvjpegSession> session;
  try {
    session.reset(new NvjpegSession(api));
  } catch (const std::bad_alloc&) {
    return Status(Code::kOutOfMemory, "creating an nvJPEG session: out of host memory");
  }
  RESNET_RETURN_IF_ERROR(session->make(try_hardware));
  return session;
}

Status NvjpegSession::make(bool try_hardware) {
  nvjpeg::nvjpegHandle_t handle = nullptr;
  if (try_hardware) {
    const nvjpeg::nvjpegStatus_t status =
        api_.nvjpegCreateEx(nvjpeg::NVJPEG_BACKEND_HARDWARE, nullptr, nullptr, nvjpeg::kFlagsDefault, &handle);
    if (status == NVJPEG_STATUS_SUCCESS) {
      handle_ = {handle, api_.nvjpegDestroy};
      unsigned int engines = 0, cores = 0;
      const nvjpeg::nvjpegStatus_t info = api_.nvjpegGetHardwareDecoderInfo(handle, &engines, &cores);
      if (info == NVJPEG_STATUS_SUCCESS && engines > 0) {
        hardware_engines_ = static_cast<int>(engines);
      } else {
        no_hardware_reason_ = info == NVJPEG_STATUS_SUCCESS
                                  ? "nvjpegGetHardwareDecoderInfo reports 0 engines"
                                  : nvjpeg_error(info, "nvjpegGetHardwareDecoderInfo").message();
      }
    } else {
      // ARCH_MISMATCH or JPEG_NOT_SUPPORTED: this GPU (or this nvJPEG) has no hardware decoder.
      no_hardware_reason_ = nvjpeg_error(status, "nvjpegCreateEx(NVJPEG_BACKEND_HARDWARE)").message();
    }
  } else {
    no_hardware_reason_ = "the hardware backend was not asked for";
  }
  if (!handle_.get()) {
    RESNET_NVJPEG_CHECK(api_.nvjpegCreateEx(nvjpeg::NVJPEG_BACKEND_DEFAULT, nullptr, nullptr, nvjpeg::kFlagsDefault,
                                            &handle),
                        "nvjpegCreateEx(NVJPEG_BACKEND_DEFAULT)");
    handle_ = {handle, api_.nvjpegDestroy};
  }
  if (hardware_engines_ > 0) {
    nvjpeg::nvjpegJpegState_t state = nullptr;
    RESNET_NVJPEG_CHECK(api_.nvjpegJpegStateCreate(handle, &state), "nvjpegJpegStateCreate");
    batched_state_ = {state, api_.nvjpegJpegStateDestroy};
  }
  nvjpeg::nvjpegJpegDecoder_t decoder = nullptr;
  RESNET_NVJPEG_CHECK(api_.nvjpegDecoderCreate(handle, nvjpeg::NVJPEG_BACKEND_DEFAULT, &decoder),
                      "nvjpegDecoderCreate");
  decoder_ = {decoder, api_.nvjpegDecoderDestroy};
  for (auto& pinned : pinned_) {
    nvjpeg::nvjpegBufferPinned_t buffer = nullptr;
    RESNET_NVJPEG_CHECK(api_.nvjpegBufferPinnedCreate(handle, nullptr, &buffer), "nvjpegBufferPinnedCreate");
    pinned = {buffer, api_.nvjpegBufferPinnedDestroy};
  }
  nvjpeg::nvjpegBufferDevice_t device = nullptr;
  RESNET_NVJPEG_CHECK(api_.nvjpegBufferDeviceCreate(handle, nullptr, &device), "nvjpegBufferDeviceCreate");
  device_buffer_ = {device, api_.nvjpegBufferDeviceDestroy};
  nvjpeg::nvjpegJpegState_t decoder_state = nullptr;
  RESNET_NVJPEG_CHECK(api_.nvjpegDecoderStateCreate(handle, decoder, &decoder_state), "nvjpegDecoderStateCreate");
  decoder_state_ = {decoder_state, api_.nvjpegJpegStateDestroy};
  RESNET_NVJPEG_CHECK(api_.nvjpegStateAttachDeviceBuffer(decoder_state, device), "nvjpegStateAttachDeviceBuffer");
  for (auto& stream : streams_) {
    nvjpeg::nvjpegJpegStream_t made = nullptr;
    RESNET_NVJPEG_CHECK(api_.nvjpegJpegStreamCreate(handle, &made), "nvjpegJpegStreamCreate");
    stream = {made, api_.nvjpegJpegStreamDestroy};
  }
  nvjpeg::nvjpegDecodeParams_t params = nullptr;
  RESNET_NVJPEG_CHECK(api_.nvjpegDecodeParamsCreate(handle, &params), "nvjpegDecodeParamsCreate");
  params_ = {params, api_.nvjpegDecodeParamsDestroy};
  RESNET_NVJPEG_CHECK(api_.nvjpegDecodeParamsSetOutputFormat(params, nvjpeg::NVJPEG_OUTPUT_RGBI),
                      "nvjpegDecodeParamsSetOutputFormat(NVJPEG_OUTPUT_RGBI)");
  return Status();
}

std::vector<NvjpegVerdict> NvjpegSession::examine(const ImageBatchPlan& plan, const std::vector<EncodedImage>& images) {
  std::vector<NvjpegVerdict> verdicts(plan.images.size());
  for (size_t i = 0; i < plan.images.size() && i < images.size(); ++i) {
    const DecodeRoute route = plan.images[i].route;
    if (route != DecodeRoute::kHardware && route != DecodeRoute::kGpu) continue;
    NvjpegVerdict& verdict = verdicts[i];
    int widths[nvjpeg::kMaxComponent] = {}, heights[nvjpeg::kMaxComponent] = {};
    nvjpeg::nvjpegChromaSubsampling_t subsampling = nvjpeg::NVJPEG_CSS_UNKNOWN;
    const nvjpeg::nvjpegStatus_t info = api_.nvjpegGetImageInfo(handle_.get(), images[i].data, images[i].size,
                                                                &verdict.components, &subsampling, widths, heights);
    verdict.info_ok = info == NVJPEG_STATUS_SUCCESS;
    if (!verdict.info_ok) {
      verdict.detail = nvjpeg_error(info, "nvjpegGetImageInfo").message();
      continue;
    }
    verdict.width = widths[0];
    verdict.height = heights[0];
    if (route != DecodeRoute::kHardware) continue;
    verdict.hardware_checked = true;
    int unsupported = -1;
    if (api_.nvjpegJpegStreamParseHeader(handle_.get(), images[i].data, images[i].size, streams_[0].get()) ==
            NVJPEG_STATUS_SUCCESS &&
        api_.nvjpegDecodeBatchedSupported(handle_.get(), streams_[0].get(), &unsupported) == NVJPEG_STATUS_SUCCESS) {
      verdict.hardware_supported = unsupported == 0;  // nvJPEG's convention: 0 means supported
    }
  }
  return verdicts;
}

NvjpegDecodeReport NvjpegSession::decode(const ImageBatchPlan& plan, const std::vector<EncodedImage>& images,
                                         uint8_t* decoded, nvjpeg::cudaStream_t stream,
                                         const Synchronize& synchronize) {
  NvjpegDecodeReport report;
  report.images.resize(plan.images.size());
  if (images.size() != plan.images.size()) {
    const Status mismatch(Code::kInvalidArgument, cat("nvJPEG decode: a plan of ", plan.images.size(), " images for ",
                                                      images.size(), " inputs"));
    for (Status& status : report.images) status = mismatch;
    return report;
  }
  decode_hardware(plan, images, decoded, stream, report);
  decode_decoupled(plan, images, decoded, stream, synchronize, report);
  return report;
}

void NvjpegSession::decode_hardware(const ImageBatchPlan& plan, const std::vector<EncodedImage>& images,
                                    uint8_t* decoded, nvjpeg::cudaStream_t stream, NvjpegDecodeReport& report) {
  const std::vector<int> chosen = plan.of(DecodeRoute::kHardware);
  if (chosen.empty()) return;
  auto fail_all = [&](const Status& status) {
    for (int i : chosen) report.images[i] = status;
  };
  if (!batched_state_.get()) {
    return fail_all(Status(Code::kUnsupported,
                           "nvJPEG decode: the plan routes images to the hardware decoder, "
                           "but this session has none"));
  }
  std::vector<const unsigned char*> data;
  std::vector<size_t> lengths;
  std::vector<nvjpeg::nvjpegImage_t> destinations;
  for (int i : chosen) {
    data.push_back(images[i].data);
    lengths.push_back(images[i].size);
    destinations.push_back(destination(plan.images[i], decoded));
  }
  const int count = static_cast<int>(chosen.size());
  // Called for every batch: it sizes the state for this batch (and resets one that failed before).
  nvjpeg::nvjpegStatus_t status =
      api_.nvjpegDecodeBatchedInitialize(handle_.get(), batched_state_.get(), count, 1, nvjpeg::NVJPEG_OUTPUT_RGBI);
  if (status != NVJPEG_STATUS_SUCCESS) return fail_all(nvjpeg_error(status, "nvjpegDecodeBatchedInitialize"));
  ++report.batched_calls;
  status = api_.nvjpegDecodeBatched(handle_.get(), batched_state_.get(), data.data(), lengths.data(),
                                    destinations.data(), stream);
  if (status != NVJPEG_STATUS_SUCCESS) return fail_all(nvjpeg_error(status, "nvjpegDecodeBatched"));
}

void NvjpegSession::decode_decoupled(const ImageBatchPlan& plan, const std::vector<EncodedImage>& images,
                                     uint8_t* decoded, nvjpeg::cudaStream_t stream, const Synchronize& synchronize,
                                     NvjpegDecodeReport& report) {
  const std::vector<int> chosen = plan.of(DecodeRoute::kGpu);
  int turn = 0;
  for (size_t k = 0; k < chosen.size(); ++k) {
    const int i = chosen[k];
    const int buffer = turn % 2;
    // The host phase writes the pinned buffer that the transfer two images back may still be reading.
    if (turn >= 2 && synchronize) {
      ++report.synchronizations;
      const Status waited = synchronize();
      if (!waited.ok()) {
        for (size_t rest = k; rest < chosen.size(); ++rest) report.images[chosen[rest]] = waited;
        return;
      }
    }
    auto step = [&]() -> Status {
      nvjpeg::nvjpegJpegStream_t jpeg = streams_[buffer].get();
      RESNET_NVJPEG_CHECK(api_.nvjpegJpegStreamParse(handle_.get(), images[i].data, images[i].size, 0, 0, jpeg),
                          "nvjpegJpegStreamParse");
      RESNET_NVJPEG_CHECK(api_.nvjpegStateAttachPinnedBuffer(decoder_state_.get(), pinned_[buffer].get()),
                          "nvjpegStateAttachPinnedBuffer");
      RESNET_NVJPEG_CHECK(api_.nvjpegDecodeJpegHost(handle_.get(), decoder_.get(), decoder_state_.get(), params_.get(),
                                                    jpeg),
                          "nvjpegDecodeJpegHost");
      RESNET_NVJPEG_CHECK(api_.nvjpegDecodeJpegTransferToDevice(handle_.get(), decoder_.get(), decoder_state_.get(),
                                                                jpeg, stream),
                          "nvjpegDecodeJpegTransferToDevice");
      nvjpeg::nvjpegImage_t out = destination(plan.images[i], decoded);
      RESNET_NVJPEG_CHECK(api_.nvjpegDecodeJpegDevice(handle_.get(), decoder_.get(), decoder_state_.get(), &out,
                                                      stream),
                          "nvjpegDecodeJpegDevice");
      return Status();
    };
    report.images[i] = step();
    ++report.decoupled_images;
    ++turn;
  }
}

}  // namespace cuda
}  // namespace resnet
