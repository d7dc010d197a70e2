#include "cuda/image_header.h"

#include <cstring>

#include "cuda/jpeg_header.h"

namespace resnet {
namespace cuda {
namespace {

bool matches(const uint8_t* data, size_t size, size_t offset, const char* text, size_t length) {
  return offset <= size && length <= size - offset && std::memcmp(data + offset, text, length) == 0;
}

uint32_t be32(const uint8_t* p) { return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3]; }
uint32_t le16(const uint8_t* p) { return uint32_t{p[0]} | uint32_t{p[1]} << 8; }
uint32_t le24(const uint8_t* p) { return le16(p) | uint32_t{p[2]} << 16; }

ImageSize png_size(const uint8_t* data, size_t size) {
  ImageSize result;
  result.format = ImageFormat::kPng;
  // Signature (8), then the first chunk, which must be IHDR: length 13, "IHDR", width, height (big-endian).
  if (size < 8 + 8 + 8 || be32(data + 8) != 13 || !matches(data, size, 12, "IHDR", 4)) {
    result.error = "the PNG has no IHDR chunk where the format puts it";
    return result;
  }
  result.width = be32(data + 16);
  result.height = be32(data + 20);
  if (result.width == 0 || result.height == 0 || result.width > 0x7fffffff || result.height > 0x7fffffff) {
    result.error = "the PNG's IHDR gives a width or height of 0 or above 2^31 - 1";
    result.width = result.height = 0;
  }
  return result;
}

ImageSize webp_size(const uint8_t* data, size_t size) {
  ImageSize result;
  result.format = ImageFormat::kWebp;
  // "RIFF" size "WEBP", then the first chunk: fourcc (4) and size (4) at 12, its data at 20.
  if (matches(data, size, 12, "VP8X", 4) && size >= 30) {
    result.width = int64_t{le24(data + 24)} + 1;  // canvas width − 1, 24 bits
    result.height = int64_t{le24(data + 27)} + 1;
  } else if (matches(data, size, 12, "VP8L", 4) && size >= 25 && data[20] == 0x2f) {
    const uint32_t bits = le16(data + 21) | uint32_t{data[23]} << 16 | uint32_t{data[24]} << 24;
    result.width = int64_t{bits & 0x3fff} + 1;  // 14 bits each, minus one
    result.height = int64_t{(bits >> 14) & 0x3fff} + 1;
  } else if (matches(data, size, 12, "VP8 ", 4) && size >= 30 && matches(data, size, 23, "\x9d\x01\x2a", 3)) {
    result.width = le16(data + 26) & 0x3fff;  // the top two bits are the horizontal scale
    result.height = le16(data + 28) & 0x3fff;
  } else {
    result.error = "the WebP's first chunk is not a VP8X, VP8L or VP8 header with a size";
    return result;
  }
  if (result.width == 0 || result.height == 0) {
    result.error = "the WebP header gives a width or height of 0";
    result.width = result.height = 0;
  }
  return result;
}

}  // namespace

const char* image_format_name(ImageFormat format) {
  switch (format) {
    case ImageFormat::kJpeg: return "JPEG";
    case ImageFormat::kPng: return "PNG";
    case ImageFormat::kWebp: return "WebP";
    case ImageFormat::kOther: return "unknown";
  }
  return "unknown";
}

ImageSize sniff_image(const uint8_t* data, size_t size) {
  if (data == nullptr) return ImageSize{};
  if (looks_like_jpeg(data, size)) {
    ImageSize result;
    result.format = ImageFormat::kJpeg;
    return result;
  }
  if (matches(data, size, 0, "\x89PNG\r\n\x1a\n", 8)) return png_size(data, size);
  if (matches(data, size, 0, "RIFF", 4) && matches(data, size, 8, "WEBP", 4)) return webp_size(data, size);
  return ImageSize{};
}

}  // namespace cuda
}  // namespace resnet
