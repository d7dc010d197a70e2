#include "cuda/image_batch_plan.h"

#include <algorithm>

#include "status.h"

namespace resnet {
namespace cuda {
namespace {

ImagePlan to_cpu(ImagePlan plan, std::string reason) {
  plan.route = DecodeRoute::kCpu;
  plan.reason = std::move(reason);
  return plan;
}

/// Whether an image of known size is longer than the aspect-ratio bound allows.
bool beyond_aspect_ratio(const ImagePlan& plan, const ImageDecodeCapabilities& capabilities) {
  if (capabilities.max_aspect_ratio <= 0 || plan.width <= 0 || plan.height <= 0) return false;
  const double long_side = static_cast<double>(std::max(plan.width, plan.height));
  const double short_side = static_cast<double>(std::min(plan.width, plan.height));
  return long_side > capabilities.max_aspect_ratio * short_side;
}

/// Refuses an image whose known size passes the limit; true when it did.
bool refuse_if_too_large(ImagePlan& plan, const ImageDecodeCapabilities& capabilities) {
  if (capabilities.max_pixels <= 0 || plan.pixels <= capabilities.max_pixels) return false;
  plan.route = DecodeRoute::kRefused;
  plan.reason = cat(image_format_name(plan.format), " of ", plan.width, "x", plan.height, " is ", plan.pixels,
                    " pixels, more than the limit of ", capabilities.max_pixels);
  return true;
}

/// Why nvJPEG cannot take a parsed JPEG at all, or "".
std::string why_not_nvjpeg(const JpegParse& parse) {
  const JpegHeader& h = parse.header;
  if (parse.truncated) return "the JPEG ends before its EOI marker (truncated)";
  if (h.coding == JpegCoding::kLossless || h.coding == JpegCoding::kHierarchical ||
      h.coding == JpegCoding::kArithmetic) {
    static const char kDigits[] = "0123456789ABCDEF";
    return cat(jpeg_coding_name(h.coding), " JPEG (SOF marker 0xFF", kDigits[(h.sof_marker >> 4) & 15],
               kDigits[h.sof_marker & 15], "): nvJPEG decodes Huffman-coded DCT JPEGs only");
  }
  if (h.precision != 8) return cat(h.precision, "-bit samples: nvJPEG decodes 8-bit JPEGs only");
  switch (h.colour) {
    case JpegColour::kCmyk:
    case JpegColour::kYcck:
      return cat(jpeg_colour_name(h.colour), " JPEG (4 components): its colour conversion needs the CPU decoder");
    case JpegColour::kRgb:
      return "RGB-coded JPEG (Adobe transform 0, or component ids R, G, B): nvJPEG would read it as YCbCr";
    case JpegColour::kOther: return cat(h.components, "-component JPEG: nvJPEG decodes grey and YCbCr ones");
    default: break;
  }
  if (h.subsampling == ChromaSubsampling::kUnknown) {
    const JpegComponent* c = h.component;
    return cat("chroma sampling factors ", c[0].h, "x", c[0].v, ", ", c[1].h, "x", c[1].v, ", ", c[2].h, "x", c[2].v,
               " (Y, Cb, Cr) are not a subsampling nvJPEG decodes");
  }
  if (h.exif_orientation >= 2) {
    return cat("EXIF orientation ", h.exif_orientation,
               ": the CPU decoder rotates or flips it as the reference reader does, nvJPEG does not");
  }
  return "";
}

/// Why the hardware engines cannot take a JPEG that nvJPEG's GPU backend can, or "".
std::string why_not_hardware(const JpegHeader& h, int engines) {
  if (engines <= 0) return "this GPU has no hardware JPEG engines";
  if (h.coding != JpegCoding::kBaseline) {
    return cat(jpeg_coding_name(h.coding), " JPEG: the hardware engines decode baseline JPEGs only");
  }
  if (h.scans != 1 || !h.first_scan_interleaved) {
    return cat(h.scans, " scan", h.scans == 1 ? " that does not interleave every component" : "s",
               ": the hardware engines decode one interleaved scan");
  }
  if (h.subsampling == ChromaSubsampling::k411 || h.subsampling == ChromaSubsampling::k410) {
    return cat(chroma_subsampling_name(h.subsampling), " subsampling: the hardware engines do not decode it");
  }
  return "";
}

/// Gives each nvJPEG-routed image its place in the decode buffer, in input order; an image that no longer
/// fits the budget goes to the CPU.
void lay_out_decode_buffer(ImageBatchPlan& batch, const ImageDecodeCapabilities& capabilities) {
  size_t end = 0;
  for (ImagePlan& plan : batch.images) {
    plan.decoded_offset = plan.decoded_pitch = 0;
    if (plan.route != DecodeRoute::kHardware && plan.route != DecodeRoute::kGpu) continue;
    const size_t pitch = static_cast<size_t>(plan.width) * 3;
    const size_t bytes = pitch * static_cast<size_t>(plan.height);
    const size_t offset = (end + kDecodedAlignment - 1) / kDecodedAlignment * kDecodedAlignment;
    if (capabilities.max_decoded_bytes > 0 &&
        (offset > capabilities.max_decoded_bytes || bytes > capabilities.max_decoded_bytes - offset)) {
      plan = to_cpu(plan, cat("the batch's GPU decode memory (", capabilities.max_decoded_bytes,
                              " bytes) is taken by the images before it"));
      continue;
    }
    plan.decoded_offset = offset;
    plan.decoded_pitch = pitch;
    end = offset + bytes;
  }
  batch.decoded_bytes = end;
}

}  // namespace

const char* decode_route_name(DecodeRoute route) {
  switch (route) {
    case DecodeRoute::kHardware: return "nvJPEG hardware";
    case DecodeRoute::kGpu: return "nvJPEG GPU";
    case DecodeRoute::kCpu: return "CPU";
    case DecodeRoute::kRefused: return "refused";
  }
  return "CPU";
}

std::vector<int> ImageBatchPlan::of(DecodeRoute route) const {
  std::vector<int> indices;
  for (size_t i = 0; i < images.size(); ++i) {
    if (images[i].route == route) indices.push_back(static_cast<int>(i));
  }
  return indices;
}

ImagePlan plan_image(const EncodedImage& image, const ImageDecodeCapabilities& capabilities) {
  ImagePlan plan;
  if (image.data == nullptr || image.size == 0) return to_cpu(plan, "empty input");
  const ImageSize sniffed = sniff_image(image.data, image.size);
  plan.format = sniffed.format;
  if (sniffed.format != ImageFormat::kJpeg) {
    plan.width = sniffed.width;
    plan.height = sniffed.height;
    plan.pixels = sniffed.width * sniffed.height;
    if (refuse_if_too_large(plan, capabilities)) return plan;
    if (sniffed.format == ImageFormat::kOther) return to_cpu(plan, "not a JPEG: the CPU decoder reads other formats");
    std::string reason = cat(image_format_name(sniffed.format), ": nvJPEG decodes JPEG only");
    if (!sniffed.error.empty()) reason += cat(" (size unknown: ", sniffed.error, ")");
    return to_cpu(plan, reason);
  }
  const JpegParse parse = parse_jpeg(image.data, image.size);
  if (!parse.ok) return to_cpu(plan, cat("unreadable JPEG header: ", parse.error));
  const JpegHeader& header = parse.header;
  plan.width = header.width;
  plan.height = header.height;
  plan.pixels = int64_t{header.width} * header.height;
  plan.coding = header.coding;
  plan.subsampling = header.subsampling;
  plan.components = header.components;
  if (refuse_if_too_large(plan, capabilities)) return plan;
  // A thin image is cheap on the GPU (it resizes only the crop's rows and columns), but answering it there and
  // refusing it on the CPU would make the answer depend on the device: the CPU workers' budget refuses it.
  if (beyond_aspect_ratio(plan, capabilities)) {
    return to_cpu(plan, cat("an aspect ratio past ", capabilities.max_aspect_ratio,
                            ":1: the CPU workers' budget refuses it"));
  }
  const std::string not_nvjpeg = why_not_nvjpeg(parse);
  if (!not_nvjpeg.empty()) return to_cpu(plan, not_nvjpeg);
  const std::string not_hardware = why_not_hardware(header, capabilities.hardware_engines);
  if (not_hardware.empty()) {
    plan.route = DecodeRoute::kHardware;
    return plan;
  }
  if (!capabilities.gpu_backend) return to_cpu(plan, "nvJPEG is not available (no GPU, or nvJPEG not loaded)");
  plan.route = DecodeRoute::kGpu;
  plan.reason = not_hardware;
  return plan;
}

ImageBatchPlan plan_image_batch(const std::vector<EncodedImage>& images, const ImageDecodeCapabilities& capabilities) {
  ImageBatchPlan batch;
  batch.images.reserve(images.size());
  for (const EncodedImage& image : images) batch.images.push_back(plan_image(image, capabilities));
  lay_out_decode_buffer(batch, capabilities);
  return batch;
}

ImageBatchPlan confirm_with_nvjpeg(const ImageBatchPlan& plan, const std::vector<NvjpegVerdict>& verdicts,
                                   const ImageDecodeCapabilities& capabilities) {
  ImageBatchPlan confirmed = plan;
  for (size_t i = 0; i < confirmed.images.size(); ++i) {
    ImagePlan& image = confirmed.images[i];
    if (image.route != DecodeRoute::kHardware && image.route != DecodeRoute::kGpu) continue;
    if (i >= verdicts.size()) {
      image = to_cpu(image, "nvJPEG was not asked about it");
      continue;
    }
    const NvjpegVerdict& verdict = verdicts[i];
    if (!verdict.info_ok) {
      image = to_cpu(image, cat("nvJPEG cannot read it: ", verdict.detail));
    } else if (verdict.width != image.width || verdict.height != image.height ||
               verdict.components != image.components) {
      image = to_cpu(image, cat("nvJPEG reads ", verdict.width, "x", verdict.height, " with ", verdict.components,
                                " components where the header says ", image.width, "x", image.height, " with ",
                                image.components));
    } else if (image.route == DecodeRoute::kHardware && verdict.hardware_checked && !verdict.hardware_supported) {
      if (capabilities.gpu_backend) {
        image.route = DecodeRoute::kGpu;
        image.reason = "the hardware decoder refuses it (nvjpegDecodeBatchedSupported)";
      } else {
        image = to_cpu(image, "the hardware decoder refuses it and there is no GPU backend");
      }
    }
  }
  lay_out_decode_buffer(confirmed, capabilities);
  return confirmed;
}

}  // namespace cuda
}  // namespace resnet
