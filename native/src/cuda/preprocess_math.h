// The per-element logic of the GPU preprocessing kernel, one output element from its index, compiled by nvcc for
// the device (gpu/kernels/preprocess.cu) and by the host compiler for the emulation (kernel_host.cc), with the
// rounding-exact arithmetic of kernel_math.h so both compute the same bits.
//
// What it computes is torchvision's tensor path on a float image: F.resize(img, resize_size, antialias=True)
// (PyTorch's _upsample_bilinear2d_aa, align_corners=False: separable, each axis a triangle filter widened by
// the scale when shrinking, weights normalised), F.center_crop(crop), then x / 255 and (x − mean) / std. Only
// the crop's pixels are computed: the plan (preprocess_plan.h) gives each output row and column its source
// window and weights, horizontal taps summed first and the row sums weighted after, as PyTorch's separable
// CPU kernel orders them.
#pragma once

#include <cstdint>

#include "cuda/kernel_math.h"
#include "cuda/preprocess_args.h"

namespace resnet {
namespace cuda {

/// `value` (in [0, 255] up to rounding) rounded to the nearest integer, ties to even, and clamped to 0..255,
/// with integer operations only (identical on host and device).
RESNET_HD inline uint8_t round_to_uint8(float value) {
  if (!(value > 0.0f)) return 0;  // also NaN
  if (value >= 255.0f) return 255;
  const int32_t whole = static_cast<int32_t>(value);         // truncation = floor for value > 0
  const float fraction = value - static_cast<float>(whole);  // exact: value < 2^8
  const int32_t up = fraction > 0.5f || (fraction == 0.5f && (whole & 1)) ? 1 : 0;
  return static_cast<uint8_t>(whole + up);
}

/// Element `i` of the output, in the layout's order over the `count` images written (image e lands in output
/// image images[e].output_index).
RESNET_HD inline void preprocess_element(const PreprocessArgs& args, int64_t i) {
  const int64_t crop = args.crop;
  int64_t c, x, y, e;
  if (args.layout == PreprocessLayout::kNhwc) {
    c = i % 3;
    int64_t rest = i / 3;
    x = rest % crop;
    rest /= crop;
    y = rest % crop;
    e = rest / crop;
  } else {
    x = i % crop;
    int64_t rest = i / crop;
    y = rest % crop;
    rest /= crop;
    c = rest % 3;
    e = rest / 3;
  }
  const PreprocessImage image = args.images[e];
  const PreprocessWindow row = args.rows[e * crop + y];
  const PreprocessWindow col = args.cols[e * crop + x];
  const uint8_t* first = args.src + image.src_offset + int64_t{col.start} * 3 + c;
  float sum = 0.0f;
  for (int32_t r = 0; r < row.count; ++r) {
    const uint8_t* line = first + (int64_t{row.start} + r) * image.src_pitch;
    float across = 0.0f;
    for (int32_t k = 0; k < col.count; ++k) {
      across = add_rn(across, mul_rn(args.weights[col.weights + k], static_cast<float>(line[3 * k])));
    }
    sum = add_rn(sum, mul_rn(args.weights[row.weights + r], across));
  }
  const int64_t out = image.output_index;
  const int64_t d = args.layout == PreprocessLayout::kNhwc ? ((out * crop + y) * crop + x) * 3 + c
                                                           : ((out * 3 + c) * crop + y) * crop + x;
  switch (args.output) {
    case PreprocessOutput::kUint8: static_cast<uint8_t*>(args.dst)[d] = round_to_uint8(sum); return;
    case PreprocessOutput::kFloat16:
    case PreprocessOutput::kBFloat16:
    case PreprocessOutput::kFloat32: {
      // torchvision's order: ToTensor divides by 255, Normalize subtracts the mean, then divides by the std.
      const float value = div_rn(add_rn(div_rn(sum, 255.0f), -args.mean[c]), args.std[c]);
      const StorageType storage = args.output == PreprocessOutput::kFloat16    ? StorageType::kFloat16
                                  : args.output == PreprocessOutput::kBFloat16 ? StorageType::kBFloat16
                                                                               : StorageType::kFloat32;
      store(args.dst, storage, d, value);
      return;
    }
  }
}

}  // namespace cuda
}  // namespace resnet
