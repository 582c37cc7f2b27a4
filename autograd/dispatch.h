// How an op picks its kernel: by device (cpu:: or cuda::) and, on the CPU, by
// floating type (float32 or float64). Used only inside the op files.
#pragma once
#include "autograd/tensor.h"
#include "kernels/kernels.h"

namespace differnet::detail {

// Calls f(float{}) or f(double{}) for the tensor's dtype; other dtypes are an error naming op.
template <class F>
void dispatch_floating(const char* op, const Tensor& t, F&& f) {
  switch (t.dtype()) {
    case DType::Float32: f(float{}); return;
    case DType::Float64: f(double{}); return;
    default: throw Error(concat(op, ": needs a float32 or float64 tensor, got ", t.describe()));
  }
}

// CUDA kernels are float32 only; float64 is for CPU gradient checks.
inline void check_cuda_float32(const char* op, const Tensor& t) {
  DIFFERNET_CHECK(t.dtype() == DType::Float32, op, ": CUDA kernels take float32 tensors, got ", t.describe());
}

}  // namespace differnet::detail

// Wraps a call into kernels::cuda so that a build without CUDA still compiles;
// there no tensor can be on a CUDA device, so the branch is never taken.
#if DIFFERNET_WITH_CUDA
#define DIFFERNET_ON_CUDA(...) __VA_ARGS__
#else
#define DIFFERNET_ON_CUDA(...) throw ::differnet::Error("this build of DifferNet has no CUDA backend")
#endif
