// CPU reference of the fused coupling kernels: one OpenMP loop over the rows,
// each row in one pass over its features, calling kernels/coupling_math.h.
#include "kernels/coupling.h"
#include "kernels/coupling_math.h"

namespace differnet::kernels::cpu {
namespace {
constexpr int64_t kParallelGrain = 1 << 14;  // elements below which threads cost more than they save
}  // namespace

template <class T>
void coupling_forward(const T* x, const T* r, T* y, T* y_clamped, T* log_det, T* scale, int64_t rows, int64_t half,
                      T alpha) {
#pragma omp parallel for if (rows * half > kParallelGrain)
  for (int64_t row = 0; row < rows; ++row) {
    const T* s = r + row * 2 * half;
    const T* t = s + half;
    const T* xr = x + row * half;
    T* yr = y + row * half;
    T* yc = y_clamped + row * half;
    double sum = 0;  // in double: the float32 log-det does not depend on the summation order
    for (int64_t j = 0; j < half; ++j) {
      T log_scale, e;
      yr[j] = coupling_forward_element(xr[j], s[j], t[j], alpha, log_scale, e);
      yc[j] = hard_clamp(yr[j]);
      if (scale) scale[row * half + j] = e;
      sum += double(log_scale);
    }
    log_det[row] = T(sum);
  }
}

template <class T>
void coupling_backward(const T* x, const T* r, const T* scale, const T* dy, const T* dy_clamped, const T* dlog_det,
                       T* dx, T* dr, int64_t rows, int64_t half, T alpha) {
#pragma omp parallel for if (rows * half > kParallelGrain)
  for (int64_t row = 0; row < rows; ++row) {
    const T* s = r + row * 2 * half;
    const T* t = s + half;
    const T* xr = x + row * half;
    T* ds = dr + row * 2 * half;
    T* dt = ds + half;
    T* dxr = dx + row * half;
    const T dld = dlog_det ? dlog_det[row] : T(0);
    for (int64_t j = 0; j < half; ++j) {
      const T g = dy ? dy[row * half + j] : T(0);
      const T gc = dy_clamped ? dy_clamped[row * half + j] : T(0);
      const T e = scale ? scale[row * half + j] : coupling_scale(s[j], alpha);
      coupling_backward_element(xr[j], s[j], t[j], e, alpha, g, gc, dld, dxr[j], ds[j], dt[j]);
    }
  }
}

template <class T>
void coupling_inverse(const T* y, const T* r, T* x, int64_t rows, int64_t half, T alpha) {
#pragma omp parallel for if (rows * half > kParallelGrain)
  for (int64_t row = 0; row < rows; ++row) {
    const T* s = r + row * 2 * half;
    const T* t = s + half;
    for (int64_t j = 0; j < half; ++j)
      x[row * half + j] = coupling_inverse_element(y[row * half + j], s[j], t[j], alpha);
  }
}

#define DIFFERNET_INSTANTIATE(T)                                                                           \
  template void coupling_forward<T>(const T*, const T*, T*, T*, T*, T*, int64_t, int64_t, T);                      \
  template void coupling_backward<T>(const T*, const T*, const T*, const T*, const T*, const T*, T*, T*, int64_t,    \
                                     int64_t, T);                                                                    \
  template void coupling_inverse<T>(const T*, const T*, T*, int64_t, int64_t, T);
DIFFERNET_INSTANTIATE(float)
DIFFERNET_INSTANTIATE(double)
#undef DIFFERNET_INSTANTIATE

}  // namespace differnet::kernels::cpu
