#include "autograd/storage.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>

#include <omp.h>

#include "autograd/error.h"
#include "kernels/host_allocator.h"
#if DIFFERNET_WITH_CUDA
#include <cuda_runtime.h>

#include "kernels/cuda_allocator.h"
#include "kernels/cuda_check.h"
#endif

namespace differnet {

namespace {
// Large CPU copies and fills in 1 MiB chunks on OpenMP's threads. Into fresh
// memory most of their cost is the kernel's page faults and zero-fill, which
// each thread then takes for its own chunks: the paper's flow starts with
// 3 x 688 MB of zeros for its gradients and Adam's moments and a 688 MB copy
// of its parameters, single-threaded ~4 s of a run's start-up here.
template <class Part>
void in_chunks(size_t bytes, const Part& part) {
  constexpr size_t kChunk = size_t(1) << 20;
  if (bytes < 8 * kChunk || omp_in_parallel()) return part(size_t(0), bytes);
  const int64_t chunks = int64_t((bytes + kChunk - 1) / kChunk);
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < chunks; ++c) {
    const size_t begin = size_t(c) * kChunk;
    part(begin, std::min(kChunk, bytes - begin));
  }
}
}  // namespace

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
    in_chunks(bytes, [&](size_t begin, size_t n) {
      std::memcpy(static_cast<char*>(dst) + begin, static_cast<const char*>(src) + begin, n);
    });
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
    in_chunks(bytes, [&](size_t begin, size_t n) { std::memset(static_cast<char*>(dst) + begin, 0, n); });
    return;
  }
#if DIFFERNET_WITH_CUDA
  CUDA_CHECK(cudaMemsetAsync(dst, 0, bytes, 0));
#else
  throw Error("cannot use cuda: this build of DifferNet has no CUDA backend");
#endif
}

}  // namespace differnet
