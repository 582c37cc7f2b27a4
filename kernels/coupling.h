// Fused kernels of the affine coupling (paper eqs. 1 and 2): raw pointers, no
// tensors. Layout: x, y, dx are [rows, half]; r = [s | t] and dr are
// [rows, 2*half] (s = r[:, :half], t = r[:, half:]); log_det and its gradient
// are [rows]. `cpu::` is the reference (OpenMP, float and double); `cuda::`
// computes the same in float32 and exists only in CUDA builds. The element
// math is kernels/coupling_math.h.
#pragma once
#include <cstdint>

namespace differnet::kernels {

namespace cpu {
// y = exp(c(s)) * x + t, y_clamped = clamp(y, -1e6, 1e6),
// log_det[row] = sum_j c(s[row, j]); one pass. When `scale` is not null it
// receives exp(c(s)) [rows, half] for the backward: on the CPU the atan and
// exp cost more than storing their result.
template <class T> void coupling_forward(const T* x, const T* r, T* y, T* y_clamped, T* log_det, T* scale,
                                         int64_t rows, int64_t half, T alpha);
// dx and dr from dy, dy_clamped and dlog_det in one pass; any of the three may
// be null (zero gradient); `scale` is the forward's, or null to recompute it.
template <class T> void coupling_backward(const T* x, const T* r, const T* scale, const T* dy, const T* dy_clamped,
                                          const T* dlog_det, T* dx, T* dr, int64_t rows, int64_t half, T alpha);
// x = (y - t) * exp(-c(s)).
template <class T> void coupling_inverse(const T* y, const T* r, T* x, int64_t rows, int64_t half, T alpha);
}  // namespace cpu

// The GPU recomputes exp(c(s)) in the backward: there memory traffic, not math, is the cost.
namespace cuda {
void coupling_forward(const float* x, const float* r, float* y, float* y_clamped, float* log_det, int64_t rows,
                      int64_t half, float alpha);
void coupling_backward(const float* x, const float* r, const float* dy, const float* dy_clamped,
                       const float* dlog_det, float* dx, float* dr, int64_t rows, int64_t half, float alpha);
void coupling_inverse(const float* y, const float* r, float* x, int64_t rows, int64_t half, float alpha);
}  // namespace cuda

}  // namespace differnet::kernels
