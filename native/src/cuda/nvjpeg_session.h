// The nvJPEG calls of the GPU image decoder, in plain C++ through the loaded function table (nvjpeg_api.h), so
// that their order and their error handling run in tests against a fake libnvjpeg, without a GPU: the stream
// is an opaque pointer here and the decoded pixels go wherever the caller points (device memory in
// gpu/nvjpeg_decoder.h, host memory under the fake).
//
// One session owns one handle and everything made from it (RAII, destroyed in reverse order of creation):
// the handle is created with the hardware backend where the GPU has JPEG engines (nvjpegCreateEx
// falls back to the default backend when it refuses the hardware one), a JPEG state for the batched hardware
// decode, and the decoupled decoder (default backend) with its state, pinned and device buffers, two JPEG
// streams and decode parameters (RGBI output) for everything else, as torchvision's decode_jpegs_cuda does.
// Every decision about which image goes where comes from the plan (image_batch_plan.h); nvJPEG's own view of
// each image (examine) goes back into the plan through confirm_with_nvjpeg before decode. Not thread-safe:
// nvJPEG's states, streams and buffers belong to one thread at a time (nvJPEG documentation, "Thread Safety").
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cuda/image_batch_plan.h"
#include "cuda/nvjpeg_api.h"
#include "status.h"

namespace resnet {
namespace cuda {

/// An nvJPEG object destroyed with its own destroy function when this goes (RAII over a run-time table).
template <typename Handle>
class NvjpegObject {
 public:
  using Destroy = nvjpeg::nvjpegStatus_t (*)(Handle);
  NvjpegObject() = default;
  NvjpegObject(Handle handle, Destroy destroy) : handle_(handle), destroy_(destroy) {}
  NvjpegObject(const NvjpegObject&) = delete;
  NvjpegObject& operator=(const NvjpegObject&) = delete;
  NvjpegObject(NvjpegObject&& other) noexcept : handle_(other.handle_), destroy_(other.destroy_) {
    other.handle_ = nullptr;
  }
  NvjpegObject& operator=(NvjpegObject&& other) noexcept {
    if (this != &other) {
      reset();
      handle_ = other.handle_;
      destroy_ = other.destroy_;
      other.handle_ = nullptr;
    }
    return *this;
  }
  ~NvjpegObject() { reset(); }
  Handle get() const { return handle_; }
  void reset() {
    if (handle_ && destroy_) destroy_(handle_);  // a failing destroy cannot be acted on; nothing is leaked twice
    handle_ = nullptr;
  }

 private:
  Handle handle_ = nullptr;
  Destroy destroy_ = nullptr;
};

/// What a decode did, per image of the plan.
struct NvjpegDecodeReport {
  /// One per image of the plan: ok for an image nvJPEG decoded, the failure for one it did not (decode it on the
  /// CPU), ok for images never routed to nvJPEG.
  std::vector<Status> images;
  int batched_calls = 0;     // nvjpegDecodeBatched calls (0 or 1)
  int decoupled_images = 0;  // images through the decoupled API
  int synchronizations = 0;  // times the stream was waited for (a pinned buffer about to be reused)
};

class NvjpegSession {
 public:
  /// Waits for the work queued on the stream so far (cudaStreamSynchronize in the GPU decoder).
  using Synchronize = std::function<Status()>;

  /// A session over `api`. With `try_hardware`, the handle asks for the hardware backend first and keeps the
  /// default backend's handle when nvJPEG refuses it (no engines on this GPU, or this nvJPEG lacks them).
  /// Failures are coded Statuses (nvjpeg_error); what was made before a failure is destroyed.
  static Result<std::unique_ptr<NvjpegSession>> create(const NvjpegApi& api, bool try_hardware);

  /// The hardware JPEG engines nvJPEG reports for this handle (0 for a default-backend handle).
  int hardware_engines() const { return hardware_engines_; }
  /// Why the handle has no hardware engines ("" when it has them).
  const std::string& no_hardware_reason() const { return no_hardware_reason_; }

  /// nvJPEG's own view of each image the plan routes to it, one verdict per image of the plan.
  std::vector<NvjpegVerdict> examine(const ImageBatchPlan& plan, const std::vector<EncodedImage>& images);

  /// Decodes the images `plan` (confirmed with examine's verdicts) routes to nvJPEG into `decoded` at each image's
  /// decoded_offset, as RGBI rows of decoded_pitch bytes, on `stream`: the hardware-routed ones in one batched
  /// call, the others one by one through the decoupled API (host phase, transfer, device phase, with the two
  /// pinned buffers taking turns; `synchronize` runs before a pinned buffer is reused). Asynchronous like
  /// nvJPEG itself: the pixels are there once the stream's work is done. A failed call fails its images only.
  NvjpegDecodeReport decode(const ImageBatchPlan& plan, const std::vector<EncodedImage>& images, uint8_t* decoded,
                            nvjpeg::cudaStream_t stream, const Synchronize& synchronize);

 private:
  explicit NvjpegSession(const NvjpegApi& api) : api_(api) {}
  Status make(bool try_hardware);
  void decode_hardware(const ImageBatchPlan& plan, const std::vector<EncodedImage>& images, uint8_t* decoded,
                       nvjpeg::cudaStream_t stream, NvjpegDecodeReport& report);
  void decode_decoupled(const ImageBatchPlan& plan, const std::vector<EncodedImage>& images, uint8_t* decoded,
                        nvjpeg::cudaStream_t stream, const Synchronize& synchronize, NvjpegDecodeReport& report);

  const NvjpegApi& api_;
  int hardware_engines_ = 0;
  std::string no_hardware_reason_;
  // Declared in creation order: members are destroyed in reverse, every object before the handle it came from,
  // the decoder state before the buffers attached to it and before its decoder.
  NvjpegObject<nvjpeg::nvjpegHandle_t> handle_;
  NvjpegObject<nvjpeg::nvjpegJpegState_t> batched_state_;
  NvjpegObject<nvjpeg::nvjpegJpegDecoder_t> decoder_;
  NvjpegObject<nvjpeg::nvjpegBufferPinned_t> pinned_[2];
  NvjpegObject<nvjpeg::nvjpegBufferDevice_t> device_buffer_;
  NvjpegObject<nvjpeg::nvjpegJpegState_t> decoder_state_;
  NvjpegObject<nvjpeg::nvjpegJpegStream_t> streams_[2];
  NvjpegObject<nvjpeg::nvjpegDecodeParams_t> params_;
};

}  // namespace cuda
}  // namespace resnet
