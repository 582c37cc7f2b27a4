// A single-threaded float32 GEMM for AVX-512 CPUs, written for the shapes of
// the backbone's convolutions: C = op(A) B (+ C), row-major, with B the im2col
// matrix (or a gradient) whose columns are pixels.
//
// Why not the CPU BLAS? On this project's Xeons OpenBLAS 0.3.21 (and BLIS
// 0.9) reach ~105-117 GFLOP/s per core in SGEMM, ~70 % of the core's FMA peak
// (~155), while oneDNN's convolutions in PyTorch reach ~140: the whole gap of
// the three-scale feature pass. This GEMM is the textbook blocked design
// (Goto; BLIS's five loops) with a 12 x 32 register tile:
//
//   for each block of NC columns of B and KC rows (k):   pack B's block: KC x 32 panels (L2)
//     for each block of MC rows of A:                     pack A's block: 12-row panels, k-major (L2)
//       for each 12-row panel of A (its KC x 12 stays in L1):
//         for each 32-column panel of B:
//           the micro-kernel: 24 zmm accumulators, per k two vector loads of B,
//           twelve broadcasts of A, 24 FMAs; then C's 12 x 32 tile is written
//           (masked at the edges) or added to.
//
// Packing zero-pads ragged edges, so the micro-kernel has no edge cases; only
// its stores are masked. The reference is a double-precision loop
// (tests/test_conv_ops.cpp, suite fast_gemm: random shapes with ragged edges).
//
// Measured (docs/performance.md): best of 5 in one process against OpenBLAS's
// SkylakeX SGEMM on AlexNet's shapes, one core, ours reached 0.85-0.9x of its
// speed on the forward shapes (weight x im2col, deep k) and 1.03-1.08x on the
// backward-data shapes (weight^T x gradient, k <= 384). That is not enough to
// be the default: convolutions use it only with DIFFERNET_FAST_GEMM=1 in the
// environment. What it lacks against oneDNN (~140 GFLOP/s per core here):
// im2col written straight into the packed panels (the B packing re-reads the
// whole column matrix), and fewer passes over C for deep k.
#pragma once
#include <cstdint>

namespace differnet::kernels::cpu {

// Whether the AVX-512 GEMM can run here (compiler support and the CPU's avx512f flag).
bool fast_gemm_supported();
// Whether convolutions use it: supported and DIFFERNET_FAST_GEMM=1 in the environment (read once).
bool fast_gemm_enabled();

// C[m x n] (row stride ldc) = op(A) B, or += when accumulate. op(A) is A [m x k]
// (row stride lda) or, with trans_a, the transpose of A stored [k x m] (row
// stride lda). B is [k x n] (row stride ldb). Single-threaded: callers run one
// per thread. Throws when !fast_gemm_supported().
void gemm_nn_fast(bool trans_a, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b,
                  int64_t ldb, float* c, int64_t ldc, bool accumulate);

}  // namespace differnet::kernels::cpu
