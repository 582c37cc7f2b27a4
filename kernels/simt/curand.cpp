// cuRAND stand-in of the SIMT emulator: the Philox4x32-10 generator of the
// cuRAND host API. Output j of a generator with seed s and offset o is word
// (j + o) mod 4 of Philox4x32-10(key = s, counter = (q / 65536, q mod 65536))
// with q = (j + o) / 4: the low 64 bits of the counter hold q / 65536, the high
// 64 bits q mod 65536 (the generator interleaves 65536 subsequences).
// Uniforms are x * 2^-32 + 2^-33 in float, in (0, 1]; normals are Box-Muller
// on consecutive output pairs. tests/simt/test_simt_curand.cpp checks the
// uniforms bit-exact against the real libcurand host generator.
#include <curand.h>

#include <cmath>
#include <cstdint>
#include <string>

#include "kernels/simt/simt.h"

struct curandGenerator_st {
  unsigned long long seed = 0;
  unsigned long long offset = 0;
};

using namespace differnet::simt;

namespace {

// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011).
struct Words {
  uint32_t w[4];
};

Words philox(uint64_t key64, uint64_t counter_lo, uint64_t counter_hi) {
  uint32_t c[4] = {uint32_t(counter_lo), uint32_t(counter_lo >> 32), uint32_t(counter_hi), uint32_t(counter_hi >> 32)};
  uint32_t k[2] = {uint32_t(key64), uint32_t(key64 >> 32)};
  for (int round = 0; round < 10; ++round) {
    const uint64_t p0 = uint64_t(0xD2511F53u) * c[0], p1 = uint64_t(0xCD9E8D57u) * c[2];
    const uint32_t next[4] = {uint32_t(p1 >> 32) ^ c[1] ^ k[0], uint32_t(p1), uint32_t(p0 >> 32) ^ c[3] ^ k[1],
                              uint32_t(p0)};
    for (int i = 0; i < 4; ++i) c[i] = next[i];
    k[0] += 0x9E3779B9u;
    k[1] += 0xBB67AE85u;
  }
  return {{c[0], c[1], c[2], c[3]}};
}

constexpr uint64_t kSubsequences = 65536;

uint32_t output_word(const curandGenerator_st& g, uint64_t j) {
  const uint64_t i = j + g.offset, q = i / 4;
  return philox(g.seed, q / kSubsequences, q % kSubsequences).w[i % 4];
}

constexpr float k2Pow32Inv = 2.3283064e-10f;  // 2^-32 in float, as cuRAND writes it

float uniform(uint32_t x) { return float(x) * k2Pow32Inv + k2Pow32Inv / 2.0f; }

bool device_output(DeviceAccess& access, const char* call, const float* out, size_t n) {
  std::string why;
  if (access.open(out, n * sizeof(float), &why)) return true;
  report(std::string(call) + ": the output of " + std::to_string(n) + " floats " + why);
  return false;
}

}  // namespace

curandStatus_t curandCreateGenerator(curandGenerator_t* generator, curandRngType_t rng_type) {
  if (rng_type != CURAND_RNG_PSEUDO_PHILOX4_32_10) {
    report("curandCreateGenerator: the emulator has the Philox4x32-10 generator only");
    return CURAND_STATUS_TYPE_ERROR;
  }
  *generator = new curandGenerator_st();
  return CURAND_STATUS_SUCCESS;
}

curandStatus_t curandDestroyGenerator(curandGenerator_t generator) {
  if (!generator) return CURAND_STATUS_NOT_INITIALIZED;
  delete generator;
  return CURAND_STATUS_SUCCESS;
}

curandStatus_t curandSetPseudoRandomGeneratorSeed(curandGenerator_t generator, unsigned long long seed) {
  if (!generator) return CURAND_STATUS_NOT_INITIALIZED;
  generator->seed = seed;
  return CURAND_STATUS_SUCCESS;
}

curandStatus_t curandSetGeneratorOffset(curandGenerator_t generator, unsigned long long offset) {
  if (!generator) return CURAND_STATUS_NOT_INITIALIZED;
  generator->offset = offset;
  return CURAND_STATUS_SUCCESS;
}

curandStatus_t curandGenerateUniform(curandGenerator_t generator, float* output, size_t num) {
  if (!generator) return CURAND_STATUS_NOT_INITIALIZED;
  DeviceAccess access;
  if (!device_output(access, "curandGenerateUniform", output, num)) return CURAND_STATUS_LAUNCH_FAILURE;
  for (size_t j = 0; j < num; ++j) output[j] = uniform(output_word(*generator, j));
  generator->offset += num;  // the next call continues the sequence
  return CURAND_STATUS_SUCCESS;
}

curandStatus_t curandGenerateNormal(curandGenerator_t generator, float* output, size_t n, float mean, float stddev) {
  if (!generator) return CURAND_STATUS_NOT_INITIALIZED;
  if (n % 2 != 0) {
    report("curandGenerateNormal: the count must be even, got " + std::to_string(n));
    return CURAND_STATUS_LENGTH_NOT_MULTIPLE;
  }
  DeviceAccess access;
  if (!device_output(access, "curandGenerateNormal", output, n)) return CURAND_STATUS_LAUNCH_FAILURE;
  constexpr float k2Pow32Inv2Pi = 2.3283064e-10f * 6.2831855f;
  for (size_t j = 0; j < n; j += 2) {
    const float u = uniform(output_word(*generator, j));
    const float v = float(output_word(*generator, j + 1)) * k2Pow32Inv2Pi + k2Pow32Inv2Pi / 2.0f;
    const float s = std::sqrt(-2.0f * std::log(u));
    output[j] = std::sin(v) * s * stddev + mean;
    output[j + 1] = std::cos(v) * s * stddev + mean;
  }
  generator->offset += n;
  return CURAND_STATUS_SUCCESS;
}
