#include "cuda/kernel_args.h"

#include <initializer_list>

namespace resnet {
namespace cuda {
namespace {

// Every size and window number stays below this, so that products of a few of them (the per-element
// index math) never leave int64.
constexpr int64_t kDimensionLimit = int64_t{1} << 31;

/// The product of `factors`, or -1 when one is negative or it passes kMaxTensorBytes.
int64_t product(std::initializer_list<int64_t> factors) {
  int64_t result = 1;
  for (int64_t factor : factors) {
    if (factor < 0) return -1;
    if (factor == 0) return 0;
  }
  for (int64_t factor : factors) {
    if (__builtin_mul_overflow(result, factor, &result) || result > kMaxTensorBytes) return -1;
  }
  return result;
}

Status invalid(const char* kernel, const std::string& what) {
  return Status(Code::kInvalidArgument, cat(kernel, ": ", what));
}

Status check_dimensions(const char* kernel, std::initializer_list<int64_t> dims) {
  for (int64_t dim : dims) {
    if (dim < 0 || dim >= kDimensionLimit) {
      return invalid(kernel, cat("a size of ", dim, " is outside [0, 2^31)"));
    }
  }
  if (product(dims) < 0) return invalid(kernel, "the tensor is larger than 2^48 elements");
  return Status();
}

Status check_pointers(const char* kernel, std::initializer_list<const void*> pointers) {
  for (const void* pointer : pointers) {
    if (pointer == nullptr) return invalid(kernel, "a source, destination or bias pointer is null");
  }
  return Status();
}

Status check_window(const PoolArgs& args) {
  const Pair* pairs[] = {&args.kernel, &args.stride, &args.dilation};
  for (const Pair* pair : pairs) {
    if (pair->h < 1 || pair->w < 1 || pair->h >= kDimensionLimit || pair->w >= kDimensionLimit) {
      return invalid("maxpool",
                     cat("kernel, stride and dilation must be in [1, 2^31), got [", pair->h, ", ", pair->w, "]"));
    }
  }
  // PyTorch's rule, which keeps every window partly inside the input.
  if (args.padding.h < 0 || args.padding.w < 0 || args.padding.h > args.kernel.h / 2 ||
      args.padding.w > args.kernel.w / 2) {
    return invalid("maxpool", cat("padding must be in [0, kernel / 2], got [", args.padding.h, ", ", args.padding.w,
                                  "] for kernel [", args.kernel.h, ", ", args.kernel.w, "]"));
  }
  return Status();
}

/// Whether `out` is the floor- or the ceil-mode output size of the window over `size`.
bool is_window_output_size(int64_t out, int64_t size, int64_t kernel, int64_t stride, int64_t padding,
                           int64_t dilation) {
  return out == window_output_size(size, kernel, stride, padding, dilation, false) ||
         out == window_output_size(size, kernel, stride, padding, dilation, true);
}

}  // namespace

int64_t element_count(const InputConvertArgs& args) {
  return product({args.n, args.out_h, args.out_w, args.stored_channels});
}
int64_t element_count(const OutputConvertArgs& args) { return product({args.n, args.channels, args.h, args.w}); }
int64_t element_count(const EpilogueArgs& args) { return args.count; }
int64_t element_count(const ElementwiseArgs& args) { return args.count; }
int64_t element_count(const PoolArgs& args) { return product({args.n, args.out_h, args.out_w, args.channels}); }

Status validate_args(const InputConvertArgs& args) {
  RESNET_RETURN_IF_ERROR(check_dimensions("input conversion", {args.n, args.channels, args.h, args.w}));
  RESNET_RETURN_IF_ERROR(check_dimensions("input conversion", {args.n, args.out_h, args.out_w, args.stored_channels}));
  // A space-to-depth cell of at most 16×16 pixels, padding within the int32 range the sizes live in.
  if (args.block < 1 || args.block > 16 || args.pad_top < 0 || args.pad_left < 0 || args.pad_top >= kDimensionLimit ||
      args.pad_left >= kDimensionLimit) {
    return invalid("input conversion", cat("block ", args.block, " must be in [1, 16] and padding [", args.pad_top,
                                           ", ", args.pad_left, "] in [0, 2^31)"));
  }
  if (args.stored_channels < args.channels * args.block * args.block) {
    return invalid("input conversion", cat("stored channels (", args.stored_channels, ") fewer than channels (",
                                           args.channels, ") times the cell's ", args.block * args.block, " pixels"));
  }
  if ((args.mean == nullptr) != (args.inv_std == nullptr)) {
    return invalid("input conversion", "mean and inv_std must be given together");
  }
  if (element_count(args) == 0) return Status();
  RESNET_RETURN_IF_ERROR(check_pointers("input conversion", {args.dst}));
  // With no real channels every element is padding and the source is never read.
  return args.channels > 0 ? check_pointers("input conversion", {args.src}) : Status();
}

Status validate_args(const OutputConvertArgs& args) {
  RESNET_RETURN_IF_ERROR(
      check_dimensions("output conversion", {args.n, args.channels, args.h, args.w, args.stored_channels}));
  if (args.stored_channels < args.channels) {
    return invalid("output conversion",
                   cat("stored channels (", args.stored_channels, ") fewer than channels (", args.channels, ")"));
  }
  if (element_count(args) == 0) return Status();
  return check_pointers("output conversion", {args.src, args.dst});
}

Status validate_args(const EpilogueArgs& args) {
  if (args.count < 0 || args.count > kMaxTensorBytes) {
    return invalid("epilogue", cat("count ", args.count, " is out of range"));
  }
  if (args.stored_channels < 1 || args.stored_channels >= kDimensionLimit || args.count % args.stored_channels != 0) {
    return invalid("epilogue",
                   cat("count ", args.count, " is not a multiple of stored channels ", args.stored_channels));
  }
  if (args.count == 0) return Status();
  return check_pointers("epilogue", {args.y, args.bias});
}

Status validate_args(const ElementwiseArgs& args) {
  if (args.count < 0 || args.count > kMaxTensorBytes) {
    return invalid("elementwise", cat("count ", args.count, " is out of range"));
  }
  if (args.count == 0) return Status();
  return check_pointers("elementwise", {args.a, args.dst});
}

int64_t element_count(const ScaleConvertArgs& args) { return args.count; }

Status validate_args(const ScaleConvertArgs& args) {
  if (args.count < 0 || args.count > kMaxTensorBytes) {
    return invalid("scale conversion", cat("count ", args.count, " is out of range"));
  }
  // A finite positive scale: 0, a negative or a non-finite one would turn every value into 0, NaN or ±448.
  if (!(args.scale > 0.0f && args.scale < 3.0e38f)) {
    return invalid("scale conversion", cat("scale ", args.scale, " must be positive and finite"));
  }
  if (args.count == 0) return Status();
  return check_pointers("scale conversion", {args.src, args.dst});
}

Status validate_maxpool_args(const PoolArgs& args) {
  RESNET_RETURN_IF_ERROR(check_dimensions("maxpool", {args.n, args.channels, args.in_h, args.in_w}));
  RESNET_RETURN_IF_ERROR(check_dimensions("maxpool", {args.n, args.channels, args.out_h, args.out_w}));
  RESNET_RETURN_IF_ERROR(check_window(args));
  if (element_count(args) == 0) return Status();
  const bool rows =
      is_window_output_size(args.out_h, args.in_h, args.kernel.h, args.stride.h, args.padding.h, args.dilation.h);
  const bool columns =
      is_window_output_size(args.out_w, args.in_w, args.kernel.w, args.stride.w, args.padding.w, args.dilation.w);
  if (!rows || !columns) {
    return invalid("maxpool", cat("output [", args.out_h, ", ", args.out_w,
                                  "] is not what the window gives for input [", args.in_h, ", ", args.in_w, "]"));
  }
  return check_pointers("maxpool", {args.src, args.dst});
}

Status validate_adaptive_avgpool_args(const PoolArgs& args) {
  RESNET_RETURN_IF_ERROR(check_dimensions("adaptive avgpool", {args.n, args.channels, args.in_h, args.in_w}));
  RESNET_RETURN_IF_ERROR(check_dimensions("adaptive avgpool", {args.n, args.channels, args.out_h, args.out_w}));
  if (element_count(args) == 0) return Status();
  if (args.in_h < 1 || args.in_w < 1) {
    return invalid("adaptive avgpool", cat("input [", args.in_h, ", ", args.in_w, "] is empty"));
  }
  return check_pointers("adaptive avgpool", {args.src, args.dst});
}

}  // namespace cuda
}  // namespace resnet
