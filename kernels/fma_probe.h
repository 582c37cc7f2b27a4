// Loops that measure a core's float32 FMA throughput: independent chains of
// fused multiply-adds in registers (16 with AVX-512, 12 otherwise: more than
// latency x FMA pipes on current cores), no memory traffic. bench/peak.h times them for the floors of
// differnet_bench; wide_avx512_units() times them once to decide whether our
// AVX-512 GEMM can beat a BLAS that runs AVX2 kernels.
#pragma once
#include <cstdint>

namespace differnet::kernels::cpu {

enum class SimdIsa { Sse, Avx2, Avx512 };

// The widest of the three that this build and CPUID allow (DIFFERNET_NO_AVX512=1 caps it at AVX2).
SimdIsa widest_simd();
const char* simd_name(SimdIsa isa);  // "sse", "avx2", "avx512"

// Runs the loop for `iters` iterations with `isa`'s vectors (the CPU must
// support it) and returns a sum of the accumulators (keep it: a volatile sink).
float fma_loop(SimdIsa isa, int64_t iters);
// FLOPs one fma_loop(isa, iters) performs: iters x chains x vector width x 2.
double fma_loop_flops(SimdIsa isa, int64_t iters);

// Whether a 512-bit FMA does about twice the work of a 256-bit one per cycle on
// this core (Intel's server cores: yes; AMD Zen 4, which splits 512-bit
// operations in two: no). Measured once, ~10 ms, best of three each way;
// false without AVX-512.
bool wide_avx512_units();

}  // namespace differnet::kernels::cpu
