// A float's bits and back, the same on the host and the device (memcpy on the host, the intrinsics on the
// device), and RESNET_HD for functions compiled for both: the base of kernel_math.h and fp8_math.h.
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define RESNET_HD __host__ __device__
#else
#define RESNET_HD
#endif

namespace resnet {
namespace cuda {

RESNET_HD inline uint32_t float_bits(float value) {
#ifdef __CUDA_ARCH__
  return __float_as_uint(value);
#else
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  return bits;
#endif
}

RESNET_HD inline float bits_float(uint32_t bits) {
#ifdef __CUDA_ARCH__
  return __uint_as_float(bits);
#else
  float value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
#endif
}

}  // namespace cuda
}  // namespace resnet
