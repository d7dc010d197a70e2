// Adaptive average pooling with PyTorch's windows, for the sizes oneDNN's pooling cannot express (the
// input size not a multiple of the output size): window i covers [floor(i*in/out), ceil((i+1)*in/out)).
// Works on plain NCHW floats; uniform windows go to oneDNN's pooling instead.
#pragma once

#include <cstdint>

namespace resnet {

struct AdaptiveAvgPool {
  int64_t planes = 0;  // N * C
  int64_t in_h = 0, in_w = 0, out_h = 0, out_w = 0;

  /// True when every window has the same size and stride, so a plain pooling primitive computes it.
  static bool uniform(int64_t in_h, int64_t in_w, int64_t out_h, int64_t out_w) {
    return in_h % out_h == 0 && in_w % out_w == 0;
  }

  /// dst[p][i][j] = mean of src[p] over window (i, j); parallel over planes (OpenMP).
  void run(const float* src, float* dst) const;
};

}  // namespace resnet
