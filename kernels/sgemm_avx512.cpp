// The AVX-512 GEMM of sgemm_avx512.h: packing, blocking and the 12 x 32
// micro-kernel. Compiled for every x86-64 CPU (the AVX-512 code sits in
// functions with a target attribute) and used only where the CPU has avx512f.
#include "kernels/sgemm_avx512.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>

#include <cblas.h>
#include <omp.h>

#include "autograd/error.h"
#include "kernels/fma_probe.h"
#include "kernels/sgemm_skinny.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define DIFFERNET_HAVE_AVX512_GEMM 1
#include <immintrin.h>
#else
#define DIFFERNET_HAVE_AVX512_GEMM 0
#endif

namespace differnet::kernels::cpu {

#if DIFFERNET_HAVE_AVX512_GEMM
namespace {

constexpr int64_t kMR = 12;    // rows of C per micro-tile (A panel width)
constexpr int64_t kNR = 32;    // columns of C per micro-tile (two zmm)
// The blocking sizes can be set at compile time (-DDIFFERNET_GEMM_KC=... with
// _NC, _MC and _PREFETCH) for tuning experiments; the defaults were the best of
// the sweeps in docs/performance.md.
#ifndef DIFFERNET_GEMM_PREFETCH
#define DIFFERNET_GEMM_PREFETCH 8
#endif
#ifndef DIFFERNET_GEMM_KC
#define DIFFERNET_GEMM_KC 256
#define DIFFERNET_GEMM_NC 1024
#define DIFFERNET_GEMM_MC 384
#endif
constexpr int64_t kKC = DIFFERNET_GEMM_KC;  // depth of a packed block: an A panel is kKC x 12 floats = 12 KiB (L1)
constexpr int64_t kNC = DIFFERNET_GEMM_NC;  // columns of a packed B block: kKC x kNC floats = 1 MiB (L2)
constexpr int64_t kMC = DIFFERNET_GEMM_MC;  // rows of a packed A block (a multiple of kMR)

// A 64-byte aligned scratch buffer per thread and role (0: a block of B, 1: a
// block of A, 2: all of A for the threads of gemm_fast), grown on demand.
float* thread_buffer(int role, int64_t floats) {
  struct Buffer {
    float* data = nullptr;
    int64_t size = 0;
    ~Buffer() { std::free(data); }
  };
  thread_local Buffer buffers[3];
  Buffer& b = buffers[role];
  if (b.size < floats) {
    std::free(b.data);
    b.data = static_cast<float*>(std::aligned_alloc(64, size_t((floats * 4 + 63) / 64 * 64)));
    if (!b.data) {
      b.size = 0;
      throw OutOfMemory(detail::concat("host out of memory: GEMM packing buffer of ", floats * 4, " bytes"));
    }
    b.size = floats;
  }
  return b.data;
}

#define DIFFERNET_AVX512 __attribute__((target("avx512f,fma")))

// GCC 12's unpack and shuffle intrinsics pass _mm512_undefined_ps() through
// their unused mask operand, which -Wuninitialized reports: nothing is read.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
// dst[c][r] = src[r][c] for a 16 x 16 block (row strides lds, ldd): unpack
// pairs of rows, shuffle within 128-bit lanes, then exchange the lanes.
DIFFERNET_AVX512 void transpose_16x16(const float* src, int64_t lds, float* dst, int64_t ldd) {
  __m512 r[16], t[16], u[16];
  for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(src + i * lds);
  for (int i = 0; i < 8; ++i) {  // lane L of t[2i]: r[2i][4L], r[2i+1][4L], r[2i][4L+1], r[2i+1][4L+1]
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; ++i) {  // lane L of u[4i+j]: column 4L+j of rows 4i .. 4i+3
    u[4 * i] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
    u[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
    u[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
    u[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
  }
  for (int j = 0; j < 4; ++j) {  // gather lane L of the four row groups: column 4L+j
    const __m512 s0 = _mm512_shuffle_f32x4(u[j], u[4 + j], 0x88), s1 = _mm512_shuffle_f32x4(u[j], u[4 + j], 0xDD);
    const __m512 s2 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0x88),
                 s3 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0xDD);
    _mm512_storeu_ps(dst + j * ldd, _mm512_shuffle_f32x4(s0, s2, 0x88));
    _mm512_storeu_ps(dst + (4 + j) * ldd, _mm512_shuffle_f32x4(s1, s3, 0x88));
    _mm512_storeu_ps(dst + (8 + j) * ldd, _mm512_shuffle_f32x4(s0, s2, 0xDD));
    _mm512_storeu_ps(dst + (12 + j) * ldd, _mm512_shuffle_f32x4(s1, s3, 0xDD));
  }
}
#pragma GCC diagnostic pop

// op(B)[k0 .. k0+kc, j0 .. j0+nc] into panels of kNR columns, each kc x kNR,
// k-major; columns past n are zero. With trans_b, B is stored [n x k] (a
// Linear layer's weight): a panel's column j is storage row j; full panels
// go through 16 x 16 register transposes, the ragged rest element by element.
void pack_b(bool trans_b, const float* b, int64_t ldb, int64_t k0, int64_t kc, int64_t j0, int64_t nc,
            float* packed) {
  for (int64_t jp = 0; jp < nc; jp += kNR) {
    const int64_t width = std::min(kNR, nc - jp);
    float* dst = packed + jp * kc;
    if (trans_b) {
      const float* src = b + (j0 + jp) * ldb + k0;
      int64_t p0 = 0;
      if (width == kNR)
        for (; p0 + 16 <= kc; p0 += 16) {
          transpose_16x16(src + p0, ldb, dst + p0 * kNR, kNR);
          transpose_16x16(src + 16 * ldb + p0, ldb, dst + p0 * kNR + 16, kNR);
        }
      for (int64_t j = 0; j < width; ++j)
        for (int64_t p = p0; p < kc; ++p) dst[p * kNR + j] = src[j * ldb + p];
      for (int64_t j = width; j < kNR; ++j)
        for (int64_t p = p0; p < kc; ++p) dst[p * kNR + j] = 0.0f;
      continue;
    }
    const float* src = b + k0 * ldb + j0 + jp;
    if (width == kNR) {
      for (int64_t p = 0; p < kc; ++p) std::memcpy(dst + p * kNR, src + p * ldb, sizeof(float) * kNR);
    } else {
      for (int64_t p = 0; p < kc; ++p) {
        std::memcpy(dst + p * kNR, src + p * ldb, sizeof(float) * size_t(width));
        std::memset(dst + p * kNR + width, 0, sizeof(float) * size_t(kNR - width));
      }
    }
  }
}

// op(A)[i0 .. i0+mc, k0 .. k0+kc] into panels of kMR rows, each kc x kMR, k-major;
// rows past mc are zero.
void pack_a(bool trans_a, const float* a, int64_t lda, int64_t i0, int64_t mc, int64_t k0, int64_t kc, float* packed) {
  for (int64_t ip = 0; ip < mc; ip += kMR) {
    const int64_t rows = std::min(kMR, mc - ip);
    float* dst = packed + ip * kc;
    if (trans_a) {  // A stored [k x m]: a panel's 12 values at one k are contiguous
      const float* src = a + k0 * lda + i0 + ip;
      for (int64_t p = 0; p < kc; ++p) {
        for (int64_t i = 0; i < rows; ++i) dst[p * kMR + i] = src[p * lda + i];
        for (int64_t i = rows; i < kMR; ++i) dst[p * kMR + i] = 0.0f;
      }
    } else {  // A stored [m x k]: one row after the other
      for (int64_t i = 0; i < rows; ++i) {
        const float* src = a + (i0 + ip + i) * lda + k0;
        for (int64_t p = 0; p < kc; ++p) dst[p * kMR + i] = src[p];
      }
      for (int64_t i = rows; i < kMR; ++i)
        for (int64_t p = 0; p < kc; ++p) dst[p * kMR + i] = 0.0f;
    }
  }
}

// C[0..m, 0..n] (= or +=) the 12 x 32 product of an A panel (kc x 12) and a B
// panel (kc x 32), then the epilogue when given (the last k block): + bias[j]
// (bias points at this tile's first column), then max(0, .) with relu.
// m <= 12 and n <= 32 cut the loads and stores at the edges.
DIFFERNET_AVX512 void micro_kernel(int64_t kc, const float* __restrict a, const float* __restrict b,
                                   float* __restrict c, int64_t ldc, int64_t m, int64_t n, bool accumulate,
                                   const GemmEpilogue* epilogue) {
  __m512 c00 = _mm512_setzero_ps(), c01 = _mm512_setzero_ps(), c10 = _mm512_setzero_ps(), c11 = _mm512_setzero_ps();
  __m512 c20 = _mm512_setzero_ps(), c21 = _mm512_setzero_ps(), c30 = _mm512_setzero_ps(), c31 = _mm512_setzero_ps();
  __m512 c40 = _mm512_setzero_ps(), c41 = _mm512_setzero_ps(), c50 = _mm512_setzero_ps(), c51 = _mm512_setzero_ps();
  __m512 c60 = _mm512_setzero_ps(), c61 = _mm512_setzero_ps(), c70 = _mm512_setzero_ps(), c71 = _mm512_setzero_ps();
  __m512 c80 = _mm512_setzero_ps(), c81 = _mm512_setzero_ps(), c90 = _mm512_setzero_ps(), c91 = _mm512_setzero_ps();
  __m512 ca0 = _mm512_setzero_ps(), ca1 = _mm512_setzero_ps(), cb0 = _mm512_setzero_ps(), cb1 = _mm512_setzero_ps();
#define DIFFERNET_FMA_ROW(i, r0, r1)           \
  {                                            \
    const __m512 ai = _mm512_set1_ps(a[i]);    \
    r0 = _mm512_fmadd_ps(ai, b0, r0);          \
    r1 = _mm512_fmadd_ps(ai, b1, r1);          \
  }
  for (int64_t i = 0; i < m; ++i) {  // C's tile is needed at the end: start fetching it now
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + 16), _MM_HINT_T0);
  }
  for (int64_t p = 0; p < kc; ++p) {
    // The B panel streams from L2: fetch it DIFFERNET_GEMM_PREFETCH k-steps ahead into L1.
    _mm_prefetch(reinterpret_cast<const char*>(b + DIFFERNET_GEMM_PREFETCH * kNR), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(b + DIFFERNET_GEMM_PREFETCH * kNR + 16), _MM_HINT_T0);
    const __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
    DIFFERNET_FMA_ROW(0, c00, c01)
    DIFFERNET_FMA_ROW(1, c10, c11)
    DIFFERNET_FMA_ROW(2, c20, c21)
    DIFFERNET_FMA_ROW(3, c30, c31)
    DIFFERNET_FMA_ROW(4, c40, c41)
    DIFFERNET_FMA_ROW(5, c50, c51)
    DIFFERNET_FMA_ROW(6, c60, c61)
    DIFFERNET_FMA_ROW(7, c70, c71)
    DIFFERNET_FMA_ROW(8, c80, c81)
    DIFFERNET_FMA_ROW(9, c90, c91)
    DIFFERNET_FMA_ROW(10, ca0, ca1)
    DIFFERNET_FMA_ROW(11, cb0, cb1)
    a += kMR;
    b += kNR;
  }
#undef DIFFERNET_FMA_ROW
  const __m512 rows[kMR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51},
                               {c60, c61}, {c70, c71}, {c80, c81}, {c90, c91}, {ca0, ca1}, {cb0, cb1}};
  const __mmask16 m0 = n >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << n) - 1);
  const __mmask16 m1 = n >= 32 ? __mmask16(0xFFFF) : n <= 16 ? __mmask16(0) : __mmask16((1u << (n - 16)) - 1);
  const bool add_bias = epilogue && epilogue->bias, relu = epilogue && epilogue->relu;
  const __m512 bias0 = add_bias ? _mm512_maskz_loadu_ps(m0, epilogue->bias) : _mm512_setzero_ps();
  const __m512 bias1 = add_bias ? _mm512_maskz_loadu_ps(m1, epilogue->bias + 16) : _mm512_setzero_ps();
  for (int64_t i = 0; i < m; ++i) {
    float* row = c + i * ldc;
    __m512 v0 = rows[i][0], v1 = rows[i][1];
    if (accumulate) {
      v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, row));
      v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, row + 16));
    }
    if (add_bias) {
      v0 = _mm512_add_ps(v0, bias0);
      v1 = _mm512_add_ps(v1, bias1);
    }
    if (relu) {  // (the maskz form: GCC 12's _mm512_max_ps warns about its undefined pass-through)
      v0 = _mm512_maskz_max_ps(__mmask16(0xFFFF), v0, _mm512_setzero_ps());
      v1 = _mm512_maskz_max_ps(__mmask16(0xFFFF), v1, _mm512_setzero_ps());
    }
    _mm512_mask_storeu_ps(row, m0, v0);
    _mm512_mask_storeu_ps(row + 16, m1, v1);
  }
}

bool cpu_has_avx512f() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f");
}

// All of op(A), packed: k block k0 (depth kc) starts at k0 * round_up(m, kMR)
// and holds pack_a's panels of all rows, the panel of row i0 at i0 * kc.
int64_t padded_rows(int64_t m) { return (m + kMR - 1) / kMR * kMR; }

// One thread's share: all of C's rows, the columns [0, n) of the pointers
// given. A comes packed (packed_all_a, see above) or is packed here per block.
void gemm_fast_serial(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
                      const float* b, int64_t ldb, float* c, int64_t ldc, bool accumulate,
                      const GemmEpilogue* epilogue, const float* packed_all_a) {
  if (k <= 0) {
    for (int64_t i = 0; i < m; ++i) {
      float* row = c + i * ldc;
      for (int64_t j = 0; j < n; ++j) {
        float v = (accumulate ? row[j] : 0.0f) + (epilogue && epilogue->bias ? epilogue->bias[j] : 0.0f);
        row[j] = epilogue && epilogue->relu ? std::max(v, 0.0f) : v;
      }
    }
    return;
  }
  float* packed_b = thread_buffer(0, kKC * kNC);
  float* packed_a = packed_all_a ? nullptr : thread_buffer(1, kKC * kMC);
  for (int64_t j0 = 0; j0 < n; j0 += kNC) {
    const int64_t nc = std::min(kNC, n - j0);
    GemmEpilogue tile_epilogue;
    if (epilogue) tile_epilogue = *epilogue;
    for (int64_t k0 = 0; k0 < k; k0 += kKC) {
      const int64_t kc = std::min(kKC, k - k0);
      const bool add = accumulate || k0 > 0;
      const bool last = k0 + kc >= k;
      pack_b(trans_b, b, ldb, k0, kc, j0, nc, packed_b);
      for (int64_t i0 = 0; i0 < m; i0 += kMC) {
        const int64_t mc = std::min(kMC, m - i0);
        const float* a_block = packed_all_a ? packed_all_a + k0 * padded_rows(m) + i0 * kc : packed_a;
        if (!packed_all_a) pack_a(trans_a, a, lda, i0, mc, k0, kc, packed_a);
        for (int64_t ip = 0; ip < mc; ip += kMR)
          for (int64_t jp = 0; jp < nc; jp += kNR) {
            if (epilogue && epilogue->bias) tile_epilogue.bias = epilogue->bias + j0 + jp;
            micro_kernel(kc, a_block + ip * kc, packed_b + jp * kc, c + (i0 + ip) * ldc + j0 + jp, ldc,
                         std::min(kMR, mc - ip), std::min(kNR, nc - jp), add,
                         last && epilogue ? &tile_epilogue : nullptr);
          }
      }
    }
  }
}

}  // namespace

bool avx512_supported() {
  static const bool supported = [] {
    const char* off = std::getenv("DIFFERNET_NO_AVX512");
    return cpu_has_avx512f() && !(off && std::strcmp(off, "1") == 0);
  }();
  return supported;
}

void gemm_fast(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
               const float* b, int64_t ldb, float* c, int64_t ldc, bool accumulate, const GemmEpilogue* epilogue) {
  DIFFERNET_CHECK(avx512_supported(), "gemm_fast: this CPU has no AVX-512F");
  if (m <= 0 || n <= 0) return;
  const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  if (threads == 1 || n < 64 * threads) {
    gemm_fast_serial(trans_a, trans_b, m, n, k, a, lda, b, ldb, c, ldc, accumulate, epilogue, nullptr);
    return;
  }
  // A is packed once, by all threads (a block of rows of a k block each),
  // into the calling thread's buffer; then the columns are split in multiples
  // of the 32-wide tile, about four parts per thread handed out dynamically (a
  // thread that lost its core to another process does not hold the others at
  // the barrier), each part packing its own columns of B.
  const int64_t m_pad = padded_rows(m);
  float* packed_all_a = thread_buffer(2, m_pad * std::max<int64_t>(k, 1));
  const int64_t k_blocks = (k + kKC - 1) / kKC, m_blocks = (m + kMC - 1) / kMC;
  const int64_t step = std::max(4 * kNR, ((n + 4 * threads - 1) / (4 * threads) + kNR - 1) / kNR * kNR);
#pragma omp parallel
  {
#pragma omp for collapse(2) schedule(static)
    for (int64_t kb = 0; kb < k_blocks; ++kb)
      for (int64_t ib = 0; ib < m_blocks; ++ib) {
        const int64_t k0 = kb * kKC, kc = std::min(kKC, k - k0), i0 = ib * kMC;
        pack_a(trans_a, a, lda, i0, std::min(kMC, m - i0), k0, kc, packed_all_a + k0 * m_pad + i0 * kc);
      }
#pragma omp for schedule(dynamic, 1)
    for (int64_t j = 0; j < n; j += step) {
      GemmEpilogue part;
      if (epilogue) {
        part = *epilogue;
        if (part.bias) part.bias += j;
      }
      gemm_fast_serial(trans_a, trans_b, m, std::min(step, n - j), k, a, lda, b + (trans_b ? j * ldb : j), ldb,
                       c + j, ldc, accumulate, epilogue ? &part : nullptr, packed_all_a);
    }
  }
}

#else  // no x86-64 AVX-512 code in this build

bool avx512_supported() { return false; }

void gemm_fast(bool, bool, int64_t, int64_t, int64_t, const float*, int64_t, const float*, int64_t, float*, int64_t,
               bool, const GemmEpilogue*) {
  throw Error("gemm_fast: this build has no AVX-512 GEMM (not an x86-64 GCC/Clang build)");
}

#endif

SingleThreadedBlas::SingleThreadedBlas() : saved_(openblas_get_num_threads()) {
  if (saved_ != 1) openblas_set_num_threads(1);
}

SingleThreadedBlas::~SingleThreadedBlas() {
  if (saved_ != 1) openblas_set_num_threads(saved_);
}

void gemm_parallel(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
                   const float* b, int64_t ldb, float* c, int64_t ldc, bool accumulate,
                   const GemmEpilogue* epilogue) {
  if (skinny_gemm_applies(trans_a, trans_b, m, n, k)) {  // the flow's Linear layers: no packing
    gemm_skinny(trans_a, trans_b, m, n, k, a, lda, b, ldb, c, ldc, accumulate, epilogue);
    return;
  }
  if (fast_gemm_enabled()) {
    gemm_fast(trans_a, trans_b, m, n, k, a, lda, b, ldb, c, ldc, accumulate, epilogue);
    return;
  }
  if (m <= 0 || n <= 0) return;
  const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  // About two parts per thread, handed out dynamically (see gemm_fast).
  const int64_t step = threads == 1 || n < 64 * threads
                           ? n
                           : std::max<int64_t>(64, ((n + 2 * threads - 1) / (2 * threads) + 31) / 32 * 32);
  SingleThreadedBlas single;
#pragma omp parallel for schedule(dynamic, 1) if (step < n)
  for (int64_t j = 0; j < n; j += step) {
    const int64_t width = std::min(step, n - j);
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, int(m),
                int(width), int(k), 1.0f, a, int(lda), b + (trans_b ? j * ldb : j), int(ldb),
                accumulate ? 1.0f : 0.0f, c + j, int(ldc));
    if (!epilogue) continue;
    for (int64_t i = 0; i < m; ++i) {
      float* row = c + i * ldc + j;
      if (epilogue->bias)
        for (int64_t q = 0; q < width; ++q) row[q] += epilogue->bias[j + q];
      if (epilogue->relu)
        for (int64_t q = 0; q < width; ++q) row[q] = std::max(row[q], 0.0f);
    }
  }
}

namespace {
// Whether OpenBLAS runs its AVX-512 kernels: the core name that
// OPENBLAS_CORETYPE or its CPU detection chose.
bool blas_runs_avx512() {
  const char* core = openblas_get_corename();
  for (const char* name : {"SkylakeX", "Cooperlake", "SapphireRapids"})
    if (core && std::strcmp(core, name) == 0) return true;
  return false;
}
}  // namespace

bool fast_gemm_enabled() {
  static const bool enabled = [] {
    if (!avx512_supported()) return false;
    const char* env = std::getenv("DIFFERNET_FAST_GEMM");
    if (env && std::strcmp(env, "1") == 0) return true;
    if (env && std::strcmp(env, "0") == 0) return false;
    // Ours against a BLAS on AVX2 kernels wins only where 512-bit FMAs do
    // twice the work of 256-bit ones (measured: on Zen 4 OpenBLAS's Haswell
    // kernels ran the features as fast as or faster than this GEMM).
    return !blas_runs_avx512() && wide_avx512_units();
  }();
  return enabled;
}

}  // namespace differnet::kernels::cpu
