#include "kernels/cuda_allocator.h"

#include <cstdlib>
#include <cstring>
#include <mutex>

#include "kernels/block_cache.h"
#include "kernels/cuda_check.h"

namespace differnet::cuda {
namespace {

// Small requests round up to 512 bytes, large ones to 2 MiB, so that nearby
// sizes share a free list (in exact mode: no rounding).
size_t round_size(size_t bytes) {
  const size_t small = 512, large = size_t(2) << 20;
  if (bytes == 0) bytes = 1;
  if (exact_allocation()) return bytes;
  if (bytes < (size_t(1) << 20)) return (bytes + small - 1) / small * small;
  return (bytes + large - 1) / large * large;
}

struct Cache {
  std::mutex mutex;
  kernels::BlockCache blocks;
  size_t peak_bytes_in_use = 0;
  int64_t cuda_malloc_calls = 0;

  void release_all_locked() { blocks.release_all([](void* p) { cudaFree(p); }); }
};

Cache& cache() {
  static Cache* c = new Cache();  // never destroyed: tensors may outlive static destruction
  return *c;
}

}  // namespace

bool exact_allocation() {
  static const bool exact = [] {
    const char* v = std::getenv("DIFFERNET_CUDA_ALLOC_EXACT");
    return v != nullptr && std::strcmp(v, "1") == 0;
  }();
  return exact;
}

void* device_alloc(size_t bytes) {
  Cache& c = cache();
  const size_t size = round_size(bytes);
  std::lock_guard<std::mutex> lock(c.mutex);
  void* ptr = c.blocks.reuse(size);
  if (!ptr) {
    cudaError_t err = cudaMalloc(&ptr, size);
    if (err == cudaErrorMemoryAllocation) {
      cudaGetLastError();  // clear the sticky-free error state of the runtime
      c.release_all_locked();
      err = cudaMalloc(&ptr, size);
    }
    if (err == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      size_t free_b = 0, total_b = 0;
      cudaMemGetInfo(&free_b, &total_b);
      throw OutOfMemory(detail::concat("CUDA out of memory: tried to allocate ", size, " bytes (",
                                       bytes / double(1 << 20), " MiB); ", c.blocks.bytes_in_use(),
                                       " bytes in use by tensors, ", free_b, " of ", total_b,
                                       " bytes free on the device"));
    }
    CUDA_CHECK(err);
    ++c.cuda_malloc_calls;
    c.blocks.hand_out(ptr, size);
  }
  if (c.blocks.bytes_in_use() > c.peak_bytes_in_use) c.peak_bytes_in_use = c.blocks.bytes_in_use();
  return ptr;
}

void device_free(void* ptr) {
  if (!ptr) return;
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  const size_t size = c.blocks.take_back(ptr);
  if (size == 0) return;  // not ours, nothing to do
  if (exact_allocation()) cudaFree(ptr);  // no error check: a free must not throw (it runs in destructors)
  else c.blocks.keep(ptr, size);
}

void empty_cache() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  c.release_all_locked();
}

AllocatorStats allocator_stats() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  return {c.blocks.bytes_in_use(), c.blocks.bytes_cached(), c.peak_bytes_in_use, c.cuda_malloc_calls};
}

}  // namespace differnet::cuda
