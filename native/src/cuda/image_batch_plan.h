// Which decoder takes each encoded image of a batch, decided in plain C++ from the headers alone (jpeg_header.h,
// image_header.h) and what the machine offers, before any decode: nvJPEG's hardware engines (baseline JPEG with
// one interleaved scan, grey or YCbCr 4:4:4 / 4:2:2 / 4:2:0 / 4:4:0), nvJPEG's GPU backend (the other 8-bit
// Huffman JPEGs it decodes: progressive, extended sequential, multi-scan, 4:1:1 / 4:1:0), or the CPU workers
// (PNG, WebP, CMYK, RGB-coded, 12-bit, lossless, arithmetic, EXIF-rotated, truncated or unparseable JPEGs, each
// with the reason); images above the pixel limit are refused outright. The GPU decoder (gpu/nvjpeg_decoder.h)
// takes every decision from here: what nvJPEG itself reports per image (nvjpegGetImageInfo,
// nvjpegDecodeBatchedSupported) comes back through confirm_with_nvjpeg(), and the decode buffers are laid out
// here too.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "cuda/image_header.h"
#include "cuda/jpeg_header.h"

namespace resnet {
namespace cuda {

enum class DecodeRoute {
  kHardware,  // nvJPEG, hardware backend, one batched call
  kGpu,       // nvJPEG, GPU backend (decoupled API), one image at a time
  kCpu,       // the CPU workers (sharp), which also read PNG and WebP
  kRefused,   // not decoded at all: over the pixel limit
};

/// "nvJPEG hardware", "nvJPEG GPU", "CPU", "refused".
const char* decode_route_name(DecodeRoute route);

/// The library's default aspect-ratio bound (lib/vision/budget.ts defaultMaxAspectRatio): past it a 224-pixel crop
/// sees under 1% of the resized long side.
constexpr double kDefaultMaxAspectRatio = 100;

/// What the machine offers the plan.
struct ImageDecodeCapabilities {
  int hardware_engines = 0;  // nvjpegGetHardwareDecoderInfo's engines; 0: no hardware backend
  bool gpu_backend = false;  // nvJPEG loaded and a GPU to run its GPU backend on
  int64_t max_pixels = 0;    // width × height above which an image is refused (the server's limit)
  /// Long side over short side above which a JPEG goes to the CPU workers, whose work budget refuses it with the
  /// same words as for any other image (lib/vision/budget.ts, defaultMaxAspectRatio); 0: no bound.
  double max_aspect_ratio = kDefaultMaxAspectRatio;
  size_t max_decoded_bytes = 0;  // device memory for the decoded RGB pixels of one batch; 0: no limit
};

/// Bytes of device memory each decoded image starts on (nvJPEG writes rows of RGBI, 3 bytes a pixel).
constexpr size_t kDecodedAlignment = 256;

/// One image's plan.
struct ImagePlan {
  DecodeRoute route = DecodeRoute::kCpu;
  ImageFormat format = ImageFormat::kOther;
  /// Why this route: for kGpu why not the hardware engines, for kCpu why not nvJPEG, for kRefused what is wrong.
  std::string reason;
  int64_t width = 0, height = 0;                                // as coded (before EXIF orientation); 0 when unknown
  int64_t pixels = 0;                                           // width × height, the cost bound; 0 when unknown
  JpegCoding coding = JpegCoding::kBaseline;                    // JPEG only
  ChromaSubsampling subsampling = ChromaSubsampling::kUnknown;  // JPEG only
  int components = 0;                                           // JPEG only
  /// Where nvJPEG writes the decoded RGBI pixels (offset into the batch's decode buffer), and their pitch.
  size_t decoded_offset = 0, decoded_pitch = 0;
};

/// A batch's plan: one ImagePlan per input, in input order, and the decode buffer's size.
struct ImageBatchPlan {
  std::vector<ImagePlan> images;
  size_t decoded_bytes = 0;
  /// The images of each route, in input order.
  std::vector<int> of(DecodeRoute route) const;
};

/// An encoded image (not owned).
struct EncodedImage {
  const uint8_t* data = nullptr;
  size_t size = 0;
};

/// The route of one image alone (no decode buffer assigned).
ImagePlan plan_image(const EncodedImage& image, const ImageDecodeCapabilities& capabilities);

/// Plans every image and lays out the decode buffer for those nvJPEG decodes, in input order; an image whose
/// pixels no longer fit `max_decoded_bytes` goes to the CPU (saying so).
ImageBatchPlan plan_image_batch(const std::vector<EncodedImage>& images, const ImageDecodeCapabilities& capabilities);

/// What nvJPEG said about one image before decoding it (nvjpegGetImageInfo; for hardware-routed images also
/// nvjpegJpegStreamParseHeader + nvjpegDecodeBatchedSupported).
struct NvjpegVerdict {
  bool info_ok = false;             // nvjpegGetImageInfo succeeded
  int components = 0;               // its nComponents
  int width = 0, height = 0;        // its widths[0], heights[0]
  bool hardware_checked = false;    // the batched-support question was asked
  bool hardware_supported = false;  // nvjpegDecodeBatchedSupported said 0 (supported)
  std::string detail;               // nvJPEG's failure, when info_ok is false
};

/// The plan with nvJPEG's own view applied, and the decode buffer laid out again: an image nvJPEG cannot read
/// or sizes differently from the header goes to the CPU; a hardware-routed image the hardware decoder refuses
/// goes to the GPU backend. `verdicts` has one entry per image (those not routed to nvJPEG are ignored).
ImageBatchPlan confirm_with_nvjpeg(const ImageBatchPlan& plan, const std::vector<NvjpegVerdict>& verdicts,
                                   const ImageDecodeCapabilities& capabilities);

}  // namespace cuda
}  // namespace resnet
