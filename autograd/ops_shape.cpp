// Shape ops: reshape, broadcast, concat, narrow and index_select (the flow's
// feature permutation). They move data; the backward of each moves it back.
#include "autograd/broadcast.h"
#include "autograd/dispatch.h"
#include "autograd/node.h"
#include "autograd/ops.h"

namespace differnet {
namespace {

void copy_slab(const Tensor& x, Tensor& y, int64_t outer, int64_t x_len, int64_t y_len, int64_t x_start,
               int64_t y_start, int64_t count, int64_t inner) {
  const int64_t inner_bytes = inner * int64_t(dtype_size(x.dtype()));
  if (x.device() == Device::CPU) {
    kernels::cpu::copy_slab(x.raw_data(), y.raw_data(), outer, x_len, y_len, x_start, y_start, count, inner_bytes);
  } else {
    DIFFERNET_ON_CUDA(
        kernels::cuda::copy_slab(x.raw_data(), y.raw_data(), outer, x_len, y_len, x_start, y_start, count, inner_bytes));
  }
}

}  // namespace

Tensor reshape(const Tensor& x, Shape shape) {
  check_defined("reshape", x, "input");
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      DIFFERNET_CHECK(infer < 0, "reshape: more than one -1 in ", shape_str(shape));
      infer = int64_t(i);
    } else {
      DIFFERNET_CHECK(shape[i] >= 0, "reshape: bad size in ", shape_str(shape));
      known *= shape[i];
    }
  }
  if (infer >= 0) {
    DIFFERNET_CHECK(known > 0 && x.numel() % known == 0, "reshape: cannot reshape ", x.describe(), " to ",
                    shape_str(shape));
    shape[size_t(infer)] = x.numel() / known;
  }
  DIFFERNET_CHECK(shape_numel(shape) == x.numel(), "reshape: cannot reshape ", x.describe(), " (", x.numel(),
                  " elements) to ", shape_str(shape));
  Tensor y = Tensor::view_of(x.impl().storage, x.impl().offset, shape, x.dtype());
  const Shape in_shape = x.shape();
  record("reshape", {x}, {&y}, [=](const std::vector<Tensor>& g, const std::vector<bool>&) -> std::vector<Tensor> {
    return {g[0].defined() ? reshape(g[0], in_shape) : Tensor()};
  });
  return y;
}

Tensor broadcast_to(const Tensor& x, const Shape& shape) {
  check_defined("broadcast_to", x, "input");
  DIFFERNET_CHECK(detail::broadcast_shape("broadcast_to", x.shape(), shape) == shape, "broadcast_to: ",
                  x.describe(), " cannot be broadcast to ", shape_str(shape));
  if (x.shape() == shape) return x;
  Tensor y = Tensor::empty(shape, x.dtype(), x.device());
  const kernels::BroadcastIndex bc = detail::broadcast_index("broadcast_to", shape, x.shape(), shape);
  if (x.device() == Device::CPU) {
    switch (x.dtype()) {
      case DType::Float32: kernels::cpu::broadcast_copy(x.data<float>(), y.data<float>(), y.numel(), bc); break;
      case DType::Float64: kernels::cpu::broadcast_copy(x.data<double>(), y.data<double>(), y.numel(), bc); break;
      case DType::UInt8: kernels::cpu::broadcast_copy(x.data<uint8_t>(), y.data<uint8_t>(), y.numel(), bc); break;
    }
  } else {
    detail::check_cuda_float32("broadcast_to", x);
    DIFFERNET_ON_CUDA(kernels::cuda::broadcast_copy(x.data<float>(), y.data<float>(), y.numel(), bc));
  }
  const Shape in_shape = x.shape();
  record("broadcast_to", {x}, {&y}, [=](const std::vector<Tensor>& g, const std::vector<bool>&) -> std::vector<Tensor> {
    return {g[0].defined() ? sum_to(g[0], in_shape) : Tensor()};
  });
  return y;
}

Tensor sum_to(const Tensor& x, const Shape& shape) {
  check_defined("sum_to", x, "input");
  if (x.shape() == shape) return x;
  DIFFERNET_CHECK(shape.size() <= x.shape().size() &&
                      detail::broadcast_shape("sum_to", shape, x.shape()) == x.shape(),
                  "sum_to: ", x.describe(), " is not a broadcast of shape ", shape_str(shape));
  Tensor y = x;
  while (y.dim() > int64_t(shape.size())) y = sum(y, 0, false);
  for (size_t i = 0; i < shape.size(); ++i)
    if (shape[i] == 1 && y.shape()[i] != 1) y = sum(y, int64_t(i), true);
  return y;
}

Tensor concat(const std::vector<Tensor>& xs, int64_t dim) {
  DIFFERNET_CHECK(!xs.empty(), "concat: no tensors given");
  for (const Tensor& x : xs) check_defined("concat", x, "an input");
  const Tensor& first = xs[0];
  const auto s0 = detail::split_at("concat", first.shape(), dim);
  Shape out_shape = first.shape();
  int64_t total = 0;
  for (const Tensor& x : xs) {
    check_same_device("concat", first, x);
    check_same_dtype("concat", first, x);
    bool match = x.dim() == first.dim();
    for (int64_t d = 0; match && d < x.dim(); ++d) match = d == s0.dim || x.shape()[size_t(d)] == first.shape()[size_t(d)];
    DIFFERNET_CHECK(match, "concat along dimension ", dim, ": ", x.describe(), " does not match ", first.describe());
    total += x.shape()[size_t(s0.dim)];
  }
  out_shape[size_t(s0.dim)] = total;
  Tensor y = Tensor::empty(out_shape, first.dtype(), first.device());
  std::vector<int64_t> starts;
  int64_t start = 0;
  for (const Tensor& x : xs) {
    const int64_t len = x.shape()[size_t(s0.dim)];
    copy_slab(x, y, s0.outer, len, total, 0, start, len, s0.inner);
    starts.push_back(start);
    start += len;
  }
  std::vector<int64_t> lengths;
  for (const Tensor& x : xs) lengths.push_back(x.shape()[size_t(s0.dim)]);
  const int64_t d = s0.dim;
  record("concat", xs, {&y}, [=](const std::vector<Tensor>& g, const std::vector<bool>& needs) -> std::vector<Tensor> {
    std::vector<Tensor> grads(needs.size());
    if (!g[0].defined()) return grads;
    for (size_t i = 0; i < needs.size(); ++i)
      if (needs[i]) grads[i] = narrow(g[0], d, starts[i], lengths[i]);
    return grads;
  });
  return y;
}

Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length) {
  check_defined("narrow", x, "input");
  const auto s = detail::split_at("narrow", x.shape(), dim);
  DIFFERNET_CHECK(start >= 0 && length >= 0 && start + length <= s.len, "narrow: range [", start, ", ",
                  start + length, ") out of bounds for dimension ", dim, " of ", x.describe());
  Shape out_shape = x.shape();
  out_shape[size_t(s.dim)] = length;
  Tensor y = Tensor::empty(out_shape, x.dtype(), x.device());
  copy_slab(x, y, s.outer, s.len, length, start, 0, length, s.inner);
  const Shape in_shape = x.shape();
  record("narrow", {x}, {&y}, [=](const std::vector<Tensor>& g, const std::vector<bool>&) -> std::vector<Tensor> {
    if (!g[0].defined()) return {Tensor()};
    Tensor gx = Tensor::zeros(in_shape, g[0].dtype(), g[0].device());
    copy_slab(g[0], gx, s.outer, length, s.len, 0, start, length, s.inner);
    return {gx};
  });
  return y;
}

Tensor index_select(const Tensor& x, int64_t dim, const std::vector<int64_t>& index) {
  check_defined("index_select", x, "input");
  const auto s = detail::split_at("index_select", x.shape(), dim);
  for (int64_t i : index)
    DIFFERNET_CHECK(i >= 0 && i < s.len, "index_select: index ", i, " out of range for dimension ", dim, " of ",
                    x.describe());
  Shape out_shape = x.shape();
  out_shape[size_t(s.dim)] = int64_t(index.size());
  Tensor y = Tensor::empty(out_shape, x.dtype(), x.device());
  const kernels::DimSplit split{s.outer, s.len, s.inner};
  const int64_t n = int64_t(index.size());
  if (x.device() == Device::CPU) {
    detail::dispatch_floating("index_select", x, [&](auto tag) {
      using T = decltype(tag);
      kernels::cpu::gather<T>(x.data<T>(), y.data<T>(), split, index.data(), n);
    });
  } else {
    detail::check_cuda_float32("index_select", x);
    DIFFERNET_ON_CUDA(kernels::cuda::gather(x.data<float>(), y.data<float>(), split, index.data(), n));
  }
  const Shape in_shape = x.shape();
  record("index_select", {x}, {&y}, [=](const std::vector<Tensor>& g, const std::vector<bool>&) -> std::vector<Tensor> {
    if (!g[0].defined()) return {Tensor()};
    const Tensor& gy = g[0];
    Tensor gx = Tensor::zeros(in_shape, gy.dtype(), gy.device());
    if (gy.device() == Device::CPU) {
      detail::dispatch_floating("index_select backward", gy, [&](auto tag) {
        using T = decltype(tag);
        kernels::cpu::scatter_add<T>(gy.data<T>(), gx.data<T>(), split, index.data(), n);
      });
    } else {
      DIFFERNET_ON_CUDA(kernels::cuda::scatter_add(gy.data<float>(), gx.data<float>(), split, index.data(), n));
    }
    return {gx};
  });
  return y;
}

}  // namespace differnet
