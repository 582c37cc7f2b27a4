#include "autograd/storage.h"

#include <cstdlib>
#include <cstring>
#include <new>

#include "autograd/error.h"
#include "kernels/host_allocator.h"
#if DIFFERNET_WITH_CUDA
#include <cuda_runtime.h>

#include "kernels/cuda_allocator.h"
#include "kernels/cuda_check.h"
#endif

namespace differnet {

Storage::Storage(size_t bytes, Device device) : bytes_(bytes), device_(device) {
  if (device == Device::CPU) {
    data_ = host::host_alloc(bytes);  // 64-byte aligned, large blocks cached (kernels/host_allocator.h)
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
    host::host_free(data_);
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
