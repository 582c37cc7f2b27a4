// CUDA twins of the max-pooling loops of pool_cpu.cpp: one thread per output
// (forward) or per input pixel (backward, gather form: deterministic).
#include "kernels/cuda_check.h"
#include "kernels/cuda_launch.h"
#include "kernels/pool.h"

namespace differnet::kernels::cuda {
namespace {


__global__ void max_pool2d_kernel(Pool2dGeometry g, const float* x, float* y) {
  const int64_t out_plane = int64_t(g.out_h) * g.out_w, in_plane = int64_t(g.in_h) * g.in_w;
  const int64_t n = g.planes * out_plane;
  for (int64_t k = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; k < n; k += int64_t(gridDim.x) * blockDim.x) {
    const int64_t p = k / out_plane;
    const int o = int(k % out_plane);
    const float* xp = x + p * in_plane;
    y[k] = xp[max_pool_argmax(xp, g, o / g.out_w, o % g.out_w)];
  }
}

__global__ void max_pool2d_backward_kernel(Pool2dGeometry g, const float* x, const float* gy, float* gx) {
  const int64_t out_plane = int64_t(g.out_h) * g.out_w, in_plane = int64_t(g.in_h) * g.in_w;
  const int64_t n = g.planes * in_plane;
  for (int64_t k = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; k < n; k += int64_t(gridDim.x) * blockDim.x) {
    const int64_t p = k / in_plane;
    const int i = int(k % in_plane);
    gx[k] = max_pool_input_grad(x + p * in_plane, gy + p * out_plane, g, i / g.in_w, i % g.in_w);
  }
}

}  // namespace

void max_pool2d(const Pool2dGeometry& g, const float* x, float* y) {
  const int64_t n = g.planes * g.out_h * g.out_w;
  if (n == 0) return;
  launch(max_pool2d_kernel, grid_for(n), kBlock)(g, x, y);
  CUDA_CHECK_LAUNCH("max_pool2d_kernel");
}

void max_pool2d_backward(const Pool2dGeometry& g, const float* x, const float* gy, float* gx) {
  const int64_t n = g.planes * g.in_h * g.in_w;
  if (n == 0) return;
  launch(max_pool2d_backward_kernel, grid_for(n), kBlock)(g, x, gy, gx);
  CUDA_CHECK_LAUNCH("max_pool2d_backward_kernel");
}

}  // namespace differnet::kernels::cuda
