// NumPy broadcasting: the shape two operands combine to, and the strided index
// the kernels use to read each operand.
#pragma once
#include "autograd/tensor.h"
#include "kernels/elementwise_math.h"

namespace differnet::detail {

// Throws naming `op` when the shapes cannot be broadcast together.
Shape broadcast_shape(const char* op, const Shape& a, const Shape& b);
// Index of out[i] into a and b; adjacent dimensions with the same broadcast
// pattern are merged, so any rank fits kernels::kMaxDims.
kernels::BroadcastIndex broadcast_index(const char* op, const Shape& out, const Shape& a, const Shape& b);

// Splits a shape around `dim` (negative counts from the end) into [outer, len, inner].
struct DimSplitResult {
  int64_t dim;  // normalised
  int64_t outer, len, inner;
};
DimSplitResult split_at(const char* op, const Shape& shape, int64_t dim);

}  // namespace differnet::detail
