// The FMA loops of fma_probe.h: one function per instruction set, compiled
// with a target attribute and called only where CPUID allows it.
#include "kernels/fma_probe.h"

#include <algorithm>
#include <chrono>

#include "kernels/sgemm_avx512.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define DIFFERNET_FMA_PROBE_X86 1
#else
#define DIFFERNET_FMA_PROBE_X86 0
#endif

namespace differnet::kernels::cpu {
namespace {

// Independent chains: more than FMA latency (4) x FMA pipes (2) on current
// cores, and few enough to stay in registers with the two constants (32 zmm
// registers with AVX-512, 16 ymm with AVX2).
constexpr int kChains512 = 16, kChains256 = 12;

#if DIFFERNET_FMA_PROBE_X86
// GCC 12's _mm512_reduce_add_ps passes _mm512_undefined_ps() through an
// unused mask operand, which -Wuninitialized reports: nothing is read.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
__attribute__((target("avx512f"))) float loop_avx512(int64_t iters) {
  constexpr int kChains = kChains512;
  __m512 acc[kChains];
  for (int j = 0; j < kChains; ++j) acc[j] = _mm512_set1_ps(float(j));
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-6f);
  for (int64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 16
    for (int j = 0; j < kChains; ++j) acc[j] = _mm512_fmadd_ps(acc[j], a, b);
  }
  for (int j = 1; j < kChains; ++j) acc[0] = _mm512_add_ps(acc[0], acc[j]);
  return _mm512_reduce_add_ps(acc[0]);
}
#pragma GCC diagnostic pop

__attribute__((target("avx2,fma"))) float loop_avx2(int64_t iters) {
  constexpr int kChains = kChains256;
  __m256 acc[kChains];
  for (int j = 0; j < kChains; ++j) acc[j] = _mm256_set1_ps(float(j));
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-6f);
  for (int64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 12
    for (int j = 0; j < kChains; ++j) acc[j] = _mm256_fmadd_ps(acc[j], a, b);
  }
  float out[8];
  for (int j = 1; j < kChains; ++j) acc[0] = _mm256_add_ps(acc[0], acc[j]);
  _mm256_storeu_ps(out, acc[0]);
  return out[0] + out[1] + out[2] + out[3] + out[4] + out[5] + out[6] + out[7];
}
#endif

// Portable: 4-wide multiply and add, whatever the compiler makes of it.
float loop_sse(int64_t iters) {
  constexpr int kChains = kChains256;
  float acc[kChains][4];
  for (int j = 0; j < kChains; ++j)
    for (int l = 0; l < 4; ++l) acc[j][l] = float(j);
  for (int64_t i = 0; i < iters; ++i)
    for (int j = 0; j < kChains; ++j)
      for (int l = 0; l < 4; ++l) acc[j][l] = acc[j][l] * 0.999999f + 1e-6f;
  float s = 0;
  for (int j = 0; j < kChains; ++j)
    for (int l = 0; l < 4; ++l) s += acc[j][l];
  return s;
}

int width(SimdIsa isa) { return isa == SimdIsa::Avx512 ? 16 : isa == SimdIsa::Avx2 ? 8 : 4; }

volatile float g_sink;

// Best FLOP/s of three runs of `iters` iterations.
double best_rate(SimdIsa isa, int64_t iters) {
  double best = 0;
  for (int t = 0; t < 3; ++t) {
    const auto start = std::chrono::steady_clock::now();
    g_sink = fma_loop(isa, iters);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    best = std::max(best, fma_loop_flops(isa, iters) / s);
  }
  return best;
}

}  // namespace

SimdIsa widest_simd() {
#if DIFFERNET_FMA_PROBE_X86
  if (avx512_supported()) return SimdIsa::Avx512;
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return SimdIsa::Avx2;
#endif
  return SimdIsa::Sse;
}

const char* simd_name(SimdIsa isa) { return isa == SimdIsa::Avx512 ? "avx512" : isa == SimdIsa::Avx2 ? "avx2" : "sse"; }

float fma_loop(SimdIsa isa, int64_t iters) {
#if DIFFERNET_FMA_PROBE_X86
  if (isa == SimdIsa::Avx512) return loop_avx512(iters);
  if (isa == SimdIsa::Avx2) return loop_avx2(iters);
#endif
  return loop_sse(iters);
}

double fma_loop_flops(SimdIsa isa, int64_t iters) {
  return double(iters) * (isa == SimdIsa::Avx512 ? kChains512 : kChains256) * width(isa) * 2.0;
}

bool wide_avx512_units() {
  static const bool wide = [] {
    if (widest_simd() != SimdIsa::Avx512) return false;
    const int64_t iters = 1 << 16;  // ~1 ms per run
    best_rate(SimdIsa::Avx512, iters / 4);  // wake the core up (clock ramp)
    const double avx512 = best_rate(SimdIsa::Avx512, iters), avx2 = best_rate(SimdIsa::Avx2, iters);
    return avx512 > 1.4 * avx2;  // twice in theory; Zen 4 measures ~1.0
  }();
  return wide;
}

}  // namespace differnet::kernels::cpu
