// Element-wise ops: unary math, scalar arithmetic and broadcasting binary ops.
#include <algorithm>

#include "autograd/broadcast.h"
#include "autograd/dispatch.h"
#include "autograd/node.h"
#include "autograd/ops.h"

namespace differnet {
namespace {

using kernels::BinaryOp;
using kernels::UnaryOp;

void unary_kernel(UnaryOp op, const char* name, const Tensor& x, Tensor& y, double alpha) {
  if (x.device() == Device::CPU) {
    detail::dispatch_floating(name, x, [&](auto tag) {
      using T = decltype(tag);
      kernels::cpu::unary<T>(op, x.data<T>(), y.data<T>(), x.numel(), T(alpha));
    });
  } else {
    detail::check_cuda_float32(name, x);
    DIFFERNET_ON_CUDA(kernels::cuda::unary(op, x.data<float>(), y.data<float>(), x.numel(), float(alpha)));
  }
}

// gx = gy * f'(x), with f' from kernels/elementwise_math.h.
Tensor unary_backward_kernel(UnaryOp op, const char* name, const Tensor& x, const Tensor& y, const Tensor& gy,
                             double alpha) {
  Tensor gx = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (x.device() == Device::CPU) {
    detail::dispatch_floating(name, x, [&](auto tag) {
      using T = decltype(tag);
      kernels::cpu::unary_backward<T>(op, x.data<T>(), y.data<T>(), gy.data<T>(), gx.data<T>(), x.numel(), T(alpha));
    });
  } else {
    DIFFERNET_ON_CUDA(kernels::cuda::unary_backward(op, x.data<float>(), y.data<float>(), gy.data<float>(),
                                                    gx.data<float>(), x.numel(), float(alpha)));
  }
  return gx;
}

Tensor unary(UnaryOp op, const char* name, const Tensor& x, double alpha = 0.0) {
  check_defined(name, x, "input");
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  unary_kernel(op, name, x, y, alpha);
  Tensor x_saved = x.detach(), y_saved = y.detach();
  record(name, {x}, {&y}, [=](const std::vector<Tensor>& g, const std::vector<bool>&) -> std::vector<Tensor> {
    if (!g[0].defined()) return {Tensor()};
    return {unary_backward_kernel(op, name, x_saved, y_saved, g[0], alpha)};
  });
  return y;
}

Tensor binary(BinaryOp op, const char* name, const Tensor& a, const Tensor& b) {
  check_defined(name, a, "first operand");
  check_defined(name, b, "second operand");
  check_same_device(name, a, b);
  check_same_dtype(name, a, b);
  const Shape out_shape = a.shape() == b.shape() ? a.shape() : detail::broadcast_shape(name, a.shape(), b.shape());
  Tensor out = Tensor::empty(out_shape, a.dtype(), a.device());
  kernels::BroadcastIndex bc;
  const bool broadcasting = a.shape() != b.shape();
  if (broadcasting) bc = detail::broadcast_index(name, out_shape, a.shape(), b.shape());
  const kernels::BroadcastIndex* bcp = broadcasting ? &bc : nullptr;
  if (a.device() == Device::CPU) {
    detail::dispatch_floating(name, a, [&](auto tag) {
      using T = decltype(tag);
      kernels::cpu::binary<T>(op, a.data<T>(), b.data<T>(), out.data<T>(), out.numel(), bcp);
    });
  } else {
    detail::check_cuda_float32(name, a);
    DIFFERNET_ON_CUDA(kernels::cuda::binary(op, a.data<float>(), b.data<float>(), out.data<float>(), out.numel(), bcp));
  }
  // The backward is written with the ops themselves; sum_to undoes the broadcast.
  const Tensor a_saved = a.detach(), b_saved = b.detach();
  const Shape a_shape = a.shape(), b_shape = b.shape();
  record(name, {a, b}, {&out}, [=](const std::vector<Tensor>& g, const std::vector<bool>& needs) -> std::vector<Tensor> {
    const Tensor& gy = g[0];
    if (!gy.defined()) return {Tensor(), Tensor()};
    Tensor ga, gb;
    switch (op) {
      case BinaryOp::Add:
        if (needs[0]) ga = gy;
        if (needs[1]) gb = gy;
        break;
      case BinaryOp::Sub:
        if (needs[0]) ga = gy;
        if (needs[1]) gb = neg(gy);
        break;
      case BinaryOp::Mul:
        if (needs[0]) ga = mul(gy, b_saved);
        if (needs[1]) gb = mul(gy, a_saved);
        break;
      case BinaryOp::Div:
        if (needs[0]) ga = div(gy, b_saved);
        if (needs[1]) gb = neg(div(mul(gy, a_saved), square(b_saved)));
        break;
    }
    if (ga.defined()) ga = sum_to(ga, a_shape);
    if (gb.defined()) gb = sum_to(gb, b_shape);
    return {ga, gb};
  });
  return out;
}

}  // namespace

Tensor neg(const Tensor& x) { return unary(UnaryOp::Neg, "neg", x); }
Tensor exp(const Tensor& x) { return unary(UnaryOp::Exp, "exp", x); }
Tensor log(const Tensor& x) { return unary(UnaryOp::Log, "log", x); }
Tensor atan(const Tensor& x) { return unary(UnaryOp::Atan, "atan", x); }
Tensor relu(const Tensor& x) { return unary(UnaryOp::Relu, "relu", x); }
Tensor square(const Tensor& x) { return unary(UnaryOp::Square, "square", x); }
Tensor sqrt(const Tensor& x) { return unary(UnaryOp::Sqrt, "sqrt", x); }
Tensor add_scalar(const Tensor& x, double s) { return unary(UnaryOp::AddScalar, "add_scalar", x, s); }
Tensor mul_scalar(const Tensor& x, double s) { return unary(UnaryOp::MulScalar, "mul_scalar", x, s); }
Tensor rsub_scalar(double s, const Tensor& x) { return unary(UnaryOp::RSubScalar, "rsub_scalar", x, s); }

Tensor add(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Add, "add", a, b); }
Tensor sub(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Sub, "sub", a, b); }
Tensor mul(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Mul, "mul", a, b); }
Tensor div(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Div, "div", a, b); }

void add_(Tensor& dst, const Tensor& src) {
  check_same_shape("add_", dst, src);
  check_same_device("add_", dst, src);
  check_same_dtype("add_", dst, src);
  if (dst.device() == Device::CPU) {
    detail::dispatch_floating("add_", dst, [&](auto tag) {
      using T = decltype(tag);
      kernels::cpu::accumulate<T>(dst.data<T>(), src.data<T>(), dst.numel());
    });
  } else {
    detail::check_cuda_float32("add_", dst);
    DIFFERNET_ON_CUDA(kernels::cuda::accumulate(dst.data<float>(), src.data<float>(), dst.numel()));
  }
}

}  // namespace differnet
