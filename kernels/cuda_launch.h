// Launch helpers shared by the CUDA kernel files: the block size, a grid that
// covers n elements (capped; the kernels loop), the grid-stride loop, and the
// one launch form of the project.
//
// Every kernel launch is written `launch(kernel, grid, block[, shared_bytes])(args...)`.
// Under nvcc it is a plain `kernel<<<grid, block, shared_bytes>>>(args...)`; in the
// SIMT emulation build (DIFFERNET_CUDA=EMULATE, kernels/simt/) the same line runs
// the kernel's threads on the CPU. One form that is both CUDA and C++ keeps the
// .cu files identical between the two builds.
#pragma once
#include <cstddef>
#include <cstdint>
#include <utility>

namespace differnet::kernels::cuda {

constexpr int kBlock = 256;

inline unsigned grid_for(int64_t n) {
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  return unsigned(blocks < 65535 * 8 ? (blocks > 0 ? blocks : 1) : 65535 * 8);
}

// A configured launch: call it with the kernel's arguments.
template <typename... Params>
struct Launch {
  void (*kernel)(Params...);
  dim3 grid, block;
  size_t shared_bytes;
  template <typename... Args>
  void operator()(Args&&... args) const {
#if !defined(DIFFERNET_SIMT_EMULATION)
    kernel<<<grid, block, shared_bytes>>>(std::forward<Args>(args)...);
#else
    // The emulator runs the grid's threads on the CPU before returning (kernels/simt/simt.h).
    simt::launch_kernel<Params...>(kernel, grid, block, shared_bytes, Params(std::forward<Args>(args))...);
#endif
  }
};

template <typename... Params>
Launch<Params...> launch(void (*kernel)(Params...), dim3 grid, dim3 block, size_t shared_bytes = 0) {
  return Launch<Params...>{kernel, grid, block, shared_bytes};
}

}  // namespace differnet::kernels::cuda

// Grid-stride loop: correct for any n, whatever the grid size.
#define GRID_STRIDE_LOOP(i, n) \
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); i += int64_t(gridDim.x) * blockDim.x)
