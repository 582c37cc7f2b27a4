#include "kernels/host_allocator.h"

#include <malloc.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <string>

#include "autograd/error.h"
#include "kernels/block_cache.h"

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
// Blocks from 128 KiB on are cached: the size from which glibc's malloc (as
// tuned below) maps fresh pages for every request. Below 1 MiB that is mostly
// the flow's activations (96 x 2048 floats = 768 KiB): unmapped, mapped and
// zero-filled again 144 times a training step without the cache.
constexpr size_t kLarge = size_t(128) << 10;
constexpr size_t kMiB = size_t(1) << 20;

constexpr size_t kHugePage = size_t(2) << 20;

size_t round_up(size_t bytes, size_t granule) { return (bytes + granule - 1) / granule * granule; }

// Requests round up to whole 64 KiB below 1 MiB, to whole MiB below 2 MiB and
// to whole huge pages (2 MiB) above when those are on, so that nearby sizes
// share a free list.
size_t round_large(size_t bytes) {
  return round_up(bytes, bytes < kMiB ? size_t(64) << 10 : bytes < kHugePage || !huge_pages() ? kMiB : kHugePage);
}

// With huge_pages() (opt-in, as PyTorch's THP_MEM_ALLOC_ENABLE), blocks of
// 2 MiB and more start on a 2 MiB boundary and are offered to the kernel for
// transparent huge pages (MADV_HUGEPAGE; the THP mode "madvise" gives them only
// to regions that ask). One TLB entry then covers 512 times as much: Adam's
// pass over the flow's 688 MB buffers went from 90 to 59 ms, the flow's
// training step ~5 % faster (its weights' rows are 8 KB apart: a new 4 KB page
// per row in the input-gradient GEMM), the feature pass with its input
// gradient ~10 %. But faulting fresh memory in as huge pages cost ~1.8 s of
// kernel time per GB here, ~5 s for the flow and its Adam state: more than a
// short run's steps win back (docs/performance.md). The advice is only advice:
// where the kernel has no THP the block is an ordinary one.
void* system_alloc(size_t bytes) {
  if (huge_pages() && bytes >= kHugePage) {
    const size_t rounded = round_up(bytes, kHugePage);
    void* p = std::aligned_alloc(kHugePage, rounded);
#ifdef MADV_HUGEPAGE
    if (p) madvise(p, rounded, MADV_HUGEPAGE);
#endif
    return p;
  }
  // aligned_alloc wants a multiple of the alignment.
  return std::aligned_alloc(kAlignment, bytes > 0 ? round_up(bytes, kAlignment) : kAlignment);
}

size_t limit_from_environment() {
  if (!DIFFERNET_HOST_CACHE_DEFAULT_ON) return 0;
  const char* env = std::getenv("DIFFERNET_HOST_CACHE_MB");
  // 512 MiB: the kept blocks count in the resident set, and past the blocks a
  // step reuses, more only holds sizes from other stages (2 GiB took the
  // paper-schedule CPU run from 3.5 to 4.6 GB peak). 256 MiB was too little for
  // the three-scale feature pass with its input gradient (16 images at 448 px):
  // each pass mapped and zero-filled ~13 % of its time in again. At 512 MiB
  // the issue-16 run peaks at 3.75 GB instead of 3.51 (docs/performance.md).
  if (!env || !*env) return size_t(512) << 20;
  char* end = nullptr;
  const unsigned long long mb = std::strtoull(env, &end, 10);
  if (*end != '\0') throw Error(detail::concat("DIFFERNET_HOST_CACHE_MB: '", env, "' is not a whole number of MiB"));
  return size_t(mb) << 20;
}

// glibc's malloc, left to itself, keeps memory the program has freed: after the
// first large block is freed it raises its mmap threshold (up to 32 MiB), so
// later blocks of that size come from its heaps, where freed space stays
// resident unless it is at the top; and each thread that allocates may get a
// heap of its own. On the 200-image, 448 px CPU run that was 160 MB of the
// peak resident set (docs/performance.md). Fixed settings turn that off: blocks
// from 128 KiB on are mapped and unmapped (the ones this cache keeps for
// reuse), freed heap tops go back at once, and at most two heaps.
#ifdef __GLIBC__
const bool kMallocTuned = [] {
  mallopt(M_MMAP_THRESHOLD, 128 << 10);  // glibc's default, now fixed
  mallopt(M_TRIM_THRESHOLD, 0);
  mallopt(M_ARENA_MAX, 2);
  return true;
}();
#endif

struct Cache {
  std::mutex mutex;
  size_t limit = limit_from_environment();
  kernels::BlockCache blocks;  // blocks of kLarge bytes and more
  int64_t system_allocations = 0, cache_hits = 0;
  size_t bytes_held_peak = 0;  // only a system allocation makes the held total grow

  void release_all_locked() { blocks.release_all([](void* p) { std::free(p); }); }
};

Cache& cache() {
  static Cache* c = new Cache();  // never destroyed: tensors may outlive static destruction
  return *c;
}

}  // namespace

size_t host_cache_limit() { return cache().limit; }

bool huge_pages() {
  static const bool on = [] {
    const char* env = std::getenv("DIFFERNET_HUGE_PAGES");
    return env && std::string(env) == "1";
  }();
  return on;
}

void* host_alloc(size_t bytes) {
  if (bytes < kLarge) {
    void* p = system_alloc(bytes);
    if (!p) throw OutOfMemory(detail::concat("host out of memory: tried to allocate ", bytes, " bytes"));
    return p;
  }
  Cache& c = cache();
  const size_t size = round_large(bytes);
  std::lock_guard<std::mutex> lock(c.mutex);
  if (void* ptr = c.blocks.reuse(size)) {
    ++c.cache_hits;
    return ptr;
  }
  void* ptr = system_alloc(size);
  if (!ptr && c.blocks.bytes_cached() > 0) {
    c.release_all_locked();
    ptr = system_alloc(size);
  }
  if (!ptr)
    throw OutOfMemory(detail::concat("host out of memory: tried to allocate ", bytes, " bytes (",
                                     bytes / double(1 << 20), " MiB); ", c.blocks.bytes_in_use(),
                                     " bytes in large tensors now"));
  ++c.system_allocations;
  c.blocks.hand_out(ptr, size);
  c.bytes_held_peak = std::max(c.bytes_held_peak, c.blocks.bytes_in_use() + c.blocks.bytes_cached());
  return ptr;
}

void host_free(void* ptr) {
  if (!ptr) return;
  Cache& c = cache();
  {
    std::lock_guard<std::mutex> lock(c.mutex);
    const size_t size = c.blocks.take_back(ptr);
    if (size > 0 && size <= c.limit) {
      // The block just freed is the likeliest to be asked for again (the next
      // step allocates the same sizes): make room by releasing the longest-kept.
      const size_t wanted = c.blocks.bytes_cached() + size;
      if (wanted > c.limit) c.blocks.release_oldest(wanted - c.limit, [](void* p) { std::free(p); });
      c.blocks.keep(ptr, size);
      return;
    }
  }
  std::free(ptr);  // a small block, or one larger than the whole cache
}

void empty_cache() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  c.release_all_locked();
}

HostAllocatorStats host_allocator_stats() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  return {c.blocks.bytes_in_use(), c.blocks.bytes_cached(), c.bytes_held_peak, c.system_allocations, c.cache_hits};
}

}  // namespace differnet::host
