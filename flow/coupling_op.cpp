#include "flow/coupling_op.h"

#include "autograd/dispatch.h"
#include "autograd/node.h"
#include "autograd/ops.h"
#include "kernels/coupling.h"
#include "kernels/coupling_math.h"

namespace differnet {
namespace {

// The half width, after checking that x [batch, half] and r [batch, 2*half] fit together.
int64_t check_coupling_inputs(const char* op, const Tensor& x, const Tensor& r, const char* x_name) {
  check_defined(op, x, x_name);
  check_defined(op, r, "subnet output r");
  check_same_device(op, x, r);
  check_same_dtype(op, x, r);
  DIFFERNET_CHECK(x.dim() == 2 && r.dim() == 2, op, ": needs 2-D tensors, got ", x_name, " ", x.describe(),
                  " and r ", r.describe());
  const int64_t half = x.size(1);
  DIFFERNET_CHECK(r.size(0) == x.size(0) && r.size(1) == 2 * half, op, ": subnet output r ", r.describe(),
                  " must be [", x.size(0), ", ", 2 * half, "] (s and t for each of the ", half, " features of ",
                  x_name, " ", x.describe(), ")");
  if (x.device() == Device::CUDA) detail::check_cuda_float32(op, x);
  return half;
}

// dx, dr from dy, dy_clamped and dlog_det (any may be undefined: zero).
std::vector<Tensor> coupling_backward(const Tensor& x, const Tensor& r, const Tensor& scale, const Tensor& dy,
                                      const Tensor& dy_clamped, const Tensor& dlog_det, double alpha) {
  const int64_t rows = x.size(0), half = x.size(1);
  Tensor dx = Tensor::empty(x.shape(), x.dtype(), x.device());
  Tensor dr = Tensor::empty(r.shape(), r.dtype(), r.device());
  if (x.device() == Device::CPU) {
    detail::dispatch_floating("coupling_affine backward", x, [&](auto tag) {
      using T = decltype(tag);
      kernels::cpu::coupling_backward<T>(x.data<T>(), r.data<T>(), scale.defined() ? scale.data<T>() : nullptr,
                                         dy.defined() ? dy.data<T>() : nullptr,
                                         dy_clamped.defined() ? dy_clamped.data<T>() : nullptr,
                                         dlog_det.defined() ? dlog_det.data<T>() : nullptr, dx.data<T>(),
                                         dr.data<T>(), rows, half, T(alpha));
    });
  } else {
    DIFFERNET_ON_CUDA(kernels::cuda::coupling_backward(
        x.data<float>(), r.data<float>(), dy.defined() ? dy.data<float>() : nullptr,
        dy_clamped.defined() ? dy_clamped.data<float>() : nullptr,
        dlog_det.defined() ? dlog_det.data<float>() : nullptr, dx.data<float>(), dr.data<float>(), rows, half,
        float(alpha)));
  }
  return {dx, dr};
}

}  // namespace

CouplingResult coupling_affine(const Tensor& x, const Tensor& r, double alpha) {
  const int64_t half = check_coupling_inputs("coupling_affine", x, r, "x");
  const int64_t rows = x.size(0);
  CouplingResult out{Tensor::empty(x.shape(), x.dtype(), x.device()), Tensor::empty(x.shape(), x.dtype(), x.device()),
                     Tensor::empty({rows}, x.dtype(), x.device())};
  Tensor scale;  // exp(c(s)), kept for the backward on the CPU
  if (x.device() == Device::CPU) {
    if (needs_recording({x, r})) scale = Tensor::empty(x.shape(), x.dtype(), x.device());
    detail::dispatch_floating("coupling_affine", x, [&](auto tag) {
      using T = decltype(tag);
      kernels::cpu::coupling_forward<T>(x.data<T>(), r.data<T>(), out.y.data<T>(), out.y_clamped.data<T>(),
                                        out.log_det.data<T>(),
                                        scale.defined() ? scale.data<T>() : nullptr, rows, half, T(alpha));
    });
  } else {
    DIFFERNET_ON_CUDA(kernels::cuda::coupling_forward(x.data<float>(), r.data<float>(), out.y.data<float>(),
                                                      out.y_clamped.data<float>(), out.log_det.data<float>(), rows,
                                                      half, float(alpha)));
  }
  const Tensor x_saved = x.detach(), r_saved = r.detach();
  record("coupling_affine", {x, r}, {&out.y, &out.y_clamped, &out.log_det},
         [=](const std::vector<Tensor>& g, const std::vector<bool>&) -> std::vector<Tensor> {
           if (!g[0].defined() && !g[1].defined() && !g[2].defined()) return {Tensor(), Tensor()};
           return coupling_backward(x_saved, r_saved, scale, g[0], g[1], g[2], alpha);
         });
  return out;
}

Tensor coupling_affine_inverse(const Tensor& y, const Tensor& r, double alpha) {
  const int64_t half = check_coupling_inputs("coupling_affine_inverse", y, r, "y");
  const int64_t rows = y.size(0);
  Tensor x = Tensor::empty(y.shape(), y.dtype(), y.device());
  if (y.device() == Device::CPU) {
    detail::dispatch_floating("coupling_affine_inverse", y, [&](auto tag) {
      using T = decltype(tag);
      kernels::cpu::coupling_inverse<T>(y.data<T>(), r.data<T>(), x.data<T>(), rows, half, T(alpha));
    });
  } else {
    DIFFERNET_ON_CUDA(
        kernels::cuda::coupling_inverse(y.data<float>(), r.data<float>(), x.data<float>(), rows, half, float(alpha)));
  }
  return x;
}

CouplingResult coupling_affine_unfused(const Tensor& x, const Tensor& r, double alpha) {
  const int64_t half = check_coupling_inputs("coupling_affine_unfused", x, r, "x");
  const Tensor s = narrow(r, 1, 0, half), t = narrow(r, 1, half, half);
  const Tensor log_scale = mul_scalar(atan(mul_scalar(s, 1.0 / alpha)), alpha * kernels::kSoftClampScale);  // eq. 2
  const Tensor y = add(mul(exp(log_scale), x), t);                                                          // eq. 1
  return {y, y, sum(log_scale, 1)};
}

}  // namespace differnet
