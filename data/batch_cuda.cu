// CUDA kernels of the batch transform: the GPU twins of luma_sums_cpu and
// transform_batch_cpu in data/batch.cpp, calling the same per-pixel math
// (data/batch_math.h). Grid: x over the pixels of one sample (grid-stride),
// y over the samples.
#include "data/batch_cuda.h"
#include "kernels/cuda_check.h"
#include "kernels/cuda_launch.h"

namespace differnet::data::cuda {
using kernels::cuda::launch;
namespace {

constexpr int kBlock = 256;

unsigned pixel_blocks(int64_t pixels) {
  const int64_t blocks = (pixels + kBlock - 1) / kBlock;
  return unsigned(blocks < 1024 ? blocks : 1024);
}

#define PIXEL_LOOP(i, pixels) \
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < (pixels); i += int64_t(gridDim.x) * blockDim.x)

__global__ void contrast_luma_sums_kernel(const uint8_t* images, int size, const SampleParams* params,
                                          uint64_t* sums) {
  const SampleParams p = params[blockIdx.y];
  if (!p.jitter) return;
  const int64_t pixels = int64_t(size) * size;
  const uint8_t* image = images + p.image * pixels * 3;
  uint64_t sum = 0;
  PIXEL_LOOP(i, pixels) {
    uint8_t rgb[3];
    rotated_pixel(image, size, p.rotation, int(i % size), int(i / size), rgb);
    sum += contrast_input_luma(rgb, p.jitter_params);
  }
  for (int offset = 16; offset > 0; offset /= 2) sum += __shfl_down_sync(0xffffffffu, sum, offset);
  __shared__ uint64_t warp_sums[kBlock / 32];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  if (lane == 0) warp_sums[warp] = sum;
  __syncthreads();
  if (threadIdx.x == 0) {
    uint64_t block_sum = 0;
    for (int w = 0; w < kBlock / 32; ++w) block_sum += warp_sums[w];
    atomicAdd(reinterpret_cast<unsigned long long*>(&sums[blockIdx.y]), static_cast<unsigned long long>(block_sum));
  }
}

__global__ void transform_batch_kernel(const uint8_t* images, int size, const SampleParams* params,
                                       const uint64_t* sums, float* out) {
  const SampleParams p = params[blockIdx.y];
  const int64_t pixels = int64_t(size) * size;
  const uint8_t* image = images + p.image * pixels * 3;
  const uint8_t gray = p.jitter ? contrast_gray_level(sums[blockIdx.y], pixels) : 0;
  float* o = out + int64_t(blockIdx.y) * 3 * pixels;
  PIXEL_LOOP(i, pixels) {
    uint8_t rgb[3];
    rotated_pixel(image, size, p.rotation, int(i % size), int(i / size), rgb);
    if (p.jitter) jitter_pixel(rgb, p.jitter_params, gray);
    for (int c = 0; c < 3; ++c) o[c * pixels + i] = normalize_sample(rgb[c], c);
  }
}

}  // namespace

void contrast_luma_sums(const uint8_t* images, int size, const SampleParams* params, int samples, uint64_t* sums) {
  CUDA_CHECK(cudaMemsetAsync(sums, 0, sizeof(uint64_t) * size_t(samples)));
  const dim3 grid(pixel_blocks(int64_t(size) * size), unsigned(samples));
  launch(contrast_luma_sums_kernel, grid, kBlock)(images, size, params, sums);
  CUDA_CHECK_LAUNCH("contrast_luma_sums_kernel");
}

void transform_batch(const uint8_t* images, int size, const SampleParams* params, const uint64_t* sums, int samples,
                     float* out) {
  const dim3 grid(pixel_blocks(int64_t(size) * size), unsigned(samples));
  launch(transform_batch_kernel, grid, kBlock)(images, size, params, sums, out);
  CUDA_CHECK_LAUNCH("transform_batch_kernel");
}

}  // namespace differnet::data::cuda
