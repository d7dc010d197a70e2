#include "cpu/adaptive_pool.h"

namespace resnet {

void AdaptiveAvgPool::run(const float* src, float* dst) const {
#pragma omp parallel for schedule(static)
  for (int64_t p = 0; p < planes; ++p) {
    const float* plane = src + p * in_h * in_w;
    float* out = dst + p * out_h * out_w;
    for (int64_t i = 0; i < out_h; ++i) {
      const int64_t h0 = i * in_h / out_h;
      const int64_t h1 = ((i + 1) * in_h + out_h - 1) / out_h;
      for (int64_t j = 0; j < out_w; ++j) {
        const int64_t w0 = j * in_w / out_w;
        const int64_t w1 = ((j + 1) * in_w + out_w - 1) / out_w;
        float sum = 0.f;
        for (int64_t h = h0; h < h1; ++h) {
          for (int64_t w = w0; w < w1; ++w) sum += plane[h * in_w + w];
        }
        out[i * out_w + j] = sum / static_cast<float>((h1 - h0) * (w1 - w0));
      }
    }
  }
}

}  // namespace resnet
