// A float32 GEMM for AVX-512 CPUs (CPUID, at run time): C = op(A) op(B) (+ C),
// row-major, with an optional bias + ReLU epilogue, on OpenMP's threads.
// Written first for the backbone's convolutions (B the im2col matrix, columns
// are pixels), now also for the flow's Linear layers (96 rows against 2048 x
// 2048 weights). gemm_parallel below is the CPU's float32 GEMM for both: this
// one where fast_gemm_enabled() (the BLAS runs narrower kernels on a core
// with full-width 512-bit FMAs), else the BLAS on column chunks; both keep a
// single thread pool (OpenBLAS's own and OpenMP's fought over the cores: see
// docs/performance.md).
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
// backward-data shapes (weight^T x gradient, k <= 384). So convolutions keep
// OpenBLAS where it runs AVX-512 kernels and take this GEMM where it does not
// (fast_gemm_enabled). What it lacks against oneDNN (~140 GFLOP/s per core on
// the Xeons): im2col written straight into the packed panels (the B packing
// re-reads the whole column matrix), and fewer passes over C for deep k.
#pragma once
#include <cstdint>

namespace differnet::kernels::cpu {

// Whether AVX-512 code can run here: this build has it (x86-64 GCC/Clang) and
// CPUID reports avx512f. The GEMM below and Adam's update (cpu_kernels.cpp) check it.
// DIFFERNET_NO_AVX512=1 in the environment says no (read once): the AVX2 / BLAS
// path, testable on an AVX-512 machine (scripts/run_tests.sh runs the CPU
// kernel tests both ways).
bool avx512_supported();
// Whether convolutions use this GEMM instead of the BLAS (read once): where
// supported, DIFFERNET_FAST_GEMM=1 or 0 decides; unset, it is used when the
// BLAS runs narrower kernels (OPENBLAS_CORETYPE=Haswell on an AVX-512 CPU,
// or a CPU OpenBLAS does not know) on a core whose 512-bit FMAs do twice the
// work of 256-bit ones (kernels/fma_probe.h, measured once: Intel's server
// cores; not AMD Zen 4, where AVX2 kernels are as fast).
bool fast_gemm_enabled();

// Applied to each element of C after the whole sum (fused into the tile's
// store): c = c + bias[column] when bias is given, then max(c, 0) with relu.
struct GemmEpilogue {
  const float* bias = nullptr;  // [n]
  bool relu = false;
};

// C[m x n] (row stride ldc) = op(A) op(B), or += when accumulate, then the
// epilogue if given. op(A) is A [m x k] (row stride lda) or, with trans_a, the
// transpose of A stored [k x m]; op(B) is B [k x n] (row stride ldb) or, with
// trans_b, the transpose of B stored [n x k] (a Linear layer's weight).
// Outside a parallel region the columns are split among the OpenMP threads;
// inside one (a convolution's per-thread chunk) it runs on the calling thread.
// Throws when !avx512_supported().
void gemm_fast(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
               const float* b, int64_t ldb, float* c, int64_t ldc, bool accumulate,
               const GemmEpilogue* epilogue = nullptr);

// The same contract on any CPU, the float32 GEMM of the autograd ops (matmul,
// linear): gemm_skinny (sgemm_skinny.h) for a short side of at most 128 on
// AVX-512 CPUs, else gemm_fast where fast_gemm_enabled(), else the BLAS, single-threaded
// on column chunks that OpenMP's threads share (one thread pool: OpenBLAS's own
// threads and OpenMP's fought over the cores, docs/performance.md), with the
// epilogue applied to each chunk while it is in cache.
void gemm_parallel(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
                   const float* b, int64_t ldb, float* c, int64_t ldc, bool accumulate,
                   const GemmEpilogue* epilogue = nullptr);

// OpenBLAS runs single-threaded in this scope: its threads would compete with OpenMP's.
class SingleThreadedBlas {
 public:
  SingleThreadedBlas();
  ~SingleThreadedBlas();
  SingleThreadedBlas(const SingleThreadedBlas&) = delete;
  SingleThreadedBlas& operator=(const SingleThreadedBlas&) = delete;

 private:
  int saved_;
};

}  // namespace differnet::kernels::cpu
