// CPU reference of 2-D max pooling: OpenMP over the planes.
#include <algorithm>
#include <type_traits>
#include <vector>

#include "kernels/pool.h"
#include "kernels/sgemm_avx512.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define DIFFERNET_POOL_AVX512 1
#include <immintrin.h>
#else
#define DIFFERNET_POOL_AVX512 0
#endif

namespace differnet::kernels::cpu {
namespace {

// Outputs [ow_lo, ow_hi) have their whole window inside the row.
void interior_columns(const Pool2dGeometry& g, int& ow_lo, int& ow_hi) {
  ow_lo = std::min(g.out_w, (g.pad_w + g.stride_w - 1) / g.stride_w);
  ow_hi = std::max(ow_lo, std::min(g.out_w, g.in_w + g.pad_w - g.kernel_w >= 0
                                                ? (g.in_w + g.pad_w - g.kernel_w) / g.stride_w + 1
                                                : 0));
}

#if DIFFERNET_POOL_AVX512
// max_pool_argmax of the 16 interior windows of outputs ow .. ow+15 in the
// rows `rows`, one per lane: the same scan (row-major, first maximum, the
// first NaN), with the choice made by masks instead of branches (ReLU outputs
// make the maxima's places unpredictable: the scalar scan mispredicted).
__attribute__((target("avx512f"))) void argmax16(const float* plane, const Pool2dGeometry& g, PoolWindow rows, int ow,
                                                 int* out) {
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i first_col = _mm512_add_epi32(_mm512_mullo_epi32(lane, _mm512_set1_epi32(g.stride_w)),
                                             _mm512_set1_epi32(ow * g.stride_w - g.pad_w));
  __m512i best = _mm512_add_epi32(first_col, _mm512_set1_epi32(rows.start * g.in_w));
  __m512 best_value = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), __mmask16(0xFFFF), best, plane, 4);
  for (int r = rows.start; r < rows.end; ++r)
    for (int c = 0; c < g.kernel_w; ++c) {
      const __m512i at = _mm512_add_epi32(first_col, _mm512_set1_epi32(r * g.in_w + c));
      const __m512 v = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), __mmask16(0xFFFF), at, plane, 4);
      // max_pool_takes(best_value, v): v > best, or v is the first NaN.
      const __mmask16 takes = _mm512_cmp_ps_mask(v, best_value, _CMP_GT_OQ) |
                              (_mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q) & _mm512_cmp_ps_mask(best_value, best_value, _CMP_ORD_Q));
      best_value = _mm512_mask_blend_ps(takes, best_value, v);
      best = _mm512_mask_blend_epi32(takes, best, at);
    }
  _mm512_storeu_si512(out, best);
}
#endif

}  // namespace

// Separable: per output row, the maximum over the window's rows for every
// input column (m), then the maximum over each window's columns. Both passes
// are contiguous loops that vectorise: the second computes the k-wide maximum
// h[j] = max(m[j .. j+k-1]) at every column j and picks every stride-th; only
// windows cut by the padding or ceil_mode take the generic per-window loop.
// The values equal those of max_pool_argmax (a maximum, and whether a window
// holds a NaN, do not depend on the order).
template <class T>
void max_pool2d(const Pool2dGeometry& g, const T* x, T* y) {
  const int64_t in_plane = int64_t(g.in_h) * g.in_w, out_plane = int64_t(g.out_h) * g.out_w;
  int ow_lo, ow_hi;
  interior_columns(g, ow_lo, ow_hi);
  const int spans = g.in_w - g.kernel_w + 1;  // columns j with a whole window m[j .. j+k-1]
#pragma omp parallel if (g.planes * out_plane > (1 << 14))
  {
    std::vector<T> column_max(size_t(g.in_w)), window_max(size_t(std::max(spans, 1)));
    T* m = column_max.data();
    T* h = window_max.data();
#pragma omp for
    for (int64_t p = 0; p < g.planes; ++p) {
      const T* xp = x + p * in_plane;
      T* yp = y + p * out_plane;
      for (int oh = 0; oh < g.out_h; ++oh) {
        const PoolWindow rows = pool_window(oh, g.kernel_h, g.stride_h, g.pad_h, g.in_h);
        std::copy(xp + rows.start * g.in_w, xp + (rows.start + 1) * g.in_w, m);
        for (int r = rows.start + 1; r < rows.end; ++r) {
          const T* row = xp + r * g.in_w;
          for (int c = 0; c < g.in_w; ++c) m[c] = max_pool_takes(m[c], row[c]) ? row[c] : m[c];
        }
        T* out = yp + oh * g.out_w;
        if (ow_hi > ow_lo) {
          std::copy(m, m + spans, h);
          for (int t = 1; t < g.kernel_w; ++t)
            for (int j = 0; j < spans; ++j) h[j] = max_pool_takes(h[j], m[j + t]) ? m[j + t] : h[j];
          for (int ow = ow_lo; ow < ow_hi; ++ow) out[ow] = h[ow * g.stride_w - g.pad_w];
        }
        for (int ow = 0; ow < g.out_w; ++ow) {
          if (ow == ow_lo) ow = std::max(ow, ow_hi);  // skip the interior, done above
          if (ow >= g.out_w) break;
          const PoolWindow cols = pool_window(ow, g.kernel_w, g.stride_w, g.pad_w, g.in_w);
          T best = m[cols.start];
          for (int c = cols.start + 1; c < cols.end; ++c) best = max_pool_takes(best, m[c]) ? m[c] : best;
          out[ow] = best;
        }
      }
    }
  }
}

// Scatter form: each output adds its gradient to its window's maximum (9 reads
// per output instead of pool_math.h's gather over every covering window). An
// input pixel receives its terms in increasing output order, as in the CUDA
// gather, so both devices sum in the same order. In float32 on AVX-512 CPUs
// the maxima of 16 interior windows at a time come from argmax16 (then added
// in the same order).
template <class T>
void max_pool2d_backward(const Pool2dGeometry& g, const T* x, const T* gy, T* gx) {
  const int64_t in_plane = int64_t(g.in_h) * g.in_w, out_plane = int64_t(g.out_h) * g.out_w;
  int ow_lo, ow_hi;
  interior_columns(g, ow_lo, ow_hi);
  const bool vector = DIFFERNET_POOL_AVX512 && std::is_same_v<T, float> && avx512_supported();
#pragma omp parallel for if (g.planes * out_plane > (1 << 14))
  for (int64_t p = 0; p < g.planes; ++p) {
    const T* xp = x + p * in_plane;
    const T* gyp = gy + p * out_plane;
    T* gxp = gx + p * in_plane;
    std::fill(gxp, gxp + in_plane, T(0));
    for (int oh = 0; oh < g.out_h; ++oh) {
      const T* gy_row = gyp + oh * g.out_w;
      int ow = 0;
#if DIFFERNET_POOL_AVX512
      if constexpr (std::is_same_v<T, float>) {
        if (vector) {
          for (; ow < ow_lo; ++ow) gxp[max_pool_argmax(xp, g, oh, ow)] += gy_row[ow];
          const PoolWindow rows = pool_window(oh, g.kernel_h, g.stride_h, g.pad_h, g.in_h);
          alignas(64) int best[16];
          for (; ow + 16 <= ow_hi; ow += 16) {
            argmax16(xp, g, rows, ow, best);
            for (int i = 0; i < 16; ++i) gxp[best[i]] += gy_row[ow + i];
          }
        }
      }
#endif
      for (; ow < g.out_w; ++ow) gxp[max_pool_argmax(xp, g, oh, ow)] += gy_row[ow];
    }
  }
}

template void max_pool2d<float>(const Pool2dGeometry&, const float*, float*);
template void max_pool2d<double>(const Pool2dGeometry&, const double*, double*);
template void max_pool2d_backward<float>(const Pool2dGeometry&, const float*, const float*, float*);
template void max_pool2d_backward<double>(const Pool2dGeometry&, const double*, const double*, double*);

}  // namespace differnet::kernels::cpu
