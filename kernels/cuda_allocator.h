// The caching device allocator. Freed blocks go back to a per-size free list
// and are handed out again for the next request of that size, so a training
// loop that allocates the same shapes every step calls cudaMalloc only in its
// first step. All work runs on one stream, so a block freed on the host can be
// reused by the next launch without a synchronisation.
//
// DIFFERNET_CUDA_ALLOC_EXACT=1 turns the cache off for checking tools: every
// request is a cudaMalloc of exactly its size and every free a cudaFree, so
// compute-sanitizer memcheck sees an access past a tensor's end (no rounding
// slack) and a use of a freed tensor (no cached block). scripts/gpu_check.sh
// sets it for the sanitizer runs, and the emulated GPU tests run with it.
#pragma once
#include <cstddef>
#include <cstdint>

namespace differnet::cuda {

void* device_alloc(size_t bytes);  // throws OutOfMemory naming the size after emptying the cache
void device_free(void* ptr);       // returns the block to the cache
void empty_cache();                // gives every cached block back to the driver
bool exact_allocation();           // DIFFERNET_CUDA_ALLOC_EXACT=1: exact sizes, no reuse (read once)

// A device block for the length of a scope.
struct DeviceBuffer {
  void* ptr;
  explicit DeviceBuffer(size_t bytes) : ptr(bytes ? device_alloc(bytes) : nullptr) {}
  ~DeviceBuffer() { device_free(ptr); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
};

struct AllocatorStats {
  size_t bytes_in_use = 0;     // handed out to tensors now
  size_t bytes_cached = 0;     // held in free lists
  size_t peak_bytes_in_use = 0;
  int64_t cuda_malloc_calls = 0;
};
AllocatorStats allocator_stats();

}  // namespace differnet::cuda
