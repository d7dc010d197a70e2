#include "host_input.h"

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

void convert_input_to_nchw_float(const HostInput& input, int64_t n, int64_t channels, int64_t h, int64_t w,
                                 const InputNormalization& normalization, float* dst) {
  const InputType type = input.format.type;
  const bool nhwc = input.format.layout == InputLayout::kNhwc;
  const bool normalize = normalization.applies(type);
  const int64_t plane = h * w;
  const int64_t total = n * channels * plane;
  // The same float steps for every layout (scale, subtract, divide), so NCHW and NHWC inputs of the same
  // pixels give the same floats bit for bit.
  int64_t source = 0;  // element index in the input's own order
  for (const InputSegment& segment : input.segments) {
    const size_t count = segment.bytes / input_element_bytes(type);
    for (size_t i = 0; i < count && source < total; ++i, ++source) {
      int64_t target = source;
      int64_t c;
      if (nhwc) {
        c = source % channels;
        const int64_t pixel = source / channels;  // b·H·W + y·W + x
        const int64_t b = pixel / plane;
        target = (b * channels + c) * plane + pixel % plane;
      } else {
        c = (source / plane) % channels;
      }
      // The CUDA input kernel's own reading of an element (kernel_math.h is plain C++ on the host).
      float x = cuda::input_element(segment.data, type, static_cast<int64_t>(i));
      if (normalize) x = (x * normalization.scale - normalization.mean[static_cast<size_t>(c)]) / normalization.std[static_cast<size_t>(c)];
      dst[target] = x;
    }
  }
}

}  // namespace resnet
