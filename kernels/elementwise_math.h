// Element math of the element-wise ops and their derivatives. Every CPU loop
// and every CUDA kernel in kernels/ calls these functions, so the two backends
// compute the same formula by construction.
#pragma once
#include <cmath>
#include <type_traits>
#include <utility>

#include "kernels/hd.h"

namespace differnet::kernels {

// Overloaded math that resolves to the float or double version on both sides
// (CUDA declares the float overloads globally; on the host they live in std).
#ifdef __CUDA_ARCH__
#define DIFFERNET_MATH(fn) ::fn
#else
#define DIFFERNET_MATH(fn) std::fn
#endif

// `alpha` is the scalar of the *Scalar ops and is ignored by the others.
enum class UnaryOp : int { Neg, Exp, Log, Atan, Relu, Square, Sqrt, AddScalar, MulScalar, RSubScalar };
enum class BinaryOp : int { Add, Sub, Mul, Div };

template <UnaryOp op, class T>
DIFFERNET_HD T unary_apply(T x, T alpha) {
  if constexpr (op == UnaryOp::Neg) return -x;
  else if constexpr (op == UnaryOp::Exp) return DIFFERNET_MATH(exp)(x);
  else if constexpr (op == UnaryOp::Log) return DIFFERNET_MATH(log)(x);
  else if constexpr (op == UnaryOp::Atan) return DIFFERNET_MATH(atan)(x);
  else if constexpr (op == UnaryOp::Relu) return x > T(0) ? x : T(0);
  else if constexpr (op == UnaryOp::Square) return x * x;
  else if constexpr (op == UnaryOp::Sqrt) return DIFFERNET_MATH(sqrt)(x);
  else if constexpr (op == UnaryOp::AddScalar) return x + alpha;
  else if constexpr (op == UnaryOp::MulScalar) return x * alpha;
  else return alpha - x;  // RSubScalar
}

// d(out)/d(x), given the input x and the output y = unary_apply(x).
template <UnaryOp op, class T>
DIFFERNET_HD T unary_derivative(T x, T y, T alpha) {
  if constexpr (op == UnaryOp::Neg) return T(-1);
  else if constexpr (op == UnaryOp::Exp) return y;
  else if constexpr (op == UnaryOp::Log) return T(1) / x;
  else if constexpr (op == UnaryOp::Atan) return T(1) / (T(1) + x * x);
  else if constexpr (op == UnaryOp::Relu) return x > T(0) ? T(1) : T(0);
  else if constexpr (op == UnaryOp::Square) return T(2) * x;
  else if constexpr (op == UnaryOp::Sqrt) return T(0.5) / y;
  else if constexpr (op == UnaryOp::AddScalar) return T(1);
  else if constexpr (op == UnaryOp::MulScalar) return alpha;
  else return T(-1);  // RSubScalar
}

// Neither NaN nor an infinity: the non-finite guard of a training step (all_finite).
template <class T>
DIFFERNET_HD bool is_finite_value(T x) {
  return DIFFERNET_MATH(isfinite)(x);
}

template <BinaryOp op, class T>
DIFFERNET_HD T binary_apply(T a, T b) {
  if constexpr (op == BinaryOp::Add) return a + b;
  else if constexpr (op == BinaryOp::Sub) return a - b;
  else if constexpr (op == BinaryOp::Mul) return a * b;
  else return a / b;
}

// Calls f(std::integral_constant<UnaryOp, op>{}) for the runtime value `op`,
// so that loops are instantiated once per op with no switch inside them.
template <class F>
void dispatch_unary(UnaryOp op, F&& f) {
  using U = UnaryOp;
  switch (op) {
    case U::Neg: f(std::integral_constant<U, U::Neg>{}); break;
    case U::Exp: f(std::integral_constant<U, U::Exp>{}); break;
    case U::Log: f(std::integral_constant<U, U::Log>{}); break;
    case U::Atan: f(std::integral_constant<U, U::Atan>{}); break;
    case U::Relu: f(std::integral_constant<U, U::Relu>{}); break;
    case U::Square: f(std::integral_constant<U, U::Square>{}); break;
    case U::Sqrt: f(std::integral_constant<U, U::Sqrt>{}); break;
    case U::AddScalar: f(std::integral_constant<U, U::AddScalar>{}); break;
    case U::MulScalar: f(std::integral_constant<U, U::MulScalar>{}); break;
    case U::RSubScalar: f(std::integral_constant<U, U::RSubScalar>{}); break;
  }
}

template <class F>
void dispatch_binary(BinaryOp op, F&& f) {
  using B = BinaryOp;
  switch (op) {
    case B::Add: f(std::integral_constant<B, B::Add>{}); break;
    case B::Sub: f(std::integral_constant<B, B::Sub>{}); break;
    case B::Mul: f(std::integral_constant<B, B::Mul>{}); break;
    case B::Div: f(std::integral_constant<B, B::Div>{}); break;
  }
}

// Broadcasting of a binary op (NumPy rules), flattened to at most kMaxDims
// dimensions. A stride of 0 repeats an operand along that dimension.
constexpr int kMaxDims = 6;
struct BroadcastIndex {
  int rank = 0;
  long long shape[kMaxDims] = {};     // output shape
  long long stride_a[kMaxDims] = {};  // element strides of a (0 where broadcast)
  long long stride_b[kMaxDims] = {};
  DIFFERNET_HD void offsets(long long linear, long long& off_a, long long& off_b) const {
    off_a = 0;
    off_b = 0;
    for (int d = rank - 1; d >= 0; --d) {
      const long long i = linear % shape[d];
      linear /= shape[d];
      off_a += i * stride_a[d];
      off_b += i * stride_b[d];
    }
  }
};

// Nearest-neighbour source index, as PyTorch's F.interpolate(mode="nearest"):
// src = min(floor(dst * in / out), in - 1), with the scale computed in float.
DIFFERNET_HD int nearest_source_index(int dst, int in_size, int out_size) {
  const float scale = float(in_size) / float(out_size);
  const int src = int(floorf(float(dst) * scale));
  return src < in_size - 1 ? src : in_size - 1;
}

// The output range [first, last) whose nearest source index is `src`; the
// backward of the resize gathers over it (deterministic, no atomics).
DIFFERNET_HD void nearest_output_range(int src, int in_size, int out_size, int& first, int& last) {
  int lo = int(float(src) * float(out_size) / float(in_size)) - 1;
  if (lo < 0) lo = 0;
  while (lo < out_size && nearest_source_index(lo, in_size, out_size) < src) ++lo;
  int hi = lo;
  while (hi < out_size && nearest_source_index(hi, in_size, out_size) == src) ++hi;
  first = lo;
  last = hi;
}

// Adam with PyTorch's semantics (torch.optim.Adam, weight_decay as L2 added to
// the gradient, bias-corrected moments). One element of the fused update.
// 1 - beta is computed in double on the host, as PyTorch does in Python: in
// float32, 1 - 0.999f is off by 1e-5 relative.
struct AdamParams {
  float lr, beta1, beta2, one_minus_beta1, one_minus_beta2, eps, weight_decay;
  float bias_correction1;       // 1 - beta1^step
  float sqrt_bias_correction2;  // sqrt(1 - beta2^step)
};

template <class T>
DIFFERNET_HD void adam_update(T& p, T g, T& m, T& v, const AdamParams& a) {
  g += T(a.weight_decay) * p;
  m = T(a.beta1) * m + T(a.one_minus_beta1) * g;
  v = T(a.beta2) * v + T(a.one_minus_beta2) * g * g;
  const T denom = DIFFERNET_MATH(sqrt)(v) / T(a.sqrt_bias_correction2) + T(a.eps);
  p -= (T(a.lr) / T(a.bias_correction1)) * m / denom;
}

}  // namespace differnet::kernels
