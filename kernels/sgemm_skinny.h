// A float32 GEMM for products with one short side (AVX-512, chosen by CPUID):
// the flow's Linear layers at batch 96 against 2048 x 2048 weights. Their three
// GEMMs each have 96 as one size (forward x W^T: 96 rows; input gradient
// g W: 96 rows; weight gradient g^T x: depth 96), and every weight element is
// used only 96 times per GEMM. A packing GEMM (OpenBLAS, kernels/sgemm_avx512.h)
// first copies the whole weight into panels, a pass over 16 MB per GEMM that
// does no arithmetic; in the flow step those copies were 13-15 % of the time
// (docs/performance.md). This one has no such pass: the short operand is
// broadcast element by element, the long one is the vector operand of a
// register tile, and whatever is copied is either small (96 x 2048 floats) or
// copied by the tiles as they compute.
//
//   C tile [R x 16*C] += a(r, p) * b[p][16*C columns], p over the depth,
//   R*C = 24 zmm accumulators, then C's tile is written (or added to) once,
//   with the bias + ReLU epilogue.
//
// The three layouts (gemm_skinny in sgemm_skinny.cpp says why each is so):
// - forward x W^T: C^T's tiles (4 weight rows x 96 batch columns), the
//   weight's rows broadcast from where they lie (read contiguously), x
//   transposed once into x^T [in x 96] for the vectors, the whole depth in
//   one block; tiles stored transposed.
// - input gradient g W: 6 x 64 tiles, g's rows broadcast, W's rows the
//   vectors, per 64-column strip in 256-deep blocks. W's rows are 8 KB apart:
//   read in place, a block's 256 rows are 256 pages that all fall in the same
//   L1 set, re-read by each of the 16 row tiles. So the first row tile copies
//   the block into a contiguous 64 KB panel as it reads it, the other 15 read
//   the panel, and the next block is prefetched into L2 meanwhile (where W's
//   rows are 4 KB or more apart; a 384-wide W is read in place).
// - weight gradient g^T x: 6 x 64 tiles of the weight's gradient, depth 96,
//   g's columns broadcast (6 adjacent floats of a row per step), x's 96 x 64
//   strip the vectors (in cache while the tiles walk down C's rows). C, 16 MB
//   that the GEMM does not read again, is written with non-temporal stores
//   when overwritten (the engine's first write of a step): ordinary stores
//   first read every line of it from memory.
// Every scratch buffer starts on a 64-byte line, so no vector load straddles
// two lines. The sums run in the same order whatever the thread split.
//
// Measured (docs/performance.md, issue 15) on the 2-core Zen 4 at
// 96 x 2048 x 2048, median floor ratios of differnet_bench's linear_gemm_*
// rows (1.0 = the FMA peak of both cores): forward 1.18, input gradient 1.35
// (1.41 reading W in place), weight gradient when overwriting 1.26 (1.48
// with ordinary stores). The reference is a double-precision loop
// (tests/test_ops.cpp, suite skinny_gemm).
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
