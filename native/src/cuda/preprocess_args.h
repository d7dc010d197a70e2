// The arguments of the GPU preprocessing kernel (decoded RGB images → resized, centre-cropped, normalised model
// input), kept free of CUDA headers like kernel_args.h: the launcher (kernels.h: launch_preprocess) and the
// host emulation (kernel_host.h: preprocess_host) take the same struct, and preprocess_plan.h builds it. The
// kernel is a pure function of these tables: every separable weight, window and offset is computed on the host.
#pragma once

#include <cstdint>

#include "status.h"

namespace resnet {
namespace cuda {

/// The model input's layout: NCHW (what the network takes), or NHWC (what the engine's uint8 input takes).
enum class PreprocessLayout { kNchw, kNhwc };

/// The element type written: float32, float16 or bfloat16 normalised ((x / 255 − mean) / std), or uint8 pixels
/// (rounded, clamped, not normalised: the engine's input conversion normalises them itself).
enum class PreprocessOutput { kFloat32, kFloat16, kBFloat16, kUint8 };

/// One output coordinate's taps along one axis: `count` source pixels from `start`, their weights at
/// `weights` in the weight table. An empty window (count 0) is crop padding: the value there is 0 before
/// normalisation, as torchvision pads a crop larger than the image with zeros.
struct PreprocessWindow {
  int32_t start = 0;
  int32_t count = 0;
  int32_t weights = 0;
};

/// One decoded image: interleaved RGB bytes at `src_offset` of the source buffer, `src_pitch` bytes a row, and
/// the image of the output tensor it fills.
struct PreprocessImage {
  int64_t src_offset = 0;
  int64_t src_pitch = 0;
  int32_t src_width = 0;
  int32_t src_height = 0;
  int32_t output_index = 0;
};

/// Writes `count` images of crop × crop × 3 elements into `dst` (an output of `dst_images` images). Image e's
/// row y uses rows[e·crop + y], its column x cols[e·crop + x].
struct PreprocessArgs {
  const uint8_t* src = nullptr;
  int64_t src_bytes = 0;
  const PreprocessImage* images = nullptr;
  int64_t count = 0;
  const PreprocessWindow* rows = nullptr;
  const PreprocessWindow* cols = nullptr;
  const float* weights = nullptr;
  int64_t weight_count = 0;
  int64_t crop = 0;
  void* dst = nullptr;
  int64_t dst_images = 0;
  PreprocessLayout layout = PreprocessLayout::kNchw;
  PreprocessOutput output = PreprocessOutput::kFloat32;
  float mean[3] = {0, 0, 0};
  float std[3] = {1, 1, 1};
};

/// Elements the kernel writes: count · 3 · crop².
int64_t element_count(const PreprocessArgs& args);

/// The scalar checks a launcher can make on device pointers: sizes in range, pointers present, std > 0.
Status validate_preprocess_shape(const PreprocessArgs& args);

/// validate_preprocess_shape plus every table entry (each window inside its image, each weight offset inside
/// the weight table, each image inside the source buffer, each output index inside dst). Reads the tables:
/// host pointers only (the host emulation, and the decoder's plan before it is uploaded).
Status validate_preprocess_tables(const PreprocessArgs& args);

}  // namespace cuda
}  // namespace resnet
