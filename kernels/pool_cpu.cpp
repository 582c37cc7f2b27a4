// CPU reference of 2-D max pooling: OpenMP over the planes.
#include <algorithm>

#include "kernels/pool.h"

namespace differnet::kernels::cpu {

template <class T>
void max_pool2d(const Pool2dGeometry& g, const T* x, T* y) {
  const int64_t in_plane = int64_t(g.in_h) * g.in_w, out_plane = int64_t(g.out_h) * g.out_w;
#pragma omp parallel for if (g.planes * out_plane > (1 << 14))
  for (int64_t p = 0; p < g.planes; ++p) {
    const T* xp = x + p * in_plane;
    T* yp = y + p * out_plane;
    for (int oh = 0; oh < g.out_h; ++oh)
      for (int ow = 0; ow < g.out_w; ++ow) yp[oh * g.out_w + ow] = xp[max_pool_argmax(xp, g, oh, ow)];
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
