// The counter-based random numbers of both devices: element k of a stream is a
// function of (seed, k) only, so the CPU loop and the CUDA kernel fill the same
// tensor with the same values (kernels::cpu/cuda::fill_uniform, fill_normal),
// and `--seed` means the same model on either device.
#pragma once
#include <cstdint>

#include "kernels/elementwise_math.h"

namespace differnet::kernels {

// a * b + c rounded twice, as the host computes it: nvcc would otherwise
// contract it into one fused multiply-add and round once, and the CPU and GPU
// values would differ in the last bit.
DIFFERNET_HD double mul_add_unfused(double a, double b, double c) {
#ifdef __CUDA_ARCH__
  return __dadd_rn(__dmul_rn(a, b), c);
#else
  return a * b + c;
#endif
}

// SplitMix64 finaliser of (seed, counter).
DIFFERNET_HD uint64_t hash_counter(uint64_t seed, uint64_t counter) {
  uint64_t z = seed * 0x9E3779B97F4A7C15ull + counter * 0xD1B54A32D192ED03ull + 0x632BE59BD9B4E019ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Uniform in the open interval (0, 1), 53 random bits (exact in double).
DIFFERNET_HD double uniform01(uint64_t seed, uint64_t counter) {
  return (double(hash_counter(seed, counter) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

// Element `counter` of a uniform stream in (low, high).
DIFFERNET_HD double uniform_value(uint64_t seed, uint64_t counter, double low, double high) {
  return mul_add_unfused(high - low, uniform01(seed, counter), low);
}

// Element `counter` of a normal stream: Box-Muller on the uniforms of counters
// 2k and 2k+1. log and cos may differ from the host's libm in the last bit of
// the double, so a float32 value can (rarely) differ by one ulp between devices.
DIFFERNET_HD double normal_value(uint64_t seed, uint64_t counter, double mean, double std) {
  const double two_pi = 6.283185307179586;
  const double u1 = uniform01(seed, 2 * counter), u2 = uniform01(seed, 2 * counter + 1);
  const double r = DIFFERNET_MATH(sqrt)(-2.0 * DIFFERNET_MATH(log)(u1));
  return mul_add_unfused(std * r, DIFFERNET_MATH(cos)(two_pi * u2), mean);
}

}  // namespace differnet::kernels
