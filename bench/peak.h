// The CPU's measured limits, the denominators of every CPU benchmark's
// "floor_ratio": the float32 FMA throughput of one core and of all OpenMP
// threads, and the streaming memory bandwidth. Measured, not taken from a
// data sheet: a VM's cores, clocks and memory are what they are on the day,
// and a shared machine's neighbours count too, so each benchmark measures them
// again right before it runs (about half a second).
//
//   FMA: kernels/fma_probe.h's loop, 16 independent chains of vfmadd on
//   512-bit registers where CPUID reports AVX-512F, 256-bit with AVX2 + FMA,
//   else SSE (mul + add), no memory traffic.
//   Bandwidth: a[i] = a[i] * s + b[i] over two 64 MiB arrays (2x the L3 of
//   any machine we run on), all threads: the read-modify-write pattern of
//   Adam and of the weight gradients, 12 bytes per element (the written line
//   was read, so no write-allocate traffic goes uncounted).
//
// The floor of a piece of work is flops / fma_all + bytes / bandwidth: the
// compute-bound and memory-bound phases of our steps run one after the other.
#pragma once
#include <string>

namespace differnet::bench {

struct CpuPeaks {
  std::string isa;                // "avx512", "avx2" or "sse": what the FMA loop ran
  int threads = 1;                // OpenMP threads of the all-thread figures
  double fma_gflops_core = 0;     // one thread
  double fma_gflops_all = 0;      // all threads at once
  double stream_gb_per_s = 0;     // all threads
  // Seconds the work would take at these peaks.
  double floor_seconds(double flops, double bytes) const {
    return flops / (fma_gflops_all * 1e9) + bytes / (stream_gb_per_s * 1e9);
  }
};

// Best of a few short runs of each loop (~0.5 s in all).
CpuPeaks measure_cpu_peaks();

}  // namespace differnet::bench
