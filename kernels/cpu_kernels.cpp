// CPU reference kernels: OpenMP loops over the shared element math, OpenBLAS for GEMM
// (the AVX-512 GEMM of sgemm_avx512.h is chosen by its callers), Adam vectorised for AVX-512.
#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

#include "kernels/kernels.h"
#include "kernels/random_math.h"
#include "kernels/sgemm_avx512.h"

#include <omp.h>
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#endif

namespace differnet::kernels::cpu {
namespace {
// Below this many elements a parallel region costs more than it saves.
constexpr int64_t kParallelGrain = 1 << 15;
}  // namespace

template <class T>
void unary(UnaryOp op, const T* x, T* y, int64_t n, T alpha) {
  dispatch_unary(op, [&](auto tag) {
#pragma omp parallel for if (n > kParallelGrain)
    for (int64_t i = 0; i < n; ++i) y[i] = unary_apply<decltype(tag)::value>(x[i], alpha);
  });
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
namespace {
// The ReLU's backward for float32 on AVX-512, bit for bit the scalar loops'
// g * unary_derivative (g * 1 or g * 0, so -0 and NaN come out alike), 16
// lanes at a time (lanes outside `in` give 0). The portable build leaves those
// loops at SSE2 width (the double sums below stayed scalar): ~5 % of the
// feature pass with its input gradient, ~3 % of the flow's training step.
// (GCC 12's _mm512_cvtps_pd and _mm512_extractf64x4_pd pass an undefined
// vector through their unused mask operand, which -Wmaybe-uninitialized
// reports: nothing is read.)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
__attribute__((target("avx512f"))) inline __m512 relu_masked(__mmask16 in, const float* g, const float* x) {
  const __mmask16 positive = _mm512_mask_cmp_ps_mask(in, _mm512_maskz_loadu_ps(in, x), _mm512_setzero_ps(), _CMP_GT_OQ);
  return _mm512_mul_ps(_mm512_maskz_loadu_ps(in, g), _mm512_maskz_mov_ps(positive, _mm512_set1_ps(1.0f)));
}

__attribute__((target("avx512f"))) void relu_backward_avx512(const float* x, const float* gy, float* gx, int64_t n) {
#pragma omp parallel for if (n > kParallelGrain)
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 in = __mmask16((1u << std::min<int64_t>(16, n - i)) - 1);
    _mm512_mask_storeu_ps(gx + i, in, relu_masked(in, gy + i, x + i));
  }
}

// linear_backward_epilogue's rows: the masked gradient (when y is given) and
// its double column sums, in row order.
__attribute__((target("avx512f"))) void epilogue_rows_avx512(const float* gy, const float* y, float* gx,
                                                             double* sums, int64_t rows, int64_t cols,
                                                             int64_t width) {
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t j = 0; j < width; j += 16) {
      const __mmask16 in = __mmask16((1u << std::min<int64_t>(16, width - j)) - 1);
      __m512 v;
      if (y) {
        v = relu_masked(in, gy + r * cols + j, y + r * cols + j);
        _mm512_mask_storeu_ps(gx + r * cols + j, in, v);
      } else {
        v = _mm512_maskz_loadu_ps(in, gy + r * cols + j);
      }
      const __m512d low = _mm512_cvtps_pd(_mm512_castps512_ps256(v));
      const __m512d high = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
      _mm512_storeu_pd(sums + j, _mm512_add_pd(_mm512_loadu_pd(sums + j), low));
      _mm512_storeu_pd(sums + j + 8, _mm512_add_pd(_mm512_loadu_pd(sums + j + 8), high));
    }
  }
}
#pragma GCC diagnostic pop
}  // namespace
#endif

template <class T>
void unary_backward(UnaryOp op, const T* x, const T* y, const T* gy, T* gx, int64_t n, T alpha) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  if constexpr (std::is_same_v<T, float>) {
    if (op == UnaryOp::Relu && avx512_supported()) return relu_backward_avx512(x, gy, gx, n);
  }
#endif
  dispatch_unary(op, [&](auto tag) {
#pragma omp parallel for if (n > kParallelGrain)
    for (int64_t i = 0; i < n; ++i) gx[i] = gy[i] * unary_derivative<decltype(tag)::value>(x[i], y[i], alpha);
  });
}

template <class T>
void binary(BinaryOp op, const T* a, const T* b, T* out, int64_t n, const BroadcastIndex* bc) {
  dispatch_binary(op, [&](auto tag) {
    constexpr BinaryOp o = decltype(tag)::value;
    if (!bc) {
#pragma omp parallel for if (n > kParallelGrain)
      for (int64_t i = 0; i < n; ++i) out[i] = binary_apply<o>(a[i], b[i]);
    } else {
#pragma omp parallel for if (n > kParallelGrain)
      for (int64_t i = 0; i < n; ++i) {
        long long ia, ib;
        bc->offsets(i, ia, ib);
        out[i] = binary_apply<o>(a[ia], b[ib]);
      }
    }
  });
}

template <class T>
void accumulate(T* dst, const T* src, int64_t n) {
#pragma omp parallel for if (n > kParallelGrain)
  for (int64_t i = 0; i < n; ++i) dst[i] += src[i];
}

template <class T>
void fill(T* dst, int64_t n, T value) {
#pragma omp parallel for if (n > kParallelGrain)
  for (int64_t i = 0; i < n; ++i) dst[i] = value;
}

// Sums in double for float inputs: reductions over a batch of 96 x 768 stay exact
// to float precision and do not depend on the thread count.
template <class T>
void reduce_sum(const T* x, T* y, DimSplit s) {
  const int64_t outputs = s.outer * s.inner;
#pragma omp parallel for if (outputs * s.len > kParallelGrain && outputs > 1)
  for (int64_t oi = 0; oi < outputs; ++oi) {
    const int64_t o = oi / s.inner, i = oi % s.inner;
    double acc = 0;
    const T* p = x + o * s.len * s.inner + i;
    for (int64_t l = 0; l < s.len; ++l) acc += double(p[l * s.inner]);
    y[oi] = T(acc);
  }
}

template <class T>
void broadcast_copy(const T* x, T* y, int64_t n, const BroadcastIndex& bc) {
#pragma omp parallel for if (n > kParallelGrain)
  for (int64_t i = 0; i < n; ++i) {
    long long ia, ib;
    bc.offsets(i, ia, ib);
    y[i] = x[ia];
  }
}

template <class T>
void gather(const T* x, T* y, DimSplit s, const int64_t* idx, int64_t n_idx) {
#pragma omp parallel for if (s.outer * n_idx * s.inner > kParallelGrain)
  for (int64_t o = 0; o < s.outer; ++o)
    for (int64_t j = 0; j < n_idx; ++j)
      std::memcpy(y + (o * n_idx + j) * s.inner, x + (o * s.len + idx[j]) * s.inner, sizeof(T) * s.inner);
}

template <class T>
void scatter_add(const T* gy, T* gx, DimSplit s, const int64_t* idx, int64_t n_idx) {
  // Parallel over `outer` only: two j with the same index never race.
#pragma omp parallel for if (s.outer * n_idx * s.inner > kParallelGrain)
  for (int64_t o = 0; o < s.outer; ++o)
    for (int64_t j = 0; j < n_idx; ++j) {
      T* dst = gx + (o * s.len + idx[j]) * s.inner;
      const T* src = gy + (o * n_idx + j) * s.inner;
      for (int64_t i = 0; i < s.inner; ++i) dst[i] += src[i];
    }
}

void copy_slab(const void* x, void* y, int64_t outer, int64_t x_len, int64_t y_len, int64_t x_start, int64_t y_start,
               int64_t count, int64_t inner_bytes) {
  const auto* src = static_cast<const unsigned char*>(x);
  auto* dst = static_cast<unsigned char*>(y);
#pragma omp parallel for if (outer * count * inner_bytes > (kParallelGrain << 2))
  for (int64_t o = 0; o < outer; ++o)
    std::memcpy(dst + (o * y_len + y_start) * inner_bytes, src + (o * x_len + x_start) * inner_bytes,
                count * inner_bytes);
}

template <>
void gemm_strided<float>(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
                         const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, int(m), int(n), int(k),
              alpha, a, int(lda), b, int(ldb), beta, c, int(ldc));
}

template <>
void gemm_strided<double>(bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha, const double* a,
                          int64_t lda, const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, int(m), int(n), int(k),
              alpha, a, int(lda), b, int(ldb), beta, c, int(ldc));
}

template <class T>
void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* a, const T* b, T beta, T* c) {
  gemm_strided<T>(ta, tb, m, n, k, alpha, a, ta ? m : k, b, tb ? k : n, beta, c, n);
}
template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, const float*, float, float*);
template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, const double*, double, double*);

template <class T>
void add_row_vector(T* y, const T* bias, int64_t rows, int64_t cols) {
#pragma omp parallel for if (rows * cols > kParallelGrain)
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) y[r * cols + c] += bias[c];
}

// Column blocks of 128 (a double accumulator each, on the stack), rows in
// order within a block: the sums are those of reduce_sum, bit for bit. The
// blocks are handed out dynamically (a thread that lost its core on a shared
// machine does not hold up the rest).
template <class T>
void linear_backward_epilogue(const T* gy, const T* y, T* gx, T* bias_grad, int64_t rows, int64_t cols) {
  constexpr int64_t kBlock = 128;
  const int64_t blocks = (cols + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(dynamic, 1) if (rows * cols > kParallelGrain && blocks > 1)
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t c0 = b * kBlock, width = std::min(kBlock, cols - c0);
    double sums[kBlock] = {};
    bool vectorised = false;  // the rows on AVX-512 where it runs, else the loop below
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if constexpr (std::is_same_v<T, float>) {
      if (avx512_supported()) {
        epilogue_rows_avx512(gy + c0, y ? y + c0 : nullptr, y ? gx + c0 : nullptr, sums, rows, cols, width);
        vectorised = true;
      }
    }
#endif
    for (int64_t r = 0; r < rows && !vectorised; ++r) {
      const T* g = gy + r * cols + c0;
      if (y) {
        const T* yr = y + r * cols + c0;
        T* out = gx + r * cols + c0;
        for (int64_t j = 0; j < width; ++j) {
          out[j] = g[j] * unary_derivative<UnaryOp::Relu>(yr[j], yr[j], T(0));
          sums[j] += double(out[j]);
        }
      } else {
        for (int64_t j = 0; j < width; ++j) sums[j] += double(g[j]);
      }
    }
    if (bias_grad)
      for (int64_t j = 0; j < width; ++j) bias_grad[c0 + j] = T(sums[j]);
  }
}

template <class T>
void resize_nearest(const T* x, T* y, int64_t planes, int h, int w, int oh, int ow) {
#pragma omp parallel for if (planes * oh * ow > kParallelGrain)
  for (int64_t p = 0; p < planes; ++p)
    for (int r = 0; r < oh; ++r) {
      const T* src = x + (p * h + nearest_source_index(r, h, oh)) * w;
      T* dst = y + (p * oh + r) * ow;
      for (int c = 0; c < ow; ++c) dst[c] = src[nearest_source_index(c, w, ow)];
    }
}

// Scatter form: every output gradient is added to the input pixel it was read
// from. An input pixel receives its terms in row-major output order, the order
// of the CUDA kernel's gather over nearest_output_range, so both devices sum
// alike; the source columns are computed once per call, not per pixel.
template <class T>
void resize_nearest_backward(const T* gy, T* gx, int64_t planes, int h, int w, int oh, int ow) {
  std::vector<int> source_column(static_cast<size_t>(ow));
  for (int c = 0; c < ow; ++c) source_column[size_t(c)] = nearest_source_index(c, w, ow);
  const int* sc = source_column.data();
#pragma omp parallel for if (planes * (int64_t(h) * w + int64_t(oh) * ow) > kParallelGrain)
  for (int64_t p = 0; p < planes; ++p) {
    T* plane = gx + p * h * w;
    std::fill(plane, plane + int64_t(h) * w, T(0));
    for (int r = 0; r < oh; ++r) {
      T* dst = plane + int64_t(nearest_source_index(r, h, oh)) * w;
      const T* src = gy + (p * oh + r) * ow;
      for (int c = 0; c < ow; ++c) dst[sc[c]] += src[c];
    }
  }
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
namespace {
// adam_update on 16 elements at a time, the same operations in the same order
// (no FMA contraction: bit-identical to the scalar loop, which the compiler
// does not vectorise because of sqrt's errno), the tail by adam_update itself.
// (_mm512_maskz_sqrt_ps: GCC 12 warns about _mm512_sqrt_ps's undefined pass-through.)
// Memory-bound only once vectorised: 7 x 4 bytes per element at the
// streaming bandwidth (docs/performance.md).
__attribute__((target("avx512f"), optimize("fp-contract=off"))) void adam_step_avx512(
    float* p, const float* g, float* m, float* v, int64_t n, const AdamParams& a) {
  const __m512 weight_decay = _mm512_set1_ps(a.weight_decay), beta1 = _mm512_set1_ps(a.beta1),
               beta2 = _mm512_set1_ps(a.beta2), one_minus_beta1 = _mm512_set1_ps(a.one_minus_beta1),
               one_minus_beta2 = _mm512_set1_ps(a.one_minus_beta2), eps = _mm512_set1_ps(a.eps),
               sqrt_bc2 = _mm512_set1_ps(a.sqrt_bias_correction2), step = _mm512_set1_ps(a.lr / a.bias_correction1);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m512 pi = _mm512_loadu_ps(p + i), mi = _mm512_loadu_ps(m + i), vi = _mm512_loadu_ps(v + i);
    const __m512 gi = _mm512_add_ps(_mm512_loadu_ps(g + i), _mm512_mul_ps(weight_decay, pi));
    mi = _mm512_add_ps(_mm512_mul_ps(beta1, mi), _mm512_mul_ps(one_minus_beta1, gi));
    vi = _mm512_add_ps(_mm512_mul_ps(beta2, vi), _mm512_mul_ps(_mm512_mul_ps(one_minus_beta2, gi), gi));
    const __m512 denom = _mm512_add_ps(_mm512_div_ps(_mm512_maskz_sqrt_ps(__mmask16(0xFFFF), vi), sqrt_bc2), eps);
    pi = _mm512_sub_ps(pi, _mm512_div_ps(_mm512_mul_ps(step, mi), denom));
    _mm512_storeu_ps(p + i, pi);
    _mm512_storeu_ps(m + i, mi);
    _mm512_storeu_ps(v + i, vi);
  }
  for (; i < n; ++i) adam_update(p[i], g[i], m[i], v[i], a);
}
}  // namespace
#endif

void adam_step(float* p, const float* g, float* m, float* v, int64_t n, const AdamParams& a) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  if (avx512_supported()) {  // one contiguous range per thread
    const int threads = n > kParallelGrain ? omp_get_max_threads() : 1;
    const int64_t chunk = ((n + threads - 1) / threads + 15) / 16 * 16;
#pragma omp parallel for num_threads(threads) schedule(static, 1)
    for (int64_t start = 0; start < n; start += chunk)
      adam_step_avx512(p + start, g + start, m + start, v + start, std::min(chunk, n - start), a);
    return;
  }
#endif
#pragma omp parallel for if (n > kParallelGrain)
  for (int64_t i = 0; i < n; ++i) adam_update(p[i], g[i], m[i], v[i], a);
}

template <class T>
void fill_uniform(T* y, int64_t n, uint64_t seed, uint64_t offset, T low, T high) {
#pragma omp parallel for if (n > kParallelGrain)
  for (int64_t i = 0; i < n; ++i) y[i] = T(uniform_value(seed, offset + uint64_t(i), double(low), double(high)));
}

template <class T>
void fill_normal(T* y, int64_t n, uint64_t seed, uint64_t offset, T mean, T std) {
#pragma omp parallel for if (n > kParallelGrain)
  for (int64_t i = 0; i < n; ++i) y[i] = T(normal_value(seed, offset + uint64_t(i), double(mean), double(std)));
}

// A count, not an early exit: the branch-free loop vectorises (non-finite
// values are the rare case, and a guard reads everything when all is well).
template <class T>
bool all_finite(const T* x, int64_t n) {
  int64_t bad = 0;
#pragma omp parallel for reduction(+ : bad) if (n > kParallelGrain)
  for (int64_t i = 0; i < n; ++i) bad += is_finite_value(x[i]) ? 0 : 1;
  return bad == 0;
}

#define DIFFERNET_INSTANTIATE_FLOATING(T)                                                                   \
  template void unary<T>(UnaryOp, const T*, T*, int64_t, T);                                                \
  template void unary_backward<T>(UnaryOp, const T*, const T*, const T*, T*, int64_t, T);                   \
  template void binary<T>(BinaryOp, const T*, const T*, T*, int64_t, const BroadcastIndex*);                \
  template void accumulate<T>(T*, const T*, int64_t);                                                       \
  template void reduce_sum<T>(const T*, T*, DimSplit);                                                      \
  template void gather<T>(const T*, T*, DimSplit, const int64_t*, int64_t);                                 \
  template void scatter_add<T>(const T*, T*, DimSplit, const int64_t*, int64_t);                            \
  template void add_row_vector<T>(T*, const T*, int64_t, int64_t);                                          \
  template void linear_backward_epilogue<T>(const T*, const T*, T*, T*, int64_t, int64_t);                 \
  template void resize_nearest_backward<T>(const T*, T*, int64_t, int, int, int, int);                      \
  template void fill_uniform<T>(T*, int64_t, uint64_t, uint64_t, T, T);                                     \
  template void fill_normal<T>(T*, int64_t, uint64_t, uint64_t, T, T);                                     \
  template bool all_finite<T>(const T*, int64_t);

DIFFERNET_INSTANTIATE_FLOATING(float)
DIFFERNET_INSTANTIATE_FLOATING(double)

#define DIFFERNET_INSTANTIATE_ANY(T)                                            \
  template void fill<T>(T*, int64_t, T);                                        \
  template void broadcast_copy<T>(const T*, T*, int64_t, const BroadcastIndex&); \
  template void resize_nearest<T>(const T*, T*, int64_t, int, int, int, int);

DIFFERNET_INSTANTIATE_ANY(float)
DIFFERNET_INSTANTIATE_ANY(double)
DIFFERNET_INSTANTIATE_ANY(uint8_t)

}  // namespace differnet::kernels::cpu
