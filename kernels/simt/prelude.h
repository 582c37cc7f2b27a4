// Forced-included (-include) before every .cu file of the SIMT emulation build,
// which compiles them as C++: CUDA's keywords, built-in variables and device
// intrinsics, mapped onto the emulator (kernels/simt/simt.h).
#pragma once
#include <cstdint>
#include <cuda_runtime.h>

#include "kernels/simt/simt.h"

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __restrict__ __restrict
#define __launch_bounds__(...)
// One static per variable serves every block (blocks run one after another);
// the emulator fills the section with NaN bytes before each block.
#define __shared__ static __attribute__((section("simt_shared"), aligned(16)))

#define threadIdx (::differnet::simt::g_current->thread_idx)
#define blockIdx (::differnet::simt::g_current->block_idx)
#define blockDim (::differnet::simt::g_current->block_dim)
#define gridDim (::differnet::simt::g_current->grid_dim)
#define warpSize 32

inline void __syncthreads() { ::differnet::simt::syncthreads(); }
inline void __syncwarp(unsigned mask = 0xffffffffu) {
  ::differnet::simt::warp_exchange(::differnet::simt::WarpOp::Sync, mask, 0, 0, 32);
}
inline unsigned __ballot_sync(unsigned mask, int predicate) {
  return unsigned(
      ::differnet::simt::warp_exchange(::differnet::simt::WarpOp::Ballot, mask, predicate != 0, 0, 32));
}
template <class T>
T __shfl_sync(unsigned mask, T var, int src_lane, int width = 32) {
  return ::differnet::simt::warp_shuffle(::differnet::simt::WarpOp::Shuffle, mask, var, src_lane, width);
}
template <class T>
T __shfl_up_sync(unsigned mask, T var, unsigned delta, int width = 32) {
  return ::differnet::simt::warp_shuffle(::differnet::simt::WarpOp::ShuffleUp, mask, var, int(delta), width);
}
template <class T>
T __shfl_down_sync(unsigned mask, T var, unsigned delta, int width = 32) {
  return ::differnet::simt::warp_shuffle(::differnet::simt::WarpOp::ShuffleDown, mask, var, int(delta), width);
}
template <class T>
T __shfl_xor_sync(unsigned mask, T var, int lane_mask, int width = 32) {
  return ::differnet::simt::warp_shuffle(::differnet::simt::WarpOp::ShuffleXor, mask, var, lane_mask, width);
}

// Atomics: the threads of a launch take turns on one OS thread, so a plain
// read-modify-write is atomic here. Each returns the old value, as CUDA's do.
template <class T, class Update>
T atomic_update(T* address, Update update) {
  const T old = *address;
  *address = update(old);
  return old;
}
template <class T>
T atomicAdd(T* address, T value) { return atomic_update(address, [&](T old) { return old + value; }); }
template <class T>
T atomicSub(T* address, T value) { return atomic_update(address, [&](T old) { return old - value; }); }
template <class T>
T atomicMax(T* address, T value) { return atomic_update(address, [&](T old) { return old < value ? value : old; }); }
template <class T>
T atomicMin(T* address, T value) { return atomic_update(address, [&](T old) { return value < old ? value : old; }); }
template <class T>
T atomicExch(T* address, T value) { return atomic_update(address, [&](T) { return value; }); }
template <class T>
T atomicCAS(T* address, T compare, T value) {
  return atomic_update(address, [&](T old) { return old == compare ? value : old; });
}
