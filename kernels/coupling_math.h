// Element math of the flow's affine coupling (paper eqs. 1 and 2), written once
// for the CPU loops (kernels/coupling_cpu.cpp) and the CUDA kernels
// (kernels/coupling.cu). docs/flow.md derives every formula here.
#pragma once
#include <cmath>

#include "kernels/elementwise_math.h"
#include "kernels/hd.h"

namespace differnet::kernels {

// 0.636 approximates 2/pi; the published DifferNet code uses 0.636 literally,
// so we do too (the paper writes 2*alpha/pi).
constexpr double kSoftClampScale = 0.636;
// The block's output [y1, y2] is hard-clamped to [-kHardClamp, kHardClamp]
// (published code); subnet1 reads the unclamped y1.
constexpr double kHardClamp = 1e6;

// paper eq. 2: soft clamp c(s) = alpha * 0.636 * atan(s / alpha), bounded by
// +-0.636 * alpha * pi / 2 (about +-3 for alpha = 3) and close to s near 0.
template <class T>
DIFFERNET_HD T soft_clamp(T s, T alpha) {
  return alpha * T(kSoftClampScale) * DIFFERNET_MATH(atan)(s / alpha);
}

// dc/ds = 0.636 / (1 + (s / alpha)^2).
template <class T>
DIFFERNET_HD T soft_clamp_derivative(T s, T alpha) {
  const T u = s / alpha;
  return T(kSoftClampScale) / (T(1) + u * u);
}

// paper eq. 1: y = exp(c(s)) * x + t (before the hard clamp). Returns y and
// writes c(s), the element's contribution to log|det J|, and the scale exp(c(s)).
template <class T>
DIFFERNET_HD T coupling_forward_element(T x, T s, T t, T alpha, T& log_scale, T& scale) {
  log_scale = soft_clamp(s, alpha);
  scale = DIFFERNET_MATH(exp)(log_scale);
  return scale * x + t;
}

// Whether the hard clamp leaves y as it is (false for NaN, like torch.clamp's mask).
template <class T>
DIFFERNET_HD bool inside_hard_clamp(T y) {
  return y <= T(kHardClamp) && y >= -T(kHardClamp);
}

// The published code's hard clamp of the block output, torch.clamp(y, -1e6, 1e6).
template <class T>
DIFFERNET_HD T hard_clamp(T y) {
  return y > T(kHardClamp) ? T(kHardClamp) : (y < -T(kHardClamp) ? -T(kHardClamp) : y);
}

// The scale exp(c(s)) of eq. 1.
template <class T>
DIFFERNET_HD T coupling_scale(T s, T alpha) {
  return DIFFERNET_MATH(exp)(soft_clamp(s, alpha));
}

// Backward of one element, given its scale exp(c(s)) (saved by the forward or
// recomputed), dy (gradient of the unclamped y, which subnet1 reads),
// dy_clamped (gradient of the clamped output) and dlogdet (gradient of the
// sample's log-det, to which c(s) adds). The hard clamp passes dy_clamped only
// where it is inactive (|y| <= 1e6), as torch.clamp does.
template <class T>
DIFFERNET_HD void coupling_backward_element(T x, T s, T t, T scale, T alpha, T dy, T dy_clamped, T dlogdet, T& dx,
                                            T& ds, T& dt) {
  const T g = dy + (inside_hard_clamp(scale * x + t) ? dy_clamped : T(0));
  dx = g * scale;
  dt = g;
  ds = (g * scale * x + dlogdet) * soft_clamp_derivative(s, alpha);
}

// Inverse of eq. 1: x = (y - t) * exp(-c(s)).
template <class T>
DIFFERNET_HD T coupling_inverse_element(T y, T s, T t, T alpha) {
  return (y - t) * DIFFERNET_MATH(exp)(-soft_clamp(s, alpha));
}

}  // namespace differnet::kernels
