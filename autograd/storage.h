// Storage: one block of memory on one device, shared by the tensors that view it.
// CPU memory comes from aligned new; CUDA memory from the caching allocator
// (kernels/cuda_allocator.h), so no op pays for a cudaMalloc.
#pragma once
#include <cstddef>
#include <memory>

#include "autograd/dtype.h"

namespace differnet {

class Storage {
 public:
  Storage(size_t bytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return device_; }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
  Device device_;
};

// Copies bytes between any two devices (host<->device, device<->device, host<->host).
void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes);
// Sets bytes to zero on either device.
void zero_bytes(void* dst, Device device, size_t bytes);

}  // namespace differnet
