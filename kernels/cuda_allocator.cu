#include "kernels/cuda_allocator.h"

#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "kernels/cuda_check.h"

namespace differnet::cuda {
namespace {

// Small requests round up to 512 bytes, large ones to 2 MiB, so that nearby
// sizes share a free list.
size_t round_size(size_t bytes) {
  const size_t small = 512, large = size_t(2) << 20;
  if (bytes == 0) bytes = 1;
  if (bytes < (size_t(1) << 20)) return (bytes + small - 1) / small * small;
  return (bytes + large - 1) / large * large;
}

struct Cache {
  std::mutex mutex;
  std::map<size_t, std::vector<void*>> free_blocks;  // rounded size -> blocks
  std::unordered_map<void*, size_t> live;              // block -> rounded size
  AllocatorStats stats;

  void release_all_locked() {
    for (auto& [size, blocks] : free_blocks) {
      for (void* p : blocks) cudaFree(p);
      stats.bytes_cached -= size * blocks.size();
    }
    free_blocks.clear();
  }
};

Cache& cache() {
  static Cache* c = new Cache();  // never destroyed: tensors may outlive static destruction
  return *c;
}

}  // namespace

void* device_alloc(size_t bytes) {
  Cache& c = cache();
  const size_t size = round_size(bytes);
  std::lock_guard<std::mutex> lock(c.mutex);
  auto it = c.free_blocks.find(size);
  void* ptr = nullptr;
  if (it != c.free_blocks.end() && !it->second.empty()) {
    ptr = it->second.back();
    it->second.pop_back();
    c.stats.bytes_cached -= size;
  } else {
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
                                       bytes / double(1 << 20), " MiB); ", c.stats.bytes_in_use,
                                       " bytes in use by tensors, ", free_b, " of ", total_b,
                                       " bytes free on the device"));
    }
    CUDA_CHECK(err);
    ++c.stats.cuda_malloc_calls;
  }
  c.live[ptr] = size;
  c.stats.bytes_in_use += size;
  if (c.stats.bytes_in_use > c.stats.peak_bytes_in_use) c.stats.peak_bytes_in_use = c.stats.bytes_in_use;
  return ptr;
}

void device_free(void* ptr) {
  if (!ptr) return;
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  auto it = c.live.find(ptr);
  if (it == c.live.end()) return;  // not ours: nothing to do
  const size_t size = it->second;
  c.live.erase(it);
  c.stats.bytes_in_use -= size;
  c.stats.bytes_cached += size;
  c.free_blocks[size].push_back(ptr);
}

void empty_cache() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  c.release_all_locked();
}

AllocatorStats allocator_stats() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  return c.stats;
}

}  // namespace differnet::cuda
