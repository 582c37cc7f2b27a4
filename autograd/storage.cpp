#include "autograd/storage.h"

#include <cstdlib>
#include <cstring>
#include <new>

#include "autograd/error.h"
#if DIFFERNET_WITH_CUDA
#include <cuda_runtime.h>

#include "kernels/cuda_allocator.h"
#include "kernels/cuda_check.h"
#endif

namespace differnet {

Storage::Storage(size_t bytes, Device device) : bytes_(bytes), device_(device) {
  if (device == Device::CPU) {
    // 64-byte alignment for SIMD loads; aligned_alloc needs a multiple of the alignment.
    const size_t rounded = (bytes + 63) / 64 * 64;
    data_ = std::aligned_alloc(64, rounded > 0 ? rounded : 64);
    if (!data_) throw OutOfMemory(detail::concat("host out of memory: tried to allocate ", bytes, " bytes"));
  } else {
#if DIFFERNET_WITH_CUDA
    data_ = cuda::device_alloc(bytes);
#else
    throw Error("cannot allocate on cuda: this build of DifferNet has no CUDA backend");
#endif
  }
}

Storage::~Storage() {
  if (device_ == Device::CPU) {
    std::free(data_);
  } else {
#if DIFFERNET_WITH_CUDA
    cuda::device_free(data_);
#endif
  }
}

void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes) {
  if (bytes == 0) return;
  if (dst_device == Device::CPU && src_device == Device::CPU) {
    std::memcpy(dst, src, bytes);
    return;
  }
#if DIFFERNET_WITH_CUDA
  const cudaMemcpyKind kind = src_device == Device::CPU   ? cudaMemcpyHostToDevice
                              : dst_device == Device::CPU ? cudaMemcpyDeviceToHost
                                                          : cudaMemcpyDeviceToDevice;
  CUDA_CHECK(cudaMemcpy(dst, src, bytes, kind));
#else
  throw Error("cannot copy to or from cuda: this build of DifferNet has no CUDA backend");
#endif
}

void zero_bytes(void* dst, Device device, size_t bytes) {
  if (bytes == 0) return;
  if (device == Device::CPU) {
    std::memset(dst, 0, bytes);
    return;
  }
#if DIFFERNET_WITH_CUDA
  CUDA_CHECK(cudaMemsetAsync(dst, 0, bytes, 0));
#else
  throw Error("cannot use cuda: this build of DifferNet has no CUDA backend");
#endif
}

}  // namespace differnet
