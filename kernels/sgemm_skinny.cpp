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
  bool stream;        // full, aligned vectors of C stored non-temporally (a pure write not read again soon)
  const float* next;  // the next row tile's part of C, prefetched while this one computes; null for none
  float* panel;       // where tile<R, C, true> copies B (64-byte aligned)
  const float* bias;  // indexed by C's column: the tile's column (plain) or row (transposed); null for none
  bool relu;
};

// GCC 12's _mm512_max_ps passes _mm512_undefined_ps() through its unused
// mask operand, which -Wmaybe-uninitialized reports: nothing is read.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
// C tile [R x cols] (cols <= 16*C) = sum over p < depth of a[r*a_r + p*a_p] * b[p*ldb + j].
// The two loops differ only in masked loads: with the mask in the loop GCC
// kept the 24 accumulators on the stack (2.5x slower). With Pack, B's vectors
// are also stored to job.panel (row stride 16*C) for the tiles after this one.
template <int R, int C, bool Pack>
DIFFERNET_AVX512 void tile(int64_t depth, const float* a, int64_t a_r, int64_t a_p, const float* b, int64_t ldb,
                           int cols, const TileJob& job) {
  __mmask16 mask[C];
  for (int c = 0; c < C; ++c) mask[c] = __mmask16((1u << std::clamp(cols - 16 * c, 0, 16)) - 1);
  __m512 acc[R][C];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) acc[r][c] = _mm512_setzero_ps();
  // A tile that adds to C (the backward GEMMs' later depth blocks, or
  // accumulate): the next row tile's part of C, rows 8 KB apart, is not in L1.
  if (job.next)
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < C; ++c) _mm_prefetch(reinterpret_cast<const char*>(job.next + r * job.ldo + 16 * c), _MM_HINT_T0);
  if (cols == 16 * C) {
    for (int64_t p = 0; p < depth; ++p) {
      __m512 bv[C];
      for (int c = 0; c < C; ++c) bv[c] = _mm512_loadu_ps(b + p * ldb + 16 * c);
      if constexpr (Pack)
        for (int c = 0; c < C; ++c) _mm512_store_ps(job.panel + p * 16 * C + 16 * c, bv[c]);
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
      if constexpr (Pack)
        for (int c = 0; c < C; ++c) _mm512_store_ps(job.panel + p * 16 * C + 16 * c, bv[c]);
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
        if (job.stream && mask[c] == 0xFFFF && reinterpret_cast<uintptr_t>(o) % 64 == 0)
          _mm512_stream_ps(o, v);
        else
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
template <int R, int C, bool Pack>
void tile_rows(int rows, int64_t depth, const float* a, int64_t a_r, int64_t a_p, const float* b, int64_t ldb,
               int cols, const TileJob& job) {
  if constexpr (R > 1) {
    if (rows < R) return tile_rows<R - 1, C, Pack>(rows, depth, a, a_r, a_p, b, ldb, cols, job);
  }
  tile<R, C, Pack>(depth, a, a_r, a_p, b, ldb, cols, job);
}

// A 64-byte-aligned scratch area of n floats in `buffer`: the tiles' vector
// loads from it then never straddle two cache lines (a vector's malloc'd data
// starts 16 bytes past a line).
float* aligned_scratch(std::vector<float>& buffer, int64_t n) {
  if (int64_t(buffer.size()) < n + 16) buffer.resize(size_t(n + 16));
  return reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(buffer.data()) + 63) & ~uintptr_t(63));
}

// One product as the tiles see it: C [rows x cols] = A B (+ C), A's element
// (r, p) at a[r*a_r + p*a_p], B [depth x cols] given to each block of tiles.
struct Product {
  int64_t rows, cols, depth;
  const float* a;
  int64_t a_r, a_p;
  float* c;
  int64_t ldc;
  bool transposed, accumulate;
  bool stream;  // C's stores non-temporal (one depth block only: C is not read back)
  const GemmEpilogue* epilogue;
};

// Rows [r_begin, r_end) of one strip (columns j0.., `cols` of them) over one
// depth block (p0.., depth_here deep), whose B (row stride ldb) starts at b.
// With a panel, the first row tile copies B there as it reads it, and the
// others read the copy (row stride 16*C).
template <int R, int C>
void tiles_of_block(const Product& g, int64_t r_begin, int64_t r_end, int64_t j0, int cols, int64_t p0,
                    int64_t depth_here, const float* b, int64_t ldb, float* panel = nullptr) {
  const float* bias = g.epilogue ? g.epilogue->bias : nullptr;
  for (int64_t r0 = r_begin; r0 < r_end; r0 += R) {
    TileJob job;
    job.out = g.transposed ? g.c + j0 * g.ldc + r0 : g.c + r0 * g.ldc + j0;
    job.ldo = g.ldc;
    job.transposed = g.transposed;
    job.accumulate = g.accumulate || p0 > 0;
    job.last = p0 + depth_here >= g.depth;
    job.stream = g.stream;
    job.next = !g.transposed && job.accumulate && r0 + R < r_end ? job.out + R * g.ldc : nullptr;
    job.bias = bias ? bias + (g.transposed ? r0 : j0) : nullptr;
    job.relu = g.epilogue && g.epilogue->relu;
    job.panel = panel;
    const int rows = int(std::min<int64_t>(R, r_end - r0));
    const float* a = g.a + r0 * g.a_r + p0 * g.a_p;
    if (!panel)
      tile_rows<R, C, false>(rows, depth_here, a, g.a_r, g.a_p, b, ldb, cols, job);
    else if (r0 == r_begin)
      tile_rows<R, C, true>(rows, depth_here, a, g.a_r, g.a_p, b, ldb, cols, job);
    else
      tile_rows<R, C, false>(rows, depth_here, a, g.a_r, g.a_p, panel, 16 * C, cols, job);
  }
}

// Units of `unit_rows` rows handed out dynamically (a thread that lost its
// core does not hold up the rest), each over every strip of 16*C columns,
// B's strip s at b + s*strip_stride (row stride ldb), in depth blocks of
// `block` rows of B.
template <int R, int C>
void drive_row_blocks(const Product& g, const float* b, int64_t ldb, int64_t strip_stride, int64_t block,
                      int64_t unit_rows, bool parallel) {
  constexpr int64_t kWidth = 16 * C;
  const int64_t strips = (g.cols + kWidth - 1) / kWidth, units = (g.rows + unit_rows - 1) / unit_rows;
#pragma omp parallel for schedule(dynamic, 1) if (parallel && units > 1)
  for (int64_t u = 0; u < units; ++u) {
    for (int64_t s = 0; s < strips; ++s)
      for (int64_t p0 = 0; p0 < std::max<int64_t>(g.depth, 1); p0 += block)
        tiles_of_block<R, C>(g, u * unit_rows, std::min(g.rows, (u + 1) * unit_rows), s * kWidth,
                             int(std::min(kWidth, g.cols - s * kWidth)), p0, std::min(block, g.depth - p0),
                             b + s * strip_stride + p0 * ldb, ldb);
  }
}

// Units of one strip of 16*C columns of B (row stride ldb) handed out
// dynamically, in depth blocks of `block` rows of B, each block's row tiles
// top to bottom. With `pack`, per block: the next
// block is prefetched into L2 (it comes from memory: a 16 MB weight is read
// once per GEMM), then the first row tile reads the strip's block in place
// (rows 8 KB apart in a 2048-wide weight: a new page every row, and all in
// the same L1 set) and copies it into a contiguous panel that the other row
// tiles read from L2.
template <int R, int C>
void drive_strips(const Product& g, const float* b, int64_t ldb, int64_t block, bool pack, bool parallel) {
  constexpr int64_t kWidth = 16 * C;
  const int64_t strips = (g.cols + kWidth - 1) / kWidth;
#pragma omp parallel for schedule(dynamic, 1) if (parallel && strips > 1)
  for (int64_t s = 0; s < strips; ++s) {
    thread_local std::vector<float> buffer;
    float* panel = pack ? aligned_scratch(buffer, block * kWidth) : nullptr;
    const int64_t j0 = s * kWidth, cols = std::min(kWidth, g.cols - j0);
    const float* bs = b + j0;
    for (int64_t p0 = 0; p0 < std::max<int64_t>(g.depth, 1); p0 += block) {
      const int64_t depth_here = std::min(block, g.depth - p0);
      if (pack)
        for (int64_t p = p0 + block; p < std::min(g.depth, p0 + 2 * block); ++p)
          for (int64_t j = 0; j < cols; j += 16)
            _mm_prefetch(reinterpret_cast<const char*>(bs + p * ldb + j), _MM_HINT_T1);
      tiles_of_block<R, C>(g, 0, g.rows, j0, int(cols), p0, depth_here, bs + p0 * ldb, ldb, panel);
    }
    if (g.stream) _mm_sfence();  // this thread's streamed stores before the loop's closing barrier
  }
}

// x^T for the forward: [k x m] from A [m x k] (row stride lda). Dynamic
// chunks, as in the drivers.
float* transposed_copy(const float* a, int64_t lda, int64_t m, int64_t k, bool parallel) {
  thread_local std::vector<float> buffer;
  float* t = aligned_scratch(buffer, m * k);
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
    drive_row_blocks<4, 6>({n, m, k, b, ldb, 1, c, ldc, true, accumulate, false, epilogue}, at, m, 96, block, 64,
                           parallel);
  } else if (!trans_a) {
    // A B (the input gradient g W): rows of A broadcast, B's rows the vectors,
    // in 256-deep blocks of B that the 6-row tiles reuse from L2, copied into
    // a contiguous panel where B's rows are a page or more apart (2048-wide
    // weights; at 384 wide the copy measured no faster).
    drive_strips<6, 4>({m, n, k, a, lda, 1, c, ldc, false, accumulate, false, epilogue}, b, ldb, 256,
                       ldb * int64_t(sizeof(float)) >= 4096, parallel);
  } else {
    // A^T B (the weight gradient g^T x), A [k x m]: A's columns broadcast (a
    // row of 6 adjacent elements per depth step), B's rows (x: 96 x 64 floats
    // per strip) the vectors; the depth is short: one block. C (16 MB at
    // 2048 x 2048, not read again here) is written with non-temporal stores
    // when overwritten.
    drive_strips<6, 4>({m, n, k, a, 1, lda, c, ldc, false, accumulate, !accumulate, epilogue}, b, ldb,
                       std::max<int64_t>(k, 1), false, parallel);
  }
}

#else  // no x86-64 AVX-512 code in this build

void gemm_skinny(bool, bool, int64_t, int64_t, int64_t, const float*, int64_t, const float*, int64_t, float*, int64_t,
                 bool, const GemmEpilogue*) {
  throw Error("gemm_skinny: this build has no AVX-512 code (not an x86-64 GCC/Clang build)");
}

#endif

}  // namespace differnet::kernels::cpu
