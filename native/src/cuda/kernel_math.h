// The per-element logic of the custom kernels, one function per kernel computing ONE output element from
// its index. Compiled twice: by nvcc for the device (gpu/kernels/*.cu run these in a grid-stride loop) and
// by the host compiler for the emulation (kernel_host.cc runs them in a plain loop), so the tests on the
// CPU check exactly what the device computes. To keep the two bit-identical:
//  - storage conversions are integer code on both sides (no intrinsics: CUDA's canonicalise NaNs);
//  - float arithmetic goes through add_rn/mul_rn/div_rn, which on the device are the _rn intrinsics that
//    nvcc never contracts into an FMA (the host build is ISO C++, -ffp-contract=off), and on the host
//    give the device's NaN pattern;
//  - index math is int64, the summation order is fixed.
// On an H200 every launcher matched this emulation byte for byte (NaNs included), and the conversions of
// all 2^32 floats matched both the host's and the hardware's cvt.rn results (NaNs aside).
// Nothing here includes a CUDA header when the compiler is not nvcc.
#pragma once

#include <cstdint>
#include <cstring>

#include "cuda/float_bits.h"
#include "cuda/fp8_math.h"
#include "cuda/kernel_args.h"

namespace resnet {
namespace cuda {

// ---- rounding-exact float arithmetic (float_bits / bits_float: float_bits.h) -------------------------------

/// True for every NaN, whatever the compiler's floating-point flags.
RESNET_HD inline bool is_nan(float value) { return (float_bits(value) & 0x7fffffffu) > 0x7f800000u; }

/// The GPU's NaN: every float operation on the device that yields NaN yields this pattern, where x86
/// would pass on an operand's payload or give 0xffc00000. The host emulation's arithmetic returns it too,
/// so that even NaN results match the device bit for bit (seen on an H200).
RESNET_HD inline float device_nan_if_nan(float value) { return is_nan(value) ? bits_float(0x7fffffffu) : value; }

RESNET_HD inline float add_rn(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fadd_rn(a, b);
#else
  return device_nan_if_nan(a + b);
#endif
}

RESNET_HD inline float mul_rn(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fmul_rn(a, b);
#else
  return device_nan_if_nan(a * b);
#endif
}

RESNET_HD inline float div_rn(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fdiv_rn(a, b);
#else
  return device_nan_if_nan(a / b);
#endif
}

/// max(value, 0) that lets NaN through, as PyTorch's and oneDNN's ReLU do.
RESNET_HD inline float relu(float value) { return value < 0.0f ? 0.0f : value; }

// ---- storage conversions (bit patterns) ------------------------------------------------------------------

/// float → IEEE half, round to nearest even; overflow (≥ 65520) → ±inf; subnormals kept; NaN stays NaN
/// (its top 10 payload bits kept, or the quiet bit where truncation would leave none, so a half NaN
/// survives half → float → half unchanged).
RESNET_HD inline uint16_t float_to_half_bits(float value) {
  const uint32_t x = float_bits(value);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t a = x & 0x7fffffffu;
  if (a > 0x7f800000u) {
    const uint32_t payload = (a >> 13) & 0x3ffu;
    return static_cast<uint16_t>(sign | 0x7c00u | (payload != 0 ? payload : 0x200u));
  }
  // 65520 is halfway between 65504 (the largest half) and 2^16; the tie goes to the even side, inf.
  if (a >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);
  if (a >= 0x38800000u) {
    // Normal half: rebias the exponent (127 → 15) and round away the 13 low mantissa bits; a carry out of
    // the mantissa correctly bumps the exponent.
    const uint32_t truncated = (a - 0x38000000u) >> 13;
    const uint32_t rest = a & 0x1fffu;
    const uint32_t up = rest > 0x1000u || (rest == 0x1000u && (truncated & 1u));
    return static_cast<uint16_t>(sign | (truncated + up));
  }
  // At most 2^-25, half the smallest subnormal: a tie at 2^-25 goes to the even side, zero.
  if (a <= 0x33000000u) return static_cast<uint16_t>(sign);
  // Subnormal half: the value in units of 2^-24 is mantissa · 2^(exponent − 126), rounded to nearest even.
  // Rounding up from the largest subnormal gives 0x400, the smallest normal, as it should.
  const uint32_t exponent = a >> 23;  // 102..112
  const uint32_t mantissa = (a & 0x7fffffu) | 0x800000u;
  const uint32_t shift = 126u - exponent;  // 14..24
  const uint32_t truncated = mantissa >> shift;
  const uint32_t rest = mantissa & ((1u << shift) - 1u);
  const uint32_t halfway = 1u << (shift - 1u);
  const uint32_t up = rest > halfway || (rest == halfway && (truncated & 1u));
  return static_cast<uint16_t>(sign | (truncated + up));
}

/// IEEE half → float, exactly (NaN payloads kept).
RESNET_HD inline float half_bits_to_float(uint16_t half) {
  const uint32_t sign = (static_cast<uint32_t>(half) & 0x8000u) << 16;
  const uint32_t exponent = (half >> 10) & 0x1fu;
  const uint32_t mantissa = half & 0x3ffu;
  if (exponent == 0) {
    // Zero or subnormal: mantissa · 2^-24, exact in float (a power-of-two scale of an integer < 2^10).
    const float magnitude = mul_rn(static_cast<float>(mantissa), 5.9604644775390625e-8f);
    return bits_float(float_bits(magnitude) | sign);
  }
  if (exponent == 31) return bits_float(sign | 0x7f800000u | (mantissa << 13));
  return bits_float(sign | ((exponent + 112u) << 23) | (mantissa << 13));
}

/// float → bfloat16, round to nearest even (overflow → ±inf by the carry); NaN stays NaN (its top 7
/// payload bits kept, or the quiet bit where none are left).
RESNET_HD inline uint16_t float_to_bfloat16_bits(float value) {
  const uint32_t x = float_bits(value);
  if ((x & 0x7fffffffu) > 0x7f800000u) {
    const uint32_t high = x >> 16;
    return static_cast<uint16_t>((high & 0x7fu) != 0 ? high : (high | 0x40u));
  }
  return static_cast<uint16_t>((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

/// bfloat16 → float, exactly.
RESNET_HD inline float bfloat16_bits_to_float(uint16_t bf16) { return bits_float(static_cast<uint32_t>(bf16) << 16); }

/// Element `index` of a `storage` array, as float.
RESNET_HD inline float load(const void* data, StorageType storage, int64_t index) {
  if (storage == StorageType::kFloat16) return half_bits_to_float(static_cast<const uint16_t*>(data)[index]);
  if (storage == StorageType::kBFloat16) return bfloat16_bits_to_float(static_cast<const uint16_t*>(data)[index]);
  if (storage == StorageType::kFloat8E4M3) return e4m3_bits_to_float(static_cast<const uint8_t*>(data)[index]);
  return static_cast<const float*>(data)[index];
}

/// Writes `value`, rounded to `storage`, as element `index`.
RESNET_HD inline void store(void* data, StorageType storage, int64_t index, float value) {
  if (storage == StorageType::kFloat16) {
    static_cast<uint16_t*>(data)[index] = float_to_half_bits(value);
  } else if (storage == StorageType::kBFloat16) {
    static_cast<uint16_t*>(data)[index] = float_to_bfloat16_bits(value);
  } else if (storage == StorageType::kFloat8E4M3) {
    static_cast<uint8_t*>(data)[index] = float_to_e4m3_bits(value);  // saturating at ±448
  } else {
    static_cast<float*>(data)[index] = value;
  }
}

// ---- one output element per kernel ---------------------------------------------------------------------

/// Element `index` of the run's input, as float: float32, float16 (its bits) or uint8. On the host the input
/// may sit at any byte (a request's bytes where its body put them): loaded with memcpy, not through a typed
/// pointer. The device's input buffer is aligned.
RESNET_HD inline float input_element(const void* src, InputType type, int64_t index) {
  if (type == InputType::kUint8) return static_cast<float>(static_cast<const uint8_t*>(src)[index]);
#ifdef __CUDA_ARCH__
  if (type == InputType::kFloat16) return half_bits_to_float(static_cast<const uint16_t*>(src)[index]);
  return static_cast<const float*>(src)[index];
#else
  const char* bytes = static_cast<const char*>(src);
  if (type == InputType::kFloat16) {
    uint16_t bits;
    std::memcpy(&bits, bytes + index * 2, sizeof bits);
    return half_bits_to_float(bits);
  }
  float value;
  std::memcpy(&value, bytes + index * 4, sizeof value);
  return value;
#endif
}

/// Element `i` of the NHWC destination (the stem form's layout, kernel_args.h): reads the source (NCHW or NHWC;
/// float32, float16 or uint8), zero in padding positions and channels, x · scale then (x − mean[c]) ·
/// inv_std[c] when normalising.
RESNET_HD inline void input_convert_element(const InputConvertArgs& args, int64_t i) {
  const int64_t channel = i % args.stored_channels;
  int64_t rest = i / args.stored_channels;
  const int64_t out_x = rest % args.out_w;
  rest /= args.out_w;
  const int64_t out_y = rest % args.out_h;
  const int64_t b = rest / args.out_h;
  float value = 0.0f;
  if (channel < args.channels * args.block * args.block) {
    const int64_t cell = channel / args.channels;
    const int64_t c = channel % args.channels;
    const int64_t y = out_y * args.block + cell / args.block - args.pad_top;
    const int64_t x = out_x * args.block + cell % args.block - args.pad_left;
    if (y >= 0 && y < args.h && x >= 0 && x < args.w) {
      const int64_t source = args.src_format.layout == InputLayout::kNhwc
                                 ? ((b * args.h + y) * args.w + x) * args.channels + c
                                 : ((b * args.channels + c) * args.h + y) * args.w + x;
      value = mul_rn(input_element(args.src, args.src_format.type, source), args.scale);
      if (args.mean != nullptr) value = mul_rn(add_rn(value, -args.mean[c]), args.inv_std[c]);
    }
  }
  store(args.dst, args.storage, i, value);
}

/// Element `i` of the NCHW float32 destination, read from the NHWC source (padding channels skipped).
RESNET_HD inline void output_convert_element(const OutputConvertArgs& args, int64_t i) {
  const int64_t x = i % args.w;
  int64_t rest = i / args.w;
  const int64_t y = rest % args.h;
  rest /= args.h;
  const int64_t c = rest % args.channels;
  const int64_t b = rest / args.channels;
  args.dst[i] = load(args.src, args.storage, ((b * args.h + y) * args.w + x) * args.stored_channels + c);
}

/// Element `i` of y, in place: [relu]((y + bias[c]) + residual).
RESNET_HD inline void epilogue_element(const EpilogueArgs& args, int64_t i) {
  float value = add_rn(load(args.y, args.storage, i), args.bias[i % args.stored_channels]);
  if (args.residual != nullptr) value = add_rn(value, load(args.residual, args.storage, i));
  if (args.relu) value = relu(value);
  store(args.y, args.storage, i, value);
}

/// Element `i` of dst: [relu](a + b), or [relu](a) without b.
RESNET_HD inline void elementwise_element(const ElementwiseArgs& args, int64_t i) {
  float value = load(args.a, args.storage, i);
  if (args.b != nullptr) value = add_rn(value, load(args.b, args.storage, i));
  if (args.relu) value = relu(value);
  store(args.dst, args.storage, i, value);
}

/// One element across an int8 plan's storage boundary: dst = round(src · scale) in dst's storage (kernel_args.h).
RESNET_HD inline void scale_convert_element(const ScaleConvertArgs& args, int64_t i) {
  store(args.dst, args.dst_storage, i, mul_rn(load(args.src, args.src_storage, i), args.scale));
}

/// The coordinates of element `i` of an NHWC pooling output.
struct PoolPosition {
  int64_t b, oy, ox, c;
};
RESNET_HD inline PoolPosition pool_position(const PoolArgs& args, int64_t i) {
  const int64_t c = i % args.channels;
  int64_t rest = i / args.channels;
  const int64_t ox = rest % args.out_w;
  rest /= args.out_w;
  return PoolPosition{rest / args.out_h, rest % args.out_h, ox, c};
}

/// Element `i` of the NHWC max-pool output. Taps outside the input are skipped (PyTorch's implicit −inf
/// padding; the ceil-mode window that reaches past the input is clipped to it), and a NaN tap wins as in
/// PyTorch's `val > max || isnan(val)`.
RESNET_HD inline void maxpool_element(const PoolArgs& args, int64_t i) {
  const auto [b, oy, ox, c] = pool_position(args, i);
  const int64_t y0 = oy * args.stride.h - args.padding.h;
  const int64_t x0 = ox * args.stride.w - args.padding.w;
  float best = bits_float(0xff800000u);  // −inf
  for (int64_t ky = 0; ky < args.kernel.h; ++ky) {
    const int64_t y = y0 + ky * args.dilation.h;
    if (y < 0 || y >= args.in_h) continue;
    for (int64_t kx = 0; kx < args.kernel.w; ++kx) {
      const int64_t x = x0 + kx * args.dilation.w;
      if (x < 0 || x >= args.in_w) continue;
      const float value = load(args.src, args.storage, ((b * args.in_h + y) * args.in_w + x) * args.channels + c);
      if (value > best || is_nan(value)) best = value;
    }
  }
  store(args.dst, args.storage, i, best);
}

/// Element `i` of the NHWC adaptive-average-pool output: the float sum over PyTorch's window
/// [⌊oy·in/out⌋, ⌈(oy+1)·in/out⌉) (rows, then columns), divided by the window's size.
RESNET_HD inline void adaptive_avgpool_element(const PoolArgs& args, int64_t i) {
  const auto [b, oy, ox, c] = pool_position(args, i);
  const int64_t y0 = oy * args.in_h / args.out_h;
  const int64_t y1 = ((oy + 1) * args.in_h + args.out_h - 1) / args.out_h;
  const int64_t x0 = ox * args.in_w / args.out_w;
  const int64_t x1 = ((ox + 1) * args.in_w + args.out_w - 1) / args.out_w;
  float sum = 0.0f;
  for (int64_t y = y0; y < y1; ++y) {
    for (int64_t x = x0; x < x1; ++x) {
      sum = add_rn(sum, load(args.src, args.storage, ((b * args.in_h + y) * args.in_w + x) * args.channels + c));
    }
  }
  store(args.dst, args.storage, i, div_rn(sum, static_cast<float>((y1 - y0) * (x1 - x0))));
}

}  // namespace cuda
}  // namespace resnet
