// pack_weights(): the graph's float weights in the device's layout and storage type, rounded by the very
// conversions the kernels use for activations (kernel_math.h).
#include <cmath>
#include <cstring>

#include "cuda/cuda_plan.h"
#include "cuda/kernel_math.h"
#include "cuda/plan_stem.h"

namespace resnet {
namespace cuda {
namespace {

// The filter of a conv step, KRSC [k_stored, r, s, c_stored / groups], from the op's OIHW weight. Real
// groups map onto the first stored groups (padding only appends whole groups), so input channel i of a
// group keeps its index within the group; everything else (padded rows, columns, groups) stays zero.
void pack_conv_filter(const Op& op, const Step& step, int64_t in_channels, int64_t in_stored, StorageType storage,
                      uint8_t* filter) {
  const int64_t r = step.kernel.h, s = step.kernel.w;
  const int64_t in_per_group = in_channels / op.groups;
  const int64_t stored_per_group = in_stored / step.groups;
  for (int64_t o = 0; o < op.out_channels; ++o) {
    for (int64_t y = 0; y < r; ++y) {
      for (int64_t x = 0; x < s; ++x) {
        for (int64_t i = 0; i < in_per_group; ++i) {
          const float w = op.weight[static_cast<size_t>(((o * in_per_group + i) * r + y) * s + x)];
          store(filter, storage, ((o * r + y) * s + x) * stored_per_group + i, w);
        }
      }
    }
  }
}

// A linear layer's [O, C·H·W] weight (columns in the flatten's C, H, W order) as the KRSC filter of the
// full-window conv over the NHWC source: element (o, y, x, c) = weight[o][(c·H + y)·W + x].
void pack_linear_filter(const Op& op, const DeviceValue& source, StorageType storage, uint8_t* filter) {
  const int64_t h = source.h, w = source.w, c = source.channels, stored = source.stored_channels;
  const int64_t in_features = c * h * w;
  for (int64_t o = 0; o < op.out_channels; ++o) {
    for (int64_t y = 0; y < h; ++y) {
      for (int64_t x = 0; x < w; ++x) {
        for (int64_t i = 0; i < c; ++i) {
          const float value = op.weight[static_cast<size_t>(o * in_features + (i * h + y) * w + x)];
          store(filter, storage, ((o * h + y) * w + x) * stored + i, value);
        }
      }
    }
  }
}

// An FP8 conv's entries (plan_fp8.h): the filter as E4M3 codes of the weights' integers q = weight / w[o] (on
// the grid already: the rounding only removes float32's error in weight = w[o]·q), β = bias / d, α = s8x·w / d,
// and γ. Padded output channels keep zeros everywhere.
void pack_fp8_conv(const Op& op, const Step& step, const DeviceValue& source, uint8_t* blob) {
  const int64_t r = step.kernel.h, s = step.kernel.w, c = source.channels, stored = source.stored_channels;
  uint8_t* filter = blob + step.filter_offset;
  float* beta = reinterpret_cast<float*>(blob + step.bias_offset);
  float* alpha = reinterpret_cast<float*>(blob + step.scale_offset);
  for (int64_t o = 0; o < op.out_channels; ++o) {
    const float scale = op.weight_scales[static_cast<size_t>(o)];
    for (int64_t y = 0; y < r; ++y) {
      for (int64_t x = 0; x < s; ++x) {
        for (int64_t i = 0; i < c; ++i) {
          const float w = op.weight[static_cast<size_t>(((o * c + i) * r + y) * s + x)];
          filter[((o * r + y) * s + x) * stored + i] = float_to_e4m3_bits(std::nearbyint(w / scale));
        }
      }
    }
    beta[o] = op.bias[static_cast<size_t>(o)] / step.fp8_divisor;
    alpha[o] = source.fp8_scale * scale / step.fp8_divisor;
  }
  if (step.output_scale_bytes > 0) std::memcpy(blob + step.output_scale_offset, &step.output_scale, sizeof(float));
}

}  // namespace

void pack_weights(const Graph& graph, const CudaPlan& plan, uint8_t* blob) {
  for (size_t index = 0; index < plan.steps.size(); ++index) {
    const Step& step = plan.steps[index];
    if (step.kind != StepKind::kConv) continue;
    const Op& op = graph.ops[static_cast<size_t>(step.op_index)];
    const DeviceValue& source = plan.values[static_cast<size_t>(step.src)];
    uint8_t* filter = blob + step.filter_offset;
    if (step.fp8) {
      pack_fp8_conv(op, step, source, blob);
      continue;
    }
    if (static_cast<int>(index) == plan.stem.step) {
      // Every form's filter, wherever the plan is laid out for: the blob is one for all of them.
      const int64_t in_channels = graph.values[static_cast<size_t>(graph.input)][0];
      for (const StemOption& option : plan.stem.forms) {
        pack_stem_filter(op, option, in_channels, plan.storage, blob + option.filter_offset);
      }
    } else if (op.kind == OpKind::kLinear) {
      pack_linear_filter(op, source, plan.storage, filter);
    } else {
      pack_conv_filter(op, step, source.channels, source.stored_channels, plan.storage, filter);
    }
    // Padded output channels keep the caller's zeros: with zero filter rows they come out zero.
    std::memcpy(blob + step.bias_offset, op.bias.data(), op.bias.size() * sizeof(float));
  }
}

}  // namespace cuda
}  // namespace resnet
