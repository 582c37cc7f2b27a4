// The short-side GEMM of sgemm_skinny.h: one register tile, three drivers.
#include "kernels/sgemm_skinny.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <omp.h>

#include "autograd/error.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define DIFFERNET_HAVE_SKINNY_GEMM 1
#include <immintrin.h>
#else
#define DIFFERNET_HAVE_SKINNY_GEMM 0
#endif

namespace differnet::kernels::cpu {

namespace {
constexpr int64_t kShortMax = 128;  // the longest short side taken (the flow's batch is 96)

bool skinny_enabled() {
  static const bool enabled = [] {
    const char* env = std::getenv("DIFFERNET_SKINNY_GEMM");
    return avx512_supported() && !(env && std::strcmp(env, "0") == 0);
  }();
  return enabled;
}
}  // namespace

bool skinny_gemm_applies(bool trans_a, bool trans_b, int64_t m, int64_t, int64_t k) {
  if (!skinny_enabled() || (trans_a && trans_b)) return false;
  return trans_a ? k <= kShortMax : m <= kShortMax;
}

#if DIFFERNET_HAVE_SKINNY_GEMM
namespace {

#define DIFFERNET_AVX512 __attribute__((target("avx512f,fma")))

// What a tile does after its sums: where its first depth block starts (add to
// C or overwrite it), and on the last block the epilogue. In `transposed`
// tiles (the forward), tile row r is C's column and tile column j is C's row.
struct TileJob {
  float* out;
  int64_t ldo;
  bool transposed, accumulate, last;
  const float* bias;  // indexed by C's column: the tile's column (plain) or row (transposed); null for none
  bool relu;
};

// GCC 12's _mm512_max_ps passes _mm512_undefined_ps() through its unused
// mask operand, which -Wmaybe-uninitialized reports: nothing is read.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
// C tile [R x cols] (cols <= 16*C) = sum over p < depth of a[r*a_r + p*a_p] * b[p*ldb + j].
// The two loops differ only in masked loads: with the mask in the loop GCC
// kept the 24 accumulators on the stack (2.5x slower).
template <int R, int C>
DIFFERNET_AVX512 void tile(int64_t depth, const float* a, int64_t a_r, int64_t a_p, const float* b, int64_t ldb,
                           int cols, const TileJob& job) {
  __mmask16 mask[C];
  for (int c = 0; c < C; ++c) mask[c] = __mmask16((1u << std::clamp(cols - 16 * c, 0, 16)) - 1);
  __m512 acc[R][C];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) acc[r][c] = _mm512_setzero_ps();
  // The next row tile's part of C, while this one computes: the weight
  // gradient's tiles are read and written from memory (6 rows 8 KB apart),
  // and the misses showed (single-thread CPU time 6 % lower with this).
  if (!job.transposed)
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < C; ++c) _mm_prefetch(reinterpret_cast<const char*>(job.out + (R + r) * job.ldo + 16 * c), _MM_HINT_T0);
  if (cols == 16 * C) {
    for (int64_t p = 0; p < depth; ++p) {
      __m512 bv[C];
      for (int c = 0; c < C; ++c) bv[c] = _mm512_loadu_ps(b + p * ldb + 16 * c);
      const float* ap = a + p * a_p;
      for (int r = 0; r < R; ++r) {
        const __m512 av = _mm512_set1_ps(ap[r * a_r]);
        for (int c = 0; c < C; ++c) acc[r][c] = _mm512_fmadd_ps(av, bv[c], acc[r][c]);
      }
    }
  } else {
    for (int64_t p = 0; p < depth; ++p) {
      __m512 bv[C];
      for (int c = 0; c < C; ++c) bv[c] = _mm512_maskz_loadu_ps(mask[c], b + p * ldb + 16 * c);
      const float* ap = a + p * a_p;
      for (int r = 0; r < R; ++r) {
        const __m512 av = _mm512_set1_ps(ap[r * a_r]);
        for (int c = 0; c < C; ++c) acc[r][c] = _mm512_fmadd_ps(av, bv[c], acc[r][c]);
      }
    }
  }
  const bool bias = job.last && job.bias, relu = job.last && job.relu;
  if (!job.transposed) {
    const __m512 zero = _mm512_setzero_ps();
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < C; ++c) {
        float* o = job.out + r * job.ldo + 16 * c;
        __m512 v = acc[r][c];
        if (job.accumulate) v = _mm512_add_ps(_mm512_maskz_loadu_ps(mask[c], o), v);
        if (bias) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask[c], job.bias + 16 * c));
        if (relu) v = _mm512_max_ps(v, zero);
        _mm512_mask_storeu_ps(o, mask[c], v);
      }
    return;
  }
  // Transposed: through a small buffer, then scalar stores (R x 96 of them
  // after R x 96 x depth multiply-adds).
  alignas(64) float t[R][16 * C];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) _mm512_store_ps(&t[r][16 * c], acc[r][c]);
  for (int j = 0; j < cols; ++j)
    for (int r = 0; r < R; ++r) {
      float& o = job.out[j * job.ldo + r];
      float v = job.accumulate ? o + t[r][j] : t[r][j];
      if (bias) v += job.bias[r];
      if (relu) v = std::max(v, 0.0f);
      o = v;
    }
}

#pragma GCC diagnostic pop

// tile<R, C> for the last, shorter row tiles.
template <int R, int C>
void tile_rows(int rows, int64_t depth, const float* a, int64_t a_r, int64_t a_p, const float* b, int64_t ldb,
               int cols, const TileJob& job) {
  if constexpr (R > 1) {
    if (rows < R) return tile_rows<R - 1, C>(rows, depth, a, a_r, a_p, b, ldb, cols, job);
  }
  tile<R, C>(depth, a, a_r, a_p, b, ldb, cols, job);
}

// C [rows x cols] = A B (+ C), A's element (r, p) at a[r*a_r + p*a_p], B
// [depth x cols] with row stride ldb. Work units: strips of 16*C columns, or
// with rows_per_unit > 0 blocks of that many rows (all columns), handed out
// dynamically. Within a unit: depth blocks of `block` rows of B, and per block
// every row tile, so that the block of B is reused from cache.
template <int R, int C>
void drive(int64_t rows, int64_t cols, int64_t depth, const float* a, int64_t a_r, int64_t a_p, const float* b,
           int64_t ldb, float* c, int64_t ldc, bool transposed, bool accumulate, const GemmEpilogue* epilogue,
           int64_t block, int64_t rows_per_unit, bool parallel) {
  constexpr int64_t kWidth = 16 * C;
  const int64_t strips = (cols + kWidth - 1) / kWidth;
  const int64_t units = rows_per_unit > 0 ? (rows + rows_per_unit - 1) / rows_per_unit : strips;
  const float* bias = epilogue ? epilogue->bias : nullptr;
  const bool relu = epilogue && epilogue->relu;
#pragma omp parallel for schedule(dynamic, 1) if (parallel && units > 1)
  for (int64_t u = 0; u < units; ++u) {
    const int64_t r_begin = rows_per_unit > 0 ? u * rows_per_unit : 0;
    const int64_t r_end = rows_per_unit > 0 ? std::min(rows, r_begin + rows_per_unit) : rows;
    const int64_t s_begin = rows_per_unit > 0 ? 0 : u, s_end = rows_per_unit > 0 ? strips : u + 1;
    for (int64_t s = s_begin; s < s_end; ++s) {
      const int64_t j0 = s * kWidth;
      const int cols_here = int(std::min(kWidth, cols - j0));
      for (int64_t p0 = 0; p0 < std::max<int64_t>(depth, 1); p0 += block) {
        const int64_t depth_here = std::min(block, depth - p0);
        for (int64_t r0 = r_begin; r0 < r_end; r0 += R) {
          TileJob job;
          job.out = transposed ? c + j0 * ldc + r0 : c + r0 * ldc + j0;
          job.ldo = ldc;
          job.transposed = transposed;
          job.accumulate = accumulate || p0 > 0;
          job.last = p0 + block >= depth;
          job.bias = bias ? bias + (transposed ? r0 : j0) : nullptr;
          job.relu = relu;
          tile_rows<R, C>(int(std::min<int64_t>(R, r_end - r0)), depth_here, a + r0 * a_r + p0 * a_p, a_r, a_p,
                          b + p0 * ldb + j0, ldb, cols_here, job);
        }
      }
    }
  }
}

// x^T for the forward: [k x m] from A [m x k] (row stride lda). Dynamic
// chunks, as in drive: a thread that lost its core does not hold up the rest.
float* transposed_copy(const float* a, int64_t lda, int64_t m, int64_t k, bool parallel) {
  thread_local std::vector<float> buffer;
  if (int64_t(buffer.size()) < m * k) buffer.resize(size_t(m * k));
  float* t = buffer.data();
#pragma omp parallel for schedule(dynamic, 1) if (parallel && m * k > (1 << 15))
  for (int64_t p0 = 0; p0 < k; p0 += 64)
    for (int64_t i = 0; i < m; ++i)
      for (int64_t p = p0; p < std::min(k, p0 + 64); ++p) t[p * m + i] = a[i * lda + p];
  return t;
}

}  // namespace

void gemm_skinny(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
                 const float* b, int64_t ldb, float* c, int64_t ldc, bool accumulate,
                 const GemmEpilogue* epilogue) {
  DIFFERNET_CHECK(skinny_gemm_applies(trans_a, trans_b, m, n, k), "gemm_skinny: not for this shape (m ", m, ", n ",
                  n, ", k ", k, ", trans_a ", trans_a, ", trans_b ", trans_b, ")");
  if (m <= 0 || n <= 0) return;
  const bool parallel = !omp_in_parallel();
  if (!trans_a && trans_b) {
    // The forward x W^T: C^T [n x m] = B [n x k] A^T, rows of B (the weight)
    // broadcast, A^T's rows the vectors; C^T's tiles stored transposed. The
    // whole depth in one block while A^T fits in ~768 KiB (this Zen 4's L2 is
    // 1 MiB per core: one block ran at 93 GFLOP/s against 82 with 512-deep
    // blocks, at 96 x 2048 x 2048).
    const float* at = transposed_copy(a, lda, m, k, parallel);
    const int64_t block = std::max<int64_t>(256, (int64_t(768) << 8) / m);
    drive<4, 6>(n, m, k, b, ldb, 1, at, m, c, ldc, true, accumulate, epilogue, block, 64, parallel);
  } else if (!trans_a) {
    // A B (the input gradient g W): rows of A broadcast, B's rows the vectors,
    // in 256-deep blocks of B that the 6-row tiles reuse from cache.
    drive<6, 4>(m, n, k, a, lda, 1, b, ldb, c, ldc, false, accumulate, epilogue, 256, 0, parallel);
  } else {
    // A^T B (the weight gradient g^T x), A [k x m]: A's columns broadcast (a
    // row of 6 adjacent elements per depth step), B's rows (x: 96 x 64 floats
    // per strip, in L1) the vectors; the depth is short: one block.
    drive<6, 4>(m, n, k, a, 1, lda, b, ldb, c, ldc, false, accumulate, epilogue, std::max<int64_t>(k, 1), 0,
                parallel);
  }
}

#else  // no x86-64 AVX-512 code in this build

void gemm_skinny(bool, bool, int64_t, int64_t, int64_t, const float*, int64_t, const float*, int64_t, float*, int64_t,
                 bool, const GemmEpilogue*) {
  throw Error("gemm_skinny: this build has no AVX-512 code (not an x86-64 GCC/Clang build)");
}

#endif

}  // namespace differnet::kernels::cpu
