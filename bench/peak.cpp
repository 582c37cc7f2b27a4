// The loops of bench/peak.h, and the cpu_peak benchmark that prints them.
#include "bench/peak.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <vector>

#include "bench/bench.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define DIFFERNET_PEAK_X86 1
#else
#define DIFFERNET_PEAK_X86 0
#endif

namespace differnet::bench {
namespace {

constexpr int kChains = 16;  // independent FMA chains: > latency (4) x FMA pipes (2) on current cores

// Each returns a sum of its accumulators so the compiler keeps the loop.
#if DIFFERNET_PEAK_X86
__attribute__((target("avx512f"))) float fma_loop_avx512(int64_t iters) {
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

__attribute__((target("avx2,fma"))) float fma_loop_avx2(int64_t iters) {
  __m256 acc[kChains];
  for (int j = 0; j < kChains; ++j) acc[j] = _mm256_set1_ps(float(j));
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-6f);
  for (int64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 16
    for (int j = 0; j < kChains; ++j) acc[j] = _mm256_fmadd_ps(acc[j], a, b);
  }
  float out[8];
  for (int j = 1; j < kChains; ++j) acc[0] = _mm256_add_ps(acc[0], acc[j]);
  _mm256_storeu_ps(out, acc[0]);
  return out[0] + out[1] + out[2] + out[3] + out[4] + out[5] + out[6] + out[7];
}
#endif

// Portable fallback: 4-wide multiply and add (what the compiler makes of it).
float fma_loop_scalar(int64_t iters) {
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

struct FmaLoop {
  const char* isa;
  int width;  // floats per vector
  float (*run)(int64_t);
};

FmaLoop best_fma_loop() {
#if DIFFERNET_PEAK_X86
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return {"avx512", 16, &fma_loop_avx512};
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return {"avx2", 8, &fma_loop_avx2};
#endif
  return {"sse", 4, &fma_loop_scalar};
}

template <class F>
double best_seconds(int tries, F&& fn) {
  double best = 1e30;
  for (int t = 0; t < tries; ++t) {
    const auto start = std::chrono::steady_clock::now();
    fn();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return best;
}

volatile float g_sink;  // keeps the loops' results alive

}  // namespace

CpuPeaks measure_cpu_peaks() {
  const FmaLoop loop = best_fma_loop();
  CpuPeaks peaks;
  peaks.isa = loop.isa;
  peaks.threads = omp_get_max_threads();
  const int64_t iters = 1 << 21;  // ~2 GFLOP-ish per thread with AVX-512: ~10 ms
  const double flops_per_thread = double(iters) * kChains * loop.width * 2.0;
  loop.run(iters / 8);  // wake the core up (clock ramp) before timing
  peaks.fma_gflops_core = flops_per_thread / best_seconds(5, [&] { g_sink = loop.run(iters); }) / 1e9;
  const double all = best_seconds(5, [&] {
#pragma omp parallel
    {
      const float r = loop.run(iters);
      if (omp_get_thread_num() == 0) g_sink = r;
    }
  });
  peaks.fma_gflops_all = flops_per_thread * peaks.threads / all / 1e9;

  const int64_t n = int64_t(16) << 20;  // two arrays of 64 MiB
  std::vector<float> a(size_t(n), 1.0f), b(size_t(n), 0.5f);
  float* pa = a.data();
  const float* pb = b.data();
  const double seconds = best_seconds(5, [&] {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) pa[i] = pa[i] * 0.5f + pb[i];
  });
  peaks.stream_gb_per_s = 12.0 * double(n) / seconds / 1e9;
  return peaks;
}

// The peaks themselves, the best of the repeats (each a full measurement;
// median_ms is how long one took).
DIFFERNET_BENCHMARK(cpu_peak) {
  if (state.device() != Device::CPU) return;  // a CPU figure: no row on other devices
  CpuPeaks peaks;
  state.measure([&] {
    const CpuPeaks p = measure_cpu_peaks();
    peaks.isa = p.isa;
    peaks.threads = p.threads;
    peaks.fma_gflops_core = std::max(peaks.fma_gflops_core, p.fma_gflops_core);
    peaks.fma_gflops_all = std::max(peaks.fma_gflops_all, p.fma_gflops_all);
    peaks.stream_gb_per_s = std::max(peaks.stream_gb_per_s, p.stream_gb_per_s);
  });
  state.set("isa", peaks.isa);
  state.set("threads", double(peaks.threads));
  state.set("fma_gflop_per_s_core", peaks.fma_gflops_core);
  state.set("fma_gflop_per_s_all", peaks.fma_gflops_all);
  state.set("stream_gb_per_s", peaks.stream_gb_per_s);
}

}  // namespace differnet::bench
