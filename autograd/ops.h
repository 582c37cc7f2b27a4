// The differentiable tensor ops. Each runs on the device of its inputs (CPU or
// CUDA, never moving data) and records itself on the tape when an input
// requires grad. The forward and backward of each op sit next to each other in
// ops_<family>.cpp.
#pragma once
#include <vector>

#include "autograd/tensor.h"

namespace differnet {

// ---- element-wise (ops_elementwise.cpp) ----
Tensor neg(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor atan(const Tensor& x);
Tensor relu(const Tensor& x);
Tensor square(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor add_scalar(const Tensor& x, double s);
Tensor mul_scalar(const Tensor& x, double s);
Tensor rsub_scalar(double s, const Tensor& x);  // s - x
// Binary ops broadcast with NumPy's rules: a [96, 768] and a [768] row vector,
// or a [96, 1] column, combine into [96, 768].
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
// dst += src in place, outside autograd (gradient accumulation, optimizers).
void add_(Tensor& dst, const Tensor& src);

inline Tensor operator-(const Tensor& x) { return neg(x); }
inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
inline Tensor operator+(const Tensor& a, double s) { return add_scalar(a, s); }
inline Tensor operator+(double s, const Tensor& a) { return add_scalar(a, s); }
inline Tensor operator-(const Tensor& a, double s) { return add_scalar(a, -s); }
inline Tensor operator-(double s, const Tensor& a) { return rsub_scalar(s, a); }
inline Tensor operator*(const Tensor& a, double s) { return mul_scalar(a, s); }
inline Tensor operator*(double s, const Tensor& a) { return mul_scalar(a, s); }
inline Tensor operator/(const Tensor& a, double s) { return mul_scalar(a, 1.0 / s); }

// ---- reductions (ops_reduce.cpp) ----
Tensor sum(const Tensor& x);                                     // all elements -> shape []
Tensor sum(const Tensor& x, int64_t dim, bool keepdim = false);  // one dimension
Tensor mean(const Tensor& x);
Tensor mean(const Tensor& x, int64_t dim, bool keepdim = false);
// Whether no tensor holds a NaN or an infinity (not differentiable). On the GPU
// one fused check of all of them and one 4-byte read back, where a sum per
// tensor would read each back and can overflow on finite values.
bool all_finite(const std::vector<Tensor>& xs);

// ---- shape (ops_shape.cpp) ----
Tensor reshape(const Tensor& x, Shape shape);  // one entry may be -1; shares the data
Tensor broadcast_to(const Tensor& x, const Shape& shape);
Tensor sum_to(const Tensor& x, const Shape& shape);  // adjoint of broadcast_to
Tensor concat(const std::vector<Tensor>& xs, int64_t dim);
Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length);
Tensor index_select(const Tensor& x, int64_t dim, const std::vector<int64_t>& index);

// ---- matrix products (ops_matmul.cpp) ----
// op(a) @ op(b) for 2-D a, b, where op transposes when the flag is set.
Tensor matmul(const Tensor& a, const Tensor& b, bool transpose_a = false, bool transpose_b = false);
// x @ weight^T + bias, x [batch, in], weight [out, in], bias [out] (may be undefined): torch.nn.functional.linear.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias);
// relu(linear(x, weight, bias)) in one op: on the CPU bias and ReLU run in the
// GEMM's epilogue (y written once); the backward masks the gradient by y > 0.
Tensor linear_relu(const Tensor& x, const Tensor& weight, const Tensor& bias);

// ---- resampling (ops_resize.cpp) ----
// x [N, C, H, W] -> [N, C, out_h, out_w], nearest neighbour as F.interpolate(mode="nearest").
Tensor resize_nearest2d(const Tensor& x, int64_t out_h, int64_t out_w);

}  // namespace differnet
