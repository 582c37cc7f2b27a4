// The caching host allocator, the CPU twin of cuda_allocator.h. Blocks of
// 128 KiB and more (activations, im2col-sized buffers) go back to a per-size
// free list when a tensor dies and are handed out again for the next request of
// that size. Without it every training or feature step would get its large
// tensors as fresh kernel mappings and page-fault them in (zero-filled) again:
// about 5 % of the CPU feature pass and of the flow's training step. Smaller
// blocks come from malloc, which already reuses them. The cache holds at most
// host_cache_limit() bytes (default 512 MiB, DIFFERNET_HOST_CACHE_MB overrides,
// 0 turns caching off), making room for a freed block by releasing the
// longest-kept ones; builds with AddressSanitizer never cache, so that a use
// after free is still reported. With huge_pages(), blocks of 2 MiB and more
// are placed on 2 MiB boundaries and advised onto transparent huge pages.
#pragma once
#include <cstddef>
#include <cstdint>

namespace differnet::host {

void* host_alloc(size_t bytes);  // 64-byte aligned; throws OutOfMemory naming the size after emptying the cache
void host_free(void* ptr);       // returns a large block to the cache (or to the system past the limit)
void empty_cache();              // gives every cached block back to the system
size_t host_cache_limit();
// Whether blocks of 2 MiB and more are 2 MiB-aligned and advised onto
// transparent huge pages (read once; DIFFERNET_HUGE_PAGES=1 says yes: faster
// steps, slower first use of fresh memory; off by default).
bool huge_pages();

struct HostAllocatorStats {
  size_t bytes_in_use = 0;       // large blocks handed out to tensors now
  size_t bytes_cached = 0;       // large blocks held in free lists
  size_t bytes_held_peak = 0;    // the most large-block bytes held at once (in use + cached) so far
  int64_t system_allocations = 0;  // large blocks obtained from the system
  int64_t cache_hits = 0;          // large requests served from the cache
};
HostAllocatorStats host_allocator_stats();

}  // namespace differnet::host
