// The emulator's cuRAND stand-in against the real libcurand: its host
// generator (curandCreateGeneratorHost) runs on the CPU without a GPU. The
// real library is loaded with dlopen, so its C symbols never meet the
// stand-in's, which have C++ linkage. Uniforms must agree bit for bit; normals
// (sin/cos/log of the host library vs ours) to a few float ulps.
#define BOOST_TEST_MODULE simt_curand
#define BOOST_TEST_NO_MAIN
#include <boost/test/unit_test.hpp>
#include <curand.h>
#include <dlfcn.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

#include "kernels/cuda_check.h"

namespace {

// The real API, as its documentation declares it (handles are opaque pointers, status 0 is success).
struct RealCurand {
  void* lib = nullptr;
  int (*create_host)(void**, int) = nullptr;
  int (*destroy)(void*) = nullptr;
  int (*seed)(void*, unsigned long long) = nullptr;
  int (*offset)(void*, unsigned long long) = nullptr;
  int (*uniform)(void*, float*, size_t) = nullptr;
  int (*normal)(void*, float*, size_t, float, float) = nullptr;

  bool load() {
    lib = dlopen(DIFFERNET_REAL_CURAND, RTLD_NOW | RTLD_LOCAL);
    if (!lib) return false;
    create_host = reinterpret_cast<decltype(create_host)>(dlsym(lib, "curandCreateGeneratorHost"));
    destroy = reinterpret_cast<decltype(destroy)>(dlsym(lib, "curandDestroyGenerator"));
    seed = reinterpret_cast<decltype(seed)>(dlsym(lib, "curandSetPseudoRandomGeneratorSeed"));
    offset = reinterpret_cast<decltype(offset)>(dlsym(lib, "curandSetGeneratorOffset"));
    uniform = reinterpret_cast<decltype(uniform)>(dlsym(lib, "curandGenerateUniform"));
    normal = reinterpret_cast<decltype(normal)>(dlsym(lib, "curandGenerateNormal"));
    return create_host && destroy && seed && offset && uniform && normal;
  }
};
RealCurand g_real;

constexpr int kPhilox = 161;  // CURAND_RNG_PSEUDO_PHILOX4_32_10

std::vector<float> real_values(bool normal, unsigned long long seed, unsigned long long offset, size_t n) {
  void* gen = nullptr;
  BOOST_REQUIRE_EQUAL(g_real.create_host(&gen, kPhilox), 0);
  BOOST_REQUIRE_EQUAL(g_real.seed(gen, seed), 0);
  BOOST_REQUIRE_EQUAL(g_real.offset(gen, offset), 0);
  std::vector<float> out(n);
  BOOST_REQUIRE_EQUAL(normal ? g_real.normal(gen, out.data(), n, 0.5f, 2.f) : g_real.uniform(gen, out.data(), n), 0);
  g_real.destroy(gen);
  return out;
}

std::vector<float> standin_values(bool normal, unsigned long long seed, unsigned long long offset, size_t n) {
  curandGenerator_t gen;
  CURAND_CHECK(curandCreateGenerator(&gen, CURAND_RNG_PSEUDO_PHILOX4_32_10));
  CURAND_CHECK(curandSetPseudoRandomGeneratorSeed(gen, seed));
  CURAND_CHECK(curandSetGeneratorOffset(gen, offset));
  float* d = nullptr;
  CUDA_CHECK(cudaMalloc(&d, n * sizeof(float)));
  if (normal) CURAND_CHECK(curandGenerateNormal(gen, d, n, 0.5f, 2.f));
  else CURAND_CHECK(curandGenerateUniform(gen, d, n));
  std::vector<float> out(n);
  CUDA_CHECK(cudaMemcpy(out.data(), d, n * sizeof(float), cudaMemcpyDeviceToHost));
  CUDA_CHECK(cudaFree(d));
  curandDestroyGenerator(gen);
  return out;
}

const unsigned long long kSeeds[] = {0ull, 1ull, 42ull, 0xDEADBEEFCAFE1234ull};
// Offsets inside a Philox block, across the 65536 interleaved subsequences, and far.
const unsigned long long kOffsets[] = {0ull, 1ull, 3ull, 6ull, 65536ull * 4 + 5, 123456789ull};

}  // namespace

BOOST_AUTO_TEST_CASE(uniforms_are_bit_exact) {
  for (unsigned long long seed : kSeeds)
    for (unsigned long long offset : kOffsets)
      BOOST_TEST_CONTEXT("seed " << seed << ", offset " << offset) {
        const size_t n = 300000;  // more than 65536 * 4: crosses into the next element of every subsequence
        const std::vector<float> real = real_values(false, seed, offset, n), ours = standin_values(false, seed, offset, n);
        size_t mismatches = 0, first = n;
        for (size_t i = 0; i < n; ++i)
          if (std::memcmp(&real[i], &ours[i], sizeof(float)) != 0 && mismatches++ == 0) first = i;
        BOOST_CHECK_EQUAL(mismatches, 0u);
        if (first < n) BOOST_TEST_MESSAGE("first mismatch at " << first << ": " << real[first] << " vs " << ours[first]);
      }
}

BOOST_AUTO_TEST_CASE(normals_agree_to_float_rounding) {
  for (unsigned long long seed : kSeeds)
    for (unsigned long long offset : {0ull, 2ull, 65536ull * 4 + 6})
      BOOST_TEST_CONTEXT("seed " << seed << ", offset " << offset) {
        const size_t n = 20000;
        const std::vector<float> real = real_values(true, seed, offset, n), ours = standin_values(true, seed, offset, n);
        double worst = 0;
        for (size_t i = 0; i < n; ++i) worst = std::max(worst, double(std::abs(real[i] - ours[i])));
        BOOST_CHECK_LE(worst, 1e-5);
      }
}

int main(int argc, char* argv[]) {
  if (!g_real.load()) {
    std::printf("SKIPPED: the real libcurand (%s) cannot be loaded: %s\n", DIFFERNET_REAL_CURAND, dlerror());
    return 77;
  }
  return boost::unit_test::unit_test_main(&init_unit_test, argc, argv);
}
