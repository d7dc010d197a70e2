#include "cuda/preprocess_args.h"

#include <cmath>

namespace resnet {
namespace cuda {
namespace {

// Sizes stay below these so that the per-element index math (int64) never overflows.
constexpr int64_t kDimensionLimit = int64_t{1} << 31;
constexpr int64_t kElementLimit = int64_t{1} << 48;

Status invalid(const std::string& what) { return Status(Code::kInvalidArgument, cat("preprocess: ", what)); }

Status check_window(const PreprocessWindow& window, int64_t size, int64_t weight_count, const char* axis, int64_t image,
                    int64_t index) {
  if (window.count == 0) return Status();
  if (window.start < 0 || window.count < 0 || window.start + int64_t{window.count} > size || window.weights < 0 ||
      window.weights + int64_t{window.count} > weight_count) {
    return invalid(cat("image ", image, " ", axis, " ", index, ": window [", window.start, ", +", window.count,
                       ") with weights at ", window.weights, " is outside the image (", size, ") or the weight table (",
                       weight_count, ")"));
  }
  return Status();
}

}  // namespace

int64_t element_count(const PreprocessArgs& args) { return args.count * 3 * args.crop * args.crop; }

Status validate_preprocess_shape(const PreprocessArgs& args) {
  if (args.count < 0 || args.crop < 0 || args.count >= kDimensionLimit || args.crop >= kDimensionLimit ||
      args.dst_images < 0 || args.dst_images >= kDimensionLimit || args.weight_count < 0 || args.src_bytes < 0) {
    return invalid("a size is negative or at least 2^31");
  }
  if (args.count > args.dst_images) {
    return invalid(cat(args.count, " images to write into an output of ", args.dst_images));
  }
  if (args.crop > 0 && args.dst_images > kElementLimit / (3 * args.crop * args.crop)) {
    return invalid("the output is larger than 2^48 elements");
  }
  for (int c = 0; c < 3; ++c) {
    if (!(args.std[c] > 0.0f) || !std::isfinite(args.std[c]) || !std::isfinite(args.mean[c])) {
      return invalid(cat("std[", c, "] must be positive and finite and mean[", c, "] finite"));
    }
  }
  if (element_count(args) == 0) return Status();
  if (!args.src || !args.images || !args.rows || !args.cols || !args.dst || (args.weight_count > 0 && !args.weights)) {
    return invalid("a source, table or destination pointer is null");
  }
  return Status();
}

Status validate_preprocess_tables(const PreprocessArgs& args) {
  RESNET_RETURN_IF_ERROR(validate_preprocess_shape(args));
  if (element_count(args) == 0) return Status();
  for (int64_t e = 0; e < args.count; ++e) {
    const PreprocessImage& image = args.images[e];
    if (image.src_width < 1 || image.src_height < 1 || image.src_offset < 0 ||
        image.src_pitch < 3 * int64_t{image.src_width}) {
      return invalid(cat("image ", e, " is ", image.src_width, "x", image.src_height, " with pitch ", image.src_pitch,
                         " at offset ", image.src_offset));
    }
    const int64_t last_row = image.src_offset + image.src_pitch * (image.src_height - 1);
    if (last_row > args.src_bytes || 3 * int64_t{image.src_width} > args.src_bytes - last_row) {
      return invalid(cat("image ", e, " reaches past the end of the source (", args.src_bytes, " bytes)"));
    }
    if (image.output_index < 0 || image.output_index >= args.dst_images) {
      return invalid(cat("image ", e, " writes output image ", image.output_index, " of ", args.dst_images));
    }
    for (int64_t i = 0; i < args.crop; ++i) {
      RESNET_RETURN_IF_ERROR(
          check_window(args.rows[e * args.crop + i], image.src_height, args.weight_count, "row", e, i));
      RESNET_RETURN_IF_ERROR(
          check_window(args.cols[e * args.crop + i], image.src_width, args.weight_count, "column", e, i));
    }
  }
  return Status();
}

}  // namespace cuda
}  // namespace resnet
