// The affine coupling as one autograd op (paper eqs. 1 and 2), backed by the
// fused kernels of kernels/coupling.h.
#pragma once
#include "autograd/tensor.h"

namespace differnet {

struct CouplingResult {
  Tensor y;          // [batch, half]: exp(c(s)) * x + t, what subnet1 reads
  Tensor y_clamped;  // [batch, half]: clamp(y, -1e6, 1e6), the block's output
  Tensor log_det;    // [batch]: sum over features of c(s), this half's share of log|det J|
};

// x [batch, half], r [batch, 2*half] (r = [s | t], the subnet output), same
// dtype and device. One tape node with three outputs; its backward (one fused
// kernel) gives the gradients of x and r. The published code clamps only the
// block's concatenated output, so both y and its clamped copy come out; the
// hard clamp's gradient is zero where it clamps, as torch.clamp.
CouplingResult coupling_affine(const Tensor& x, const Tensor& r, double alpha);

// The inverse x = (y - t) * exp(-c(s)) in one fused kernel. Outside autograd:
// the result carries no history (the flow's inverse is for sampling).
Tensor coupling_affine_inverse(const Tensor& y, const Tensor& r, double alpha);

// The same forward written with the core ops (atan, mul_scalar, exp, mul, add,
// sum): the reference for tests and the unfused side of the benchmark. It
// omits the hard clamp (y_clamped is y), which is inactive while |y| < 1e6.
CouplingResult coupling_affine_unfused(const Tensor& x, const Tensor& r, double alpha);

}  // namespace differnet
