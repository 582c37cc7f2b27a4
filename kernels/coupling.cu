// CUDA kernels of the fused affine coupling (float32); the GPU twins of the
// loops in kernels/coupling_cpu.cpp, calling the same element math
// (kernels/coupling_math.h). Default stream, like every kernel of the project.
//
// forward: one thread block per sample row. Each thread walks the row with a
//   stride of blockDim.x (any width works), writes y and its clamped copy and keeps a partial sum of
//   c(s); warp shuffles, then one shared-memory slot per warp, reduce the
//   partials to the row's log-det. One launch replaces clamp, exp, multiply,
//   add and the row sum.
// backward, inverse: element-wise (the log-det gradient is one value per row),
//   a grid-stride loop over rows * half. The backward recomputes exp(c(s))
//   from s (the CPU saves it instead): on the GPU an atan and an exp are
//   cheaper than writing and reading a [rows, half] tensor.
#include "kernels/coupling.h"
#include "kernels/coupling_math.h"
#include "kernels/cuda_check.h"
#include "kernels/cuda_launch.h"

namespace differnet::kernels::cuda {
namespace {

constexpr int kMaxThreads = 256;
constexpr int kWarp = 32;

// Sum of v over the block; the result is valid in thread 0. blockDim.x is a
// multiple of 32, so every warp is full and the full shuffle mask is right.
__device__ float block_sum(float v) {
  __shared__ float warp_sums[kMaxThreads / kWarp];
  for (int o = kWarp / 2; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
  if (lane == 0) warp_sums[warp] = v;
  __syncthreads();
  if (warp == 0) {
    const int warps = blockDim.x / kWarp;
    v = lane < warps ? warp_sums[lane] : 0.f;
    for (int o = kWarp / 2; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  }
  return v;
}

__global__ void coupling_forward_kernel(const float* x, const float* r, float* y, float* y_clamped, float* log_det,
                                        int64_t half, float alpha) {
  const int64_t row = blockIdx.x;
  const float* s = r + row * 2 * half;
  const float* t = s + half;
  float partial = 0.f;
  for (int64_t j = threadIdx.x; j < half; j += blockDim.x) {
    float log_scale, scale;
    const float v = coupling_forward_element(x[row * half + j], s[j], t[j], alpha, log_scale, scale);
    y[row * half + j] = v;
    y_clamped[row * half + j] = hard_clamp(v);
    partial += log_scale;
  }
  const float total = block_sum(partial);
  if (threadIdx.x == 0) log_det[row] = total;
}

__global__ void coupling_backward_kernel(const float* x, const float* r, const float* dy, const float* dy_clamped,
                                         const float* dlog_det, float* dx, float* dr, int64_t rows, int64_t half,
                                         float alpha) {
  const int64_t n = rows * half;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t row = i / half, j = i % half;
    const float* s = r + row * 2 * half;
    float* ds = dr + row * 2 * half;
    coupling_backward_element(x[i], s[j], s[half + j], coupling_scale(s[j], alpha), alpha, dy ? dy[i] : 0.f,
                              dy_clamped ? dy_clamped[i] : 0.f, dlog_det ? dlog_det[row] : 0.f, dx[i], ds[j],
                              ds[half + j]);
  }
}

__global__ void coupling_inverse_kernel(const float* y, const float* r, float* x, int64_t rows, int64_t half,
                                        float alpha) {
  const int64_t n = rows * half;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t row = i / half, j = i % half;
    const float* s = r + row * 2 * half;
    x[i] = coupling_inverse_element(y[i], s[j], s[half + j], alpha);
  }
}

// Threads per row of the forward: the width rounded up to whole warps, at most kMaxThreads.
int forward_threads(int64_t half) {
  const int64_t warps = (half + kWarp - 1) / kWarp;
  return int(warps * kWarp < kMaxThreads ? (warps > 0 ? warps * kWarp : kWarp) : kMaxThreads);
}

unsigned elementwise_grid(int64_t n) {
  const int64_t blocks = (n + kMaxThreads - 1) / kMaxThreads;
  return unsigned(blocks < 65535 * 8 ? (blocks > 0 ? blocks : 1) : 65535 * 8);
}

}  // namespace

void coupling_forward(const float* x, const float* r, float* y, float* y_clamped, float* log_det, int64_t rows,
                      int64_t half, float alpha) {
  if (rows == 0) return;
  launch(coupling_forward_kernel, unsigned(rows), forward_threads(half))(x, r, y, y_clamped, log_det, half, alpha);
  CUDA_CHECK_LAUNCH("coupling_forward_kernel");
}

void coupling_backward(const float* x, const float* r, const float* dy, const float* dy_clamped,
                       const float* dlog_det, float* dx, float* dr, int64_t rows, int64_t half, float alpha) {
  if (rows * half == 0) return;
  launch(coupling_backward_kernel, elementwise_grid(rows * half), kMaxThreads)(x, r, dy, dy_clamped, dlog_det, dx,
                                                                               dr, rows, half, alpha);
  CUDA_CHECK_LAUNCH("coupling_backward_kernel");
}

void coupling_inverse(const float* y, const float* r, float* x, int64_t rows, int64_t half, float alpha) {
  if (rows * half == 0) return;
  launch(coupling_inverse_kernel, elementwise_grid(rows * half), kMaxThreads)(y, r, x, rows, half, alpha);
  CUDA_CHECK_LAUNCH("coupling_inverse_kernel");
}

}  // namespace differnet::kernels::cuda
