// The bookkeeping both caching allocators share (cuda_allocator.cu for device
// memory, host_allocator.cpp for large host blocks): blocks handed out, by
// address, and freed blocks kept in a free list per (rounded) size, to be
// handed out again for the next request of that size; when the allocator needs
// room, the longest-kept blocks go first. Not thread-safe: each
// allocator holds it under its own mutex; obtaining and releasing memory, and
// the size rounding, stay with the allocator.
#pragma once
#include <algorithm>
#include <cstddef>
#include <iterator>
#include <list>
#include <map>
#include <unordered_map>
#include <vector>

namespace differnet::kernels {

class BlockCache {
 public:
  // A kept block of exactly `size` bytes, now handed out; null when none is kept.
  void* reuse(size_t size) {
    auto it = free_blocks_.find(size);
    if (it == free_blocks_.end() || it->second.empty()) return nullptr;
    const auto kept = it->second.back();  // the most recently kept block of that size
    it->second.pop_back();
    void* ptr = kept->ptr;
    kept_order_.erase(kept);
    bytes_cached_ -= size;
    hand_out(ptr, size);
    return ptr;
  }
  // Records a block newly obtained from the system as handed out.
  void hand_out(void* ptr, size_t size) {
    live_[ptr] = size;
    bytes_in_use_ += size;
  }
  // The size of a handed-out block, which is no longer counted as in use; 0 when
  // the block is not one of ours.
  size_t take_back(void* ptr) {
    auto it = live_.find(ptr);
    if (it == live_.end()) return 0;
    const size_t size = it->second;
    live_.erase(it);
    bytes_in_use_ -= size;
    return size;
  }
  // Keeps a taken-back block for reuse.
  void keep(void* ptr, size_t size) {
    bytes_cached_ += size;
    kept_order_.push_back({ptr, size});
    free_blocks_[size].push_back(std::prev(kept_order_.end()));
  }
  // Gives kept blocks to release(ptr), the longest-kept first, until at least
  // `bytes` bytes have gone or none is left; returns the bytes released. A size
  // not asked for since long ago (blocks freed once, such as the per-parameter
  // blocks Adam replaces by one flat buffer) is the least likely to be asked for again.
  template <class Release>
  size_t release_oldest(size_t bytes, Release release) {
    size_t released = 0;
    while (released < bytes && !kept_order_.empty()) {
      const Kept oldest = kept_order_.front();
      auto& same_size = free_blocks_[oldest.size];  // kept in order: the oldest is near the front
      same_size.erase(std::find(same_size.begin(), same_size.end(), kept_order_.begin()));
      kept_order_.pop_front();
      bytes_cached_ -= oldest.size;
      released += oldest.size;
      release(oldest.ptr);
    }
    return released;
  }
  // Gives every kept block to release(ptr).
  template <class Release>
  void release_all(Release release) {
    for (const Kept& k : kept_order_) release(k.ptr);
    kept_order_.clear();
    free_blocks_.clear();
    bytes_cached_ = 0;
  }
  size_t bytes_in_use() const { return bytes_in_use_; }
  size_t bytes_cached() const { return bytes_cached_; }

 private:
  struct Kept {
    void* ptr;
    size_t size;
  };
  std::list<Kept> kept_order_;  // kept blocks, the longest-kept first
  std::map<size_t, std::vector<std::list<Kept>::iterator>> free_blocks_;  // rounded size -> its kept blocks, oldest first
  std::unordered_map<void*, size_t> live_;             // handed-out block -> rounded size
  size_t bytes_in_use_ = 0, bytes_cached_ = 0;
};

}  // namespace differnet::kernels
