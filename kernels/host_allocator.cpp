#include "kernels/host_allocator.h"

#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "autograd/error.h"

#if defined(__SANITIZE_ADDRESS__)
#define DIFFERNET_HOST_CACHE_DEFAULT_ON 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define DIFFERNET_HOST_CACHE_DEFAULT_ON 0
#endif
#endif
#ifndef DIFFERNET_HOST_CACHE_DEFAULT_ON
#define DIFFERNET_HOST_CACHE_DEFAULT_ON 1
#endif

namespace differnet::host {
namespace {

constexpr size_t kAlignment = 64;
constexpr size_t kLarge = size_t(1) << 20;  // blocks from here on are cached
constexpr size_t kGranule = size_t(1) << 20;

// Large requests round up to whole MiB, so that nearby sizes share a free list.
size_t round_large(size_t bytes) { return (bytes + kGranule - 1) / kGranule * kGranule; }

void* system_alloc(size_t bytes) {
  // aligned_alloc wants a multiple of the alignment.
  const size_t rounded = (bytes + kAlignment - 1) / kAlignment * kAlignment;
  return std::aligned_alloc(kAlignment, rounded > 0 ? rounded : kAlignment);
}

size_t limit_from_environment() {
  if (!DIFFERNET_HOST_CACHE_DEFAULT_ON) return 0;
  const char* env = std::getenv("DIFFERNET_HOST_CACHE_MB");
  if (!env || !*env) return size_t(2) << 30;
  char* end = nullptr;
  const unsigned long long mb = std::strtoull(env, &end, 10);
  if (*end != '\0') throw Error(detail::concat("DIFFERNET_HOST_CACHE_MB: '", env, "' is not a whole number of MiB"));
  return size_t(mb) << 20;
}

struct Cache {
  std::mutex mutex;
  size_t limit = limit_from_environment();
  std::map<size_t, std::vector<void*>> free_blocks;  // rounded size -> blocks
  std::unordered_map<void*, size_t> live;              // large block -> rounded size
  HostAllocatorStats stats;

  void release_all_locked() {
    for (auto& [size, blocks] : free_blocks) {
      for (void* p : blocks) std::free(p);
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

size_t host_cache_limit() { return cache().limit; }

void* host_alloc(size_t bytes) {
  if (bytes < kLarge) {
    void* p = system_alloc(bytes);
    if (!p) throw OutOfMemory(detail::concat("host out of memory: tried to allocate ", bytes, " bytes"));
    return p;
  }
  Cache& c = cache();
  const size_t size = round_large(bytes);
  std::lock_guard<std::mutex> lock(c.mutex);
  void* ptr = nullptr;
  auto it = c.free_blocks.find(size);
  if (it != c.free_blocks.end() && !it->second.empty()) {
    ptr = it->second.back();
    it->second.pop_back();
    c.stats.bytes_cached -= size;
    ++c.stats.cache_hits;
  } else {
    ptr = system_alloc(size);
    if (!ptr && c.stats.bytes_cached > 0) {
      c.release_all_locked();
      ptr = system_alloc(size);
    }
    if (!ptr)
      throw OutOfMemory(detail::concat("host out of memory: tried to allocate ", bytes, " bytes (",
                                       bytes / double(1 << 20), " MiB); ", c.stats.bytes_in_use,
                                       " bytes in large tensors now"));
    ++c.stats.system_allocations;
  }
  c.live[ptr] = size;
  c.stats.bytes_in_use += size;
  return ptr;
}

void host_free(void* ptr) {
  if (!ptr) return;
  Cache& c = cache();
  {
    std::lock_guard<std::mutex> lock(c.mutex);
    auto it = c.live.find(ptr);
    if (it != c.live.end()) {
      const size_t size = it->second;
      c.live.erase(it);
      c.stats.bytes_in_use -= size;
      if (c.stats.bytes_cached + size <= c.limit) {
        c.stats.bytes_cached += size;
        c.free_blocks[size].push_back(ptr);
        return;
      }
    }
  }
  std::free(ptr);  // a small block, or the cache is full
}

void empty_cache() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  c.release_all_locked();
}

HostAllocatorStats host_allocator_stats() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  return c.stats;
}

}  // namespace differnet::host
