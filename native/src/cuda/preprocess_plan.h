// The host half of the GPU preprocessing: for each decoded image, torchvision's resize size (shorter side to
// resize_size), its centre-crop offsets, and PyTorch's antialiased bilinear windows and weights for exactly the
// rows and columns the crop keeps, all as tables the kernel (preprocess_math.h) reads. Computed in float64 and
// stored as float, so that planning is tested apart from launching (test/gpu/gpu-resize.test.ts compares the
// weights with a float64 reference written from the formula).
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "cuda/preprocess_args.h"
#include "status.h"

namespace resnet {
namespace cuda {

/// What the model wants: torchvision's ImageClassification fields (bilinear interpolation only), and the layout
/// and element type of the input it is fed.
struct PreprocessOptions {
  int64_t resize_size = 256;
  int64_t crop_size = 224;
  float mean[3] = {0.485f, 0.456f, 0.406f};
  float std[3] = {0.229f, 0.224f, 0.225f};
  PreprocessLayout layout = PreprocessLayout::kNchw;
  PreprocessOutput output = PreprocessOutput::kFloat32;
};

/// torchvision's Resize(size) of an image `height` × `width`: the shorter side becomes `size`, the longer
/// int(size · long / short) (computed in float64 as Python does). {height, width}.
std::pair<int64_t, int64_t> resized_size(int64_t height, int64_t width, int64_t size);

/// The first kept index of F.center_crop along an axis of `length`: int(round((length − crop) / 2)) with
/// Python's round (half to even); negative when the crop is larger, minus the zero padding put before the
/// image ((crop − length) // 2).
int64_t center_crop_offset(int64_t length, int64_t crop);

/// PyTorch's antialiased bilinear taps for resizing `in_size` to `out_size` (align_corners=False, no explicit
/// scale): for output index i, scale = in/out, support = max(scale, 1), center = scale·(i + 0.5), window
/// [max(int(center − support + 0.5), 0), min(int(center + support + 0.5), in)), weights
/// max(0, 1 − |(j − center + 0.5) / max(scale, 1)|) normalised to sum 1. Appends one window per index of
/// [first, first + count) to `windows` and their weights to `weights`; an index outside [0, out_size) gets an
/// empty window (crop padding).
void antialias_windows(int64_t in_size, int64_t out_size, int64_t first, int64_t count,
                       std::vector<PreprocessWindow>& windows, std::vector<float>& weights);

/// One decoded image to preprocess: RGB interleaved, `pitch` bytes a row, at `offset` in the source buffer.
struct PreprocessSource {
  int64_t width = 0, height = 0;
  int64_t offset = 0, pitch = 0;
  int32_t output_index = 0;
};

/// The tables of one batch.
struct PreprocessPlan {
  PreprocessOptions options;
  int64_t dst_images = 0;
  std::vector<PreprocessImage> images;
  std::vector<PreprocessWindow> rows, cols;
  std::vector<float> weights;
};

/// The plan for `sources` into an output of `dst_images` images. ERR_INVALID_ARGUMENT for sizes out of range
/// (non-positive, or past 2^31 − 1), a crop or resize size below 1, std not positive, an output index outside
/// [0, dst_images) or used twice.
Result<PreprocessPlan> plan_preprocess(const std::vector<PreprocessSource>& sources, const PreprocessOptions& options,
                                       int64_t dst_images);

/// Bytes of one output image in the plan's element type: 3 · crop² · element size.
int64_t output_image_bytes(const PreprocessOptions& options);

/// The kernel's arguments over the plan's own (host) tables, reading `src` and writing `dst`.
PreprocessArgs preprocess_args(const PreprocessPlan& plan, const uint8_t* src, int64_t src_bytes, void* dst);

/// Where each table goes when the plan is uploaded as one block (each part 16-byte aligned).
struct PreprocessTableLayout {
  size_t images = 0, rows = 0, cols = 0, weights = 0, bytes = 0;
};
PreprocessTableLayout preprocess_table_layout(const PreprocessPlan& plan);

/// Copies the tables into `block` (layout.bytes long) at the layout's offsets.
void write_preprocess_tables(const PreprocessPlan& plan, const PreprocessTableLayout& layout, uint8_t* block);

/// preprocess_args() with the tables at `device_block` (a copy of write_preprocess_tables' block).
PreprocessArgs preprocess_args_at(const PreprocessPlan& plan, const PreprocessTableLayout& layout,
                                  const uint8_t* device_block, const uint8_t* src, int64_t src_bytes, void* dst);

}  // namespace cuda
}  // namespace resnet
