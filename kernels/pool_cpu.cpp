// CPU reference of 2-D max pooling: OpenMP over the planes.
#include <algorithm>
#include <vector>

#include "kernels/pool.h"

namespace differnet::kernels::cpu {

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
  // Outputs [ow_lo, ow_hi) have their whole window inside the row.
  const int ow_lo = std::min(g.out_w, (g.pad_w + g.stride_w - 1) / g.stride_w);
  const int ow_hi = std::max(ow_lo, std::min(g.out_w, g.in_w + g.pad_w - g.kernel_w >= 0
                                                          ? (g.in_w + g.pad_w - g.kernel_w) / g.stride_w + 1
                                                          : 0));
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
// gather, so both devices sum in the same order.
template <class T>
void max_pool2d_backward(const Pool2dGeometry& g, const T* x, const T* gy, T* gx) {
  const int64_t in_plane = int64_t(g.in_h) * g.in_w, out_plane = int64_t(g.out_h) * g.out_w;
#pragma omp parallel for if (g.planes * out_plane > (1 << 14))
  for (int64_t p = 0; p < g.planes; ++p) {
    const T* xp = x + p * in_plane;
    const T* gyp = gy + p * out_plane;
    T* gxp = gx + p * in_plane;
    std::fill(gxp, gxp + in_plane, T(0));
    for (int oh = 0; oh < g.out_h; ++oh)
      for (int ow = 0; ow < g.out_w; ++ow) gxp[max_pool_argmax(xp, g, oh, ow)] += gyp[oh * g.out_w + ow];
  }
}

template void max_pool2d<float>(const Pool2dGeometry&, const float*, float*);
template void max_pool2d<double>(const Pool2dGeometry&, const double*, double*);
template void max_pool2d_backward<float>(const Pool2dGeometry&, const float*, const float*, float*);
template void max_pool2d_backward<double>(const Pool2dGeometry&, const double*, const double*, double*);

}  // namespace differnet::kernels::cpu
