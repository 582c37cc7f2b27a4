#include "autograd/random.h"

#include "autograd/dispatch.h"

namespace differnet {

Tensor rand_uniform(const Shape& shape, double low, double high, Generator& gen, DType dtype, Device device) {
  DIFFERNET_CHECK(low < high, "rand_uniform: empty range [", low, ", ", high, ")");
  Tensor t = Tensor::empty(shape, dtype, device);
  const uint64_t offset = gen.advance(uint64_t(t.numel()));
  if (device == Device::CPU) {
    detail::dispatch_floating("rand_uniform", t, [&](auto tag) {
      using T = decltype(tag);
      kernels::cpu::fill_uniform<T>(t.data<T>(), t.numel(), gen.seed(), offset, T(low), T(high));
    });
  } else {
    detail::check_cuda_float32("rand_uniform", t);
    DIFFERNET_ON_CUDA(kernels::cuda::fill_uniform(t.data<float>(), t.numel(), gen.seed(), offset, float(low), float(high)));
  }
  return t;
}

Tensor randn(const Shape& shape, Generator& gen, DType dtype, Device device, double mean, double std) {
  Tensor t = Tensor::empty(shape, dtype, device);
  const uint64_t offset = gen.advance(uint64_t(t.numel()));
  if (device == Device::CPU) {
    detail::dispatch_floating("randn", t, [&](auto tag) {
      using T = decltype(tag);
      kernels::cpu::fill_normal<T>(t.data<T>(), t.numel(), gen.seed(), offset, T(mean), T(std));
    });
  } else {
    detail::check_cuda_float32("randn", t);
    DIFFERNET_ON_CUDA(kernels::cuda::fill_normal(t.data<float>(), t.numel(), gen.seed(), offset, float(mean), float(std)));
  }
  return t;
}

}  // namespace differnet
