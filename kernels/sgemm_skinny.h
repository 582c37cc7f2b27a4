// A float32 GEMM for products with one short side (AVX-512, chosen by CPUID):
// the flow's Linear layers at batch 96 against 2048 x 2048 weights. Their three
// GEMMs each have 96 as one size (forward x W^T: 96 rows; input gradient
// g W: 96 rows; weight gradient g^T x: depth 96), and every weight element is
// used only 96 times per GEMM. A packing GEMM (OpenBLAS, kernels/sgemm_avx512.h)
// first copies the whole weight into panels, a pass over 16 MB per GEMM that
// does no arithmetic; in the flow step those copies were 13-15 % of the time
// (docs/performance.md). This one packs nothing big: the long operand is read
// in place as the vector operand of a register tile (rows of W, or of x), the
// short one is broadcast element by element (and for the forward x is
// transposed once, 96 x in floats, so that the 96 batch rows are the vectors).
//
//   C tile [R x 16*C] += a(r, p) * b[p][16*C columns], p over the depth,
//   R*C = 24 zmm accumulators, then C's tile is written (or added to) once,
//   with the bias + ReLU epilogue.
//
// The forward computes C^T's tiles (rows = the weight's rows) and stores them
// transposed, so the weight's rows are read contiguously. The reference is a
// double-precision loop (tests/test_ops.cpp, suite skinny_gemm).
#pragma once
#include <cstdint>

#include "kernels/sgemm_avx512.h"

namespace differnet::kernels::cpu {

// Whether gemm_skinny takes C[m x n] = op(A) op(B): AVX-512 here
// (avx512_supported), not turned off by DIFFERNET_SKINNY_GEMM=0 (read once;
// for measuring against the BLAS), and a short side of at most 128: m for
// A B and A B^T, k for A^T B. A^T B^T is not handled.
bool skinny_gemm_applies(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k);

// gemm_parallel's contract (sgemm_avx512.h) for the shapes skinny_gemm_applies
// accepts; outside a parallel region the work is split among OpenMP's threads.
void gemm_skinny(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
                 const float* b, int64_t ldb, float* c, int64_t ldc, bool accumulate,
                 const GemmEpilogue* epilogue = nullptr);

}  // namespace differnet::kernels::cpu
