// FP8 E4M3 (the OCP "E4M3FN" format that Hopper's tensor cores and cuDNN's CUDNN_DATA_FP8_E4M3 read): 1 sign
// bit, 4 exponent bits (bias 7), 3 mantissa bits, no infinities, NaN = S.1111.111, largest finite ±448
// (S.1111.110), smallest normal 2^-6, subnormals m·2^-9. Integer code on both sides (host and device), as
// kernel_math.h's half conversions, so that the weights packed on the host, the boundary kernel on the device
// and its host emulation agree bit for bit.
#pragma once

#include <cstdint>

#include "cuda/float_bits.h"

namespace resnet {
namespace cuda {

/// Largest finite E4M3 value: what a saturating conversion clamps to.
constexpr float kFp8E4M3Max = 448.0f;

/// float → E4M3, round to nearest even, saturating: |x| ≥ 448 (infinities included) → ±448, NaN → 0x7f (the
/// sign of a NaN is not kept, as CUDA's __nv_cvt_float_to_fp8(…, __NV_SATFINITE, __NV_E4M3) gives 0x7f), zero
/// keeps its sign, |x| ≤ 2^-10 (half the smallest subnormal; the tie goes to the even side) → ±0.
RESNET_HD inline uint8_t float_to_e4m3_bits(float value) {
  const uint32_t x = float_bits(value);
  const uint32_t sign = (x >> 24) & 0x80u;
  const uint32_t a = x & 0x7fffffffu;
  if (a > 0x7f800000u) return 0x7fu;
  if (a >= 0x43e00000u) return static_cast<uint8_t>(sign | 0x7eu);  // 448 and above (and inf)
  if (a >= 0x3c800000u) {
    // Normal E4M3 (≥ 2^-6): rebias the exponent (127 → 7) and round away the 20 low mantissa bits; a carry
    // out of the mantissa bumps the exponent, which is exactly the next binade. Below 448 nothing rounds past
    // 0x7e: the largest float under 448 rounds to 448 itself.
    const uint32_t rebased = a - (120u << 23);
    const uint32_t rounded = (rebased + 0x7ffffu + ((rebased >> 20) & 1u)) >> 20;
    return static_cast<uint8_t>(sign | rounded);
  }
  // Subnormal E4M3: the value in units of 2^-9 is mantissa · 2^(exponent − 141) (the float's implicit bit
  // included), rounded to nearest even; 8 units is the smallest normal, code 0x08, which the rounding reaches
  // on its own. Float exponents under 117 are below 2^-10: zero.
  const uint32_t exponent = a >> 23;
  if (exponent < 117u) return static_cast<uint8_t>(sign);
  const uint32_t mantissa = (a & 0x7fffffu) | 0x800000u;
  const uint32_t shift = 141u - exponent;  // 21 … 24
  const uint32_t truncated = mantissa >> shift;
  const uint32_t rest = mantissa & ((1u << shift) - 1u);
  const uint32_t halfway = 1u << (shift - 1u);
  const uint32_t up = rest > halfway || (rest == halfway && (truncated & 1u));
  return static_cast<uint8_t>(sign | (truncated + up));
}

/// E4M3 → float, exactly (0x7f and 0xff are NaN).
RESNET_HD inline float e4m3_bits_to_float(uint8_t code) {
  const uint32_t sign = (static_cast<uint32_t>(code) & 0x80u) << 24;
  const uint32_t exponent = (code >> 3) & 0xfu;
  const uint32_t mantissa = code & 0x7u;
  if (exponent == 0xfu && mantissa == 0x7u) return bits_float(sign | 0x7fc00000u);
  if (exponent != 0) return bits_float(sign | ((exponent + 120u) << 23) | (mantissa << 20));
  if (mantissa == 0) return bits_float(sign);
  // Subnormal: mantissa · 2^-9 = a normal float with the mantissa's leading bit as its implicit one.
  uint32_t shift = 0;
  uint32_t m = mantissa;
  while ((m & 0x4u) == 0) {
    m <<= 1;
    ++shift;
  }
  // m·2^-9 with m = 1.xx · 2^(2 − shift): exponent −7 − shift, the bits below the leading one as fraction.
  return bits_float(sign | ((120u - shift) << 23) | ((m & 0x3u) << 21));
}

}  // namespace cuda
}  // namespace resnet
