#include "host_input.h"

#include <algorithm>
#include <vector>

#include "cuda/kernel_math.h"

namespace resnet {

const char* input_type_name(InputType type) {
  switch (type) {
    case InputType::kFloat32: return "float32";
    case InputType::kUint8: return "uint8";
    case InputType::kFloat16: return "float16";
  }
  return "unknown";
}

const char* input_layout_name(InputLayout layout) { return layout == InputLayout::kNhwc ? "nhwc" : "nchw"; }

const char* input_format_name(InputFormat format) {
  static const char* const names[kInputFormatCount] = {"float32 nchw", "float32 nhwc", "uint8 nchw",
                                                       "uint8 nhwc",   "float16 nchw", "float16 nhwc"};
  return names[input_format_index(format)];
}

namespace {

// Where the next element of the input goes, in the input's own order (NCHW or NHWC), kept as counters so that
// the conversion loop does no division per element.
class NchwCursor {
 public:
  NchwCursor(bool nhwc, int64_t channels, int64_t plane) : nhwc_(nhwc), channels_(channels), plane_(plane) {}

  int64_t channel() const { return channel_; }
  int64_t target() const { return (image_ * channels_ + channel_) * plane_ + pixel_; }

  void advance() {
    if (nhwc_) {  // channel fastest, then pixel, then image
      if (++channel_ < channels_) return;
      channel_ = 0;
      if (++pixel_ < plane_) return;
      pixel_ = 0;
      ++image_;
    } else {  // pixel fastest, then channel, then image
      if (++pixel_ < plane_) return;
      pixel_ = 0;
      if (++channel_ < channels_) return;
      channel_ = 0;
      ++image_;
    }
  }

 private:
  const bool nhwc_;
  const int64_t channels_, plane_;
  int64_t image_ = 0, channel_ = 0, pixel_ = 0;
};

}  // namespace

void convert_input_to_nchw_float(const HostInput& input, int64_t n, int64_t channels, int64_t h, int64_t w,
                                 const InputNormalization& normalization, float* dst) {
  const InputType type = input.format.type;
  const bool normalize = normalization.applies(type);
  const int64_t total = n * channels * h * w;
  // The same float steps for every layout (scale, subtract, divide), so NCHW and NHWC inputs of the same
  // pixels give the same floats bit for bit. Pixels take those steps once per channel and value, as a table.
  const auto normalized = [&](float x, int64_t c) {
    return normalize ? (x * normalization.scale - normalization.mean[static_cast<size_t>(c)]) /
                           normalization.std[static_cast<size_t>(c)]
                     : x;
  };
  std::vector<float> pixel_table;
  if (type == InputType::kUint8) {
    pixel_table.resize(static_cast<size_t>(channels) * 256);
    for (int64_t c = 0; c < channels; ++c) {
      for (int v = 0; v < 256; ++v)
        pixel_table[static_cast<size_t>(c * 256 + v)] = normalized(static_cast<float>(v), c);
    }
  }
  NchwCursor cursor(input.format.layout == InputLayout::kNhwc, channels, h * w);
  int64_t done = 0;
  for (const InputSegment& segment : input.segments) {
    const int64_t count =
        std::min<int64_t>(static_cast<int64_t>(segment.bytes / input_element_bytes(type)), total - done);
    if (type == InputType::kUint8) {
      const uint8_t* pixels = static_cast<const uint8_t*>(segment.data);
      for (int64_t i = 0; i < count; ++i, cursor.advance()) {
        dst[cursor.target()] = pixel_table[static_cast<size_t>(cursor.channel() * 256 + pixels[i])];
      }
    } else {
      for (int64_t i = 0; i < count; ++i, cursor.advance()) {
        // The CUDA input kernel's own reading of an element (kernel_math.h is plain C++ on the host).
        dst[cursor.target()] = normalized(cuda::input_element(segment.data, type, i), cursor.channel());
      }
    }
    done += count;
  }
}

}  // namespace resnet
