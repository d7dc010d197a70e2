// The format and pixel size of an encoded image, read from its first bytes before anything decodes it, so that
// every image's cost is bounded first (the server's pixel limit) whichever decoder then takes it. JPEG is
// read in full by jpeg_header.h; PNG's size comes from its IHDR chunk (the PNG specification), WebP's from its
// VP8X canvas, VP8L header or VP8 key frame header (RFC 9649, and RFC 6386 for VP8). Every read is
// bounds-checked.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace resnet {
namespace cuda {

enum class ImageFormat { kJpeg, kPng, kWebp, kOther };

/// "JPEG", "PNG", "WebP", "unknown".
const char* image_format_name(ImageFormat format);

/// What the first bytes say: the format by its signature, and the size when the header gives one (0 × 0 when
/// it is unreadable or the format is not one read here).
struct ImageSize {
  ImageFormat format = ImageFormat::kOther;
  int64_t width = 0, height = 0;
  std::string error;  // why the size is unknown for a recognised format, "" otherwise
};

/// The format and size of PNG and WebP images (JPEG: the format only; parse_jpeg reads its size).
ImageSize sniff_image(const uint8_t* data, size_t size);

}  // namespace cuda
}  // namespace resnet
