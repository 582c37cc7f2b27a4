// Launch helpers shared by the CUDA kernel files: the block size, a grid that
// covers n elements (capped; the kernels loop), and the grid-stride loop.
#pragma once
#include <cstdint>

namespace differnet::kernels::cuda {

constexpr int kBlock = 256;

inline unsigned grid_for(int64_t n) {
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  return unsigned(blocks < 65535 * 8 ? (blocks > 0 ? blocks : 1) : 65535 * 8);
}

}  // namespace differnet::kernels::cuda

// Grid-stride loop: correct for any n, whatever the grid size.
#define GRID_STRIDE_LOOP(i, n) \
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); i += int64_t(gridDim.x) * blockDim.x)
