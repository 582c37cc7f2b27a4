// Reductions: sum and mean over all elements or over one dimension.
#include "autograd/broadcast.h"
#include "autograd/dispatch.h"
#include "autograd/node.h"
#include "autograd/ops.h"

namespace differnet {
namespace {

Tensor reduce_sum_kernel(const char* name, const Tensor& x, kernels::DimSplit s, const Shape& out_shape) {
  Tensor y = Tensor::empty(out_shape, x.dtype(), x.device());
  if (x.device() == Device::CPU) {
    detail::dispatch_floating(name, x, [&](auto tag) {
      using T = decltype(tag);
      kernels::cpu::reduce_sum<T>(x.data<T>(), y.data<T>(), s);
    });
  } else {
    detail::check_cuda_float32(name, x);
    DIFFERNET_ON_CUDA(kernels::cuda::reduce_sum(x.data<float>(), y.data<float>(), s));
  }
  return y;
}

}  // namespace

Tensor sum(const Tensor& x) {
  check_defined("sum", x, "input");
  Tensor y = reduce_sum_kernel("sum", x, {1, x.numel(), 1}, {});
  const Shape shape = x.shape();
  record("sum", {x}, {&y}, [=](const std::vector<Tensor>& g, const std::vector<bool>&) -> std::vector<Tensor> {
    return {g[0].defined() ? broadcast_to(g[0], shape) : Tensor()};
  });
  return y;
}

Tensor sum(const Tensor& x, int64_t dim, bool keepdim) {
  check_defined("sum", x, "input");
  const auto s = detail::split_at("sum", x.shape(), dim);
  Shape kept = x.shape();
  kept[size_t(s.dim)] = 1;
  Shape out_shape = kept;
  if (!keepdim) out_shape.erase(out_shape.begin() + s.dim);
  Tensor y = reduce_sum_kernel("sum", x, {s.outer, s.len, s.inner}, out_shape);
  const Shape shape = x.shape();
  record("sum_dim", {x}, {&y}, [=](const std::vector<Tensor>& g, const std::vector<bool>&) -> std::vector<Tensor> {
    return {g[0].defined() ? broadcast_to(reshape(g[0], kept), shape) : Tensor()};
  });
  return y;
}

bool all_finite(const std::vector<Tensor>& xs) {
  std::vector<kernels::cuda::FloatSpan> on_device;
  for (const Tensor& x : xs) {
    check_defined("all_finite", x, "input");
    if (x.device() == Device::CPU) {
      bool finite = true;
      detail::dispatch_floating("all_finite", x, [&](auto tag) {
        using T = decltype(tag);
        finite = kernels::cpu::all_finite<T>(x.data<T>(), x.numel());
      });
      if (!finite) return false;
    } else {
      detail::check_cuda_float32("all_finite", x);
      on_device.push_back({x.data<float>(), x.numel()});
    }
  }
  if (on_device.empty()) return true;
  DIFFERNET_ON_CUDA(return kernels::cuda::all_finite(on_device.data(), int(on_device.size())));
}

Tensor mean(const Tensor& x) {
  check_defined("mean", x, "input");
  DIFFERNET_CHECK(x.numel() > 0, "mean of an empty tensor ", x.describe());
  return mul_scalar(sum(x), 1.0 / double(x.numel()));
}

Tensor mean(const Tensor& x, int64_t dim, bool keepdim) {
  check_defined("mean", x, "input");
  const int64_t n = x.size(dim);
  DIFFERNET_CHECK(n > 0, "mean over an empty dimension of ", x.describe());
  return mul_scalar(sum(x, dim, keepdim), 1.0 / double(n));
}

}  // namespace differnet
