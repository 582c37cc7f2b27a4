// The measurements of bench/peak.h, and the cpu_peak benchmark that prints them.
#include "bench/peak.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <vector>

#include "bench/bench.h"
#include "kernels/fma_probe.h"

namespace differnet::bench {
namespace {

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
  using kernels::cpu::fma_loop;
  const kernels::cpu::SimdIsa isa = kernels::cpu::widest_simd();
  CpuPeaks peaks;
  peaks.isa = kernels::cpu::simd_name(isa);
  peaks.threads = omp_get_max_threads();
  const int64_t iters = 1 << 21;  // ~1 GFLOP per thread with AVX-512: ~10 ms
  const double flops_per_thread = kernels::cpu::fma_loop_flops(isa, iters);
  g_sink = fma_loop(isa, iters / 8);  // wake the core up (clock ramp) before timing
  peaks.fma_gflops_core = flops_per_thread / best_seconds(5, [&] { g_sink = fma_loop(isa, iters); }) / 1e9;
  const double all = best_seconds(5, [&] {
#pragma omp parallel
    {
      const float r = fma_loop(isa, iters);
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
