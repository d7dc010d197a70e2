#include "cuda/preprocess_plan.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>

namespace resnet {
namespace cuda {
namespace {

constexpr int64_t kSizeLimit = (int64_t{1} << 31) - 1;

Status invalid(const std::string& what) { return Status(Code::kInvalidArgument, cat("preprocess plan: ", what)); }

size_t aligned(size_t offset) { return (offset + 15) / 16 * 16; }

/// The taps of one output index (PyTorch's _compute_indices_min_size_weights_aa for the bilinear filter).
void one_window(int64_t in_size, double scale, int64_t i, std::vector<PreprocessWindow>& windows,
                std::vector<float>& weights) {
  const double support = scale >= 1.0 ? scale : 1.0;
  const double inverse = scale >= 1.0 ? 1.0 / scale : 1.0;
  const double center = scale * (static_cast<double>(i) + 0.5);
  // C++'s conversion truncates toward zero, as PyTorch's int64_t cast does.
  const int64_t low = std::max<int64_t>(static_cast<int64_t>(center - support + 0.5), 0);
  const int64_t high = std::min<int64_t>(static_cast<int64_t>(center + support + 0.5), in_size);
  const int64_t taps = std::max<int64_t>(high - low, 0);
  std::vector<double> w(static_cast<size_t>(taps));
  double total = 0.0;
  for (int64_t j = 0; j < taps; ++j) {
    const double x = std::fabs((static_cast<double>(j + low) - center + 0.5) * inverse);
    w[static_cast<size_t>(j)] = x < 1.0 ? 1.0 - x : 0.0;
    total += w[static_cast<size_t>(j)];
  }
  PreprocessWindow window;
  window.start = static_cast<int32_t>(low);
  window.count = static_cast<int32_t>(taps);
  window.weights = static_cast<int32_t>(weights.size());
  for (double value : w) weights.push_back(static_cast<float>(total != 0.0 ? value / total : value));
  windows.push_back(window);
}

}  // namespace

std::pair<int64_t, int64_t> resized_size(int64_t height, int64_t width, int64_t size) {
  if (width <= height) {
    return {static_cast<int64_t>(static_cast<double>(size * height) / static_cast<double>(width)), size};
  }
  return {size, static_cast<int64_t>(static_cast<double>(size * width) / static_cast<double>(height))};
}

int64_t center_crop_offset(int64_t length, int64_t crop) {
  if (crop > length) return -((crop - length) / 2);
  const int64_t twice = length - crop;  // round(twice / 2), halves to even
  const int64_t half = twice / 2;
  return (twice % 2 == 1 && half % 2 == 1) ? half + 1 : half;
}

void antialias_windows(int64_t in_size, int64_t out_size, int64_t first, int64_t count,
                       std::vector<PreprocessWindow>& windows, std::vector<float>& weights) {
  const double scale = static_cast<double>(in_size) / static_cast<double>(out_size);
  for (int64_t i = first; i < first + count; ++i) {
    if (i < 0 || i >= out_size) {
      windows.push_back(PreprocessWindow{});
    } else {
      one_window(in_size, scale, i, windows, weights);
    }
  }
}

Result<PreprocessPlan> plan_preprocess(const std::vector<PreprocessSource>& sources, const PreprocessOptions& options,
                                       int64_t dst_images) {
  if (options.resize_size < 1 || options.resize_size > 65536 || options.crop_size < 1 || options.crop_size > 65536) {
    return invalid(
        cat("resize size ", options.resize_size, " and crop size ", options.crop_size, " must be in [1, 65536]"));
  }
  for (int c = 0; c < 3; ++c) {
    if (!(options.std[c] > 0.0f) || !std::isfinite(options.std[c]) || !std::isfinite(options.mean[c])) {
      return invalid(cat("std[", c, "] must be positive and finite and mean[", c, "] finite"));
    }
  }
  if (dst_images < static_cast<int64_t>(sources.size()) || dst_images > kSizeLimit) {
    return invalid(cat("an output of ", dst_images, " images cannot take ", sources.size()));
  }
  PreprocessPlan plan;
  plan.options = options;
  plan.dst_images = dst_images;
  std::set<int32_t> outputs;
  const int64_t crop = options.crop_size;
  for (size_t e = 0; e < sources.size(); ++e) {
    const PreprocessSource& source = sources[e];
    if (source.width < 1 || source.height < 1 || source.width > kSizeLimit || source.height > kSizeLimit ||
        source.offset < 0 || source.pitch < 3 * source.width) {
      return invalid(cat("image ", e, " is ", source.width, "x", source.height, " with pitch ", source.pitch,
                         " at offset ", source.offset));
    }
    if (source.output_index < 0 || source.output_index >= dst_images || !outputs.insert(source.output_index).second) {
      return invalid(cat("image ", e, "'s output index ", source.output_index, " is outside [0, ", dst_images,
                         ") or taken by another image"));
    }
    const auto [height, width] = resized_size(source.height, source.width, options.resize_size);
    antialias_windows(source.height, height, center_crop_offset(height, crop), crop, plan.rows, plan.weights);
    antialias_windows(source.width, width, center_crop_offset(width, crop), crop, plan.cols, plan.weights);
    if (plan.weights.size() > static_cast<size_t>(kSizeLimit)) return invalid("the weight table passes 2^31 entries");
    PreprocessImage image;
    image.src_offset = source.offset;
    image.src_pitch = source.pitch;
    image.src_width = static_cast<int32_t>(source.width);
    image.src_height = static_cast<int32_t>(source.height);
    image.output_index = source.output_index;
    plan.images.push_back(image);
  }
  return plan;
}

int64_t output_image_bytes(const PreprocessOptions& options) {
  const int64_t element = options.output == PreprocessOutput::kFloat32 ? 4
                          : options.output == PreprocessOutput::kUint8 ? 1
                                                                       : 2;
  return 3 * options.crop_size * options.crop_size * element;
}

PreprocessArgs preprocess_args(const PreprocessPlan& plan, const uint8_t* src, int64_t src_bytes, void* dst) {
  PreprocessArgs args;
  args.src = src;
  args.src_bytes = src_bytes;
  args.images = plan.images.data();
  args.count = static_cast<int64_t>(plan.images.size());
  args.rows = plan.rows.data();
  args.cols = plan.cols.data();
  args.weights = plan.weights.data();
  args.weight_count = static_cast<int64_t>(plan.weights.size());
  args.crop = plan.options.crop_size;
  args.dst = dst;
  args.dst_images = plan.dst_images;
  args.layout = plan.options.layout;
  args.output = plan.options.output;
  for (int c = 0; c < 3; ++c) {
    args.mean[c] = plan.options.mean[c];
    args.std[c] = plan.options.std[c];
  }
  return args;
}

PreprocessTableLayout preprocess_table_layout(const PreprocessPlan& plan) {
  PreprocessTableLayout layout;
  layout.images = 0;
  layout.rows = aligned(layout.images + plan.images.size() * sizeof(PreprocessImage));
  layout.cols = aligned(layout.rows + plan.rows.size() * sizeof(PreprocessWindow));
  layout.weights = aligned(layout.cols + plan.cols.size() * sizeof(PreprocessWindow));
  layout.bytes = aligned(layout.weights + plan.weights.size() * sizeof(float));
  return layout;
}

void write_preprocess_tables(const PreprocessPlan& plan, const PreprocessTableLayout& layout, uint8_t* block) {
  std::memset(block, 0, layout.bytes);
  std::memcpy(block + layout.images, plan.images.data(), plan.images.size() * sizeof(PreprocessImage));
  std::memcpy(block + layout.rows, plan.rows.data(), plan.rows.size() * sizeof(PreprocessWindow));
  std::memcpy(block + layout.cols, plan.cols.data(), plan.cols.size() * sizeof(PreprocessWindow));
  std::memcpy(block + layout.weights, plan.weights.data(), plan.weights.size() * sizeof(float));
}

PreprocessArgs preprocess_args_at(const PreprocessPlan& plan, const PreprocessTableLayout& layout,
                                  const uint8_t* device_block, const uint8_t* src, int64_t src_bytes, void* dst) {
  PreprocessArgs args = preprocess_args(plan, src, src_bytes, dst);
  args.images = reinterpret_cast<const PreprocessImage*>(device_block + layout.images);
  args.rows = reinterpret_cast<const PreprocessWindow*>(device_block + layout.rows);
  args.cols = reinterpret_cast<const PreprocessWindow*>(device_block + layout.cols);
  args.weights = reinterpret_cast<const float*>(device_block + layout.weights);
  return args;
}

}  // namespace cuda
}  // namespace resnet
