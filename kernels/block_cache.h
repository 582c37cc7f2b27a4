// The bookkeeping both caching allocators share (cuda_allocator.cu for device
// memory, host_allocator.cpp for large host blocks): blocks handed out, by
// address, and freed blocks kept in a free list per (rounded) size, to be
// handed out again for the next request of that size. Not thread-safe: each
// allocator holds it under its own mutex; obtaining and releasing memory, and
// the size rounding, stay with the allocator.
#pragma once
#include <cstddef>
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
    void* ptr = it->second.back();
    it->second.pop_back();
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
    free_blocks_[size].push_back(ptr);
  }
  // Gives every kept block to release(ptr).
  template <class Release>
  void release_all(Release release) {
    for (auto& [size, blocks] : free_blocks_)
      for (void* p : blocks) release(p);
    free_blocks_.clear();
    bytes_cached_ = 0;
  }
  size_t bytes_in_use() const { return bytes_in_use_; }
  size_t bytes_cached() const { return bytes_cached_; }

 private:
  std::map<size_t, std::vector<void*>> free_blocks_;  // rounded size -> kept blocks
  std::unordered_map<void*, size_t> live_;             // handed-out block -> rounded size
  size_t bytes_in_use_ = 0, bytes_cached_ = 0;
};

}  // namespace differnet::kernels
