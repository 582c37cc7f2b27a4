// Pooling: 2-D max pooling (own kernels, CPU and CUDA) and global average
// pooling (a mean over the flattened spatial dimension).
#include "autograd/dispatch.h"
#include "autograd/node.h"
#include "autograd/ops.h"
#include "autograd/ops_conv.h"
#include "kernels/pool.h"

namespace differnet {

Tensor max_pool2d(const Tensor& x, int64_t kernel_size, int64_t stride, int64_t padding, bool ceil_mode) {
  check_defined("max_pool2d", x, "input");
  DIFFERNET_CHECK(x.dim() == 4, "max_pool2d: input must be [N, C, H, W], got ", x.describe());
  DIFFERNET_CHECK(kernel_size >= 1 && stride >= 1, "max_pool2d: bad kernel size ", kernel_size, " or stride ", stride);
  DIFFERNET_CHECK(padding >= 0 && 2 * padding <= kernel_size, "max_pool2d: padding ", padding,
                  " must be at most half the kernel size ", kernel_size);
  kernels::Pool2dGeometry g;
  g.planes = x.size(0) * x.size(1);
  g.in_h = int(x.size(2)), g.in_w = int(x.size(3));
  g.kernel_h = g.kernel_w = int(kernel_size);
  g.stride_h = g.stride_w = int(stride);
  g.pad_h = g.pad_w = int(padding);
  const int64_t out_h = kernels::pool_output_size(x.size(2), kernel_size, stride, padding, ceil_mode);
  const int64_t out_w = kernels::pool_output_size(x.size(3), kernel_size, stride, padding, ceil_mode);
  DIFFERNET_CHECK(out_h > 0 && out_w > 0, "max_pool2d: kernel ", kernel_size, " with padding ", padding,
                  " does not fit input ", x.describe());
  g.out_h = int(out_h), g.out_w = int(out_w);
  Tensor y = Tensor::empty({x.size(0), x.size(1), out_h, out_w}, x.dtype(), x.device());
  if (x.device() == Device::CPU) {
    detail::dispatch_floating("max_pool2d", x, [&](auto tag) {
      using T = decltype(tag);
      kernels::cpu::max_pool2d<T>(g, x.data<T>(), y.data<T>());
    });
  } else {
    detail::check_cuda_float32("max_pool2d", x);
    DIFFERNET_ON_CUDA(kernels::cuda::max_pool2d(g, x.data<float>(), y.data<float>()));
  }
  // The backward finds each window's maximum again in the saved input: no index tensor.
  const Tensor x_saved = x.detach();
  record("max_pool2d", {x}, {&y}, [=](const std::vector<Tensor>& grads, const std::vector<bool>&) -> std::vector<Tensor> {
    const Tensor& gy = grads[0];
    if (!gy.defined()) return {Tensor()};
    Tensor gx = Tensor::empty(x_saved.shape(), gy.dtype(), gy.device());
    if (gy.device() == Device::CPU) {
      detail::dispatch_floating("max_pool2d backward", gy, [&](auto tag) {
        using T = decltype(tag);
        kernels::cpu::max_pool2d_backward<T>(g, x_saved.data<T>(), gy.data<T>(), gx.data<T>());
      });
    } else {
      DIFFERNET_ON_CUDA(
          kernels::cuda::max_pool2d_backward(g, x_saved.data<float>(), gy.data<float>(), gx.data<float>()));
    }
    return {gx};
  });
  return y;
}

Tensor global_avg_pool2d(const Tensor& x) {
  check_defined("global_avg_pool2d", x, "input");
  DIFFERNET_CHECK(x.dim() == 4 && x.size(2) * x.size(3) > 0, "global_avg_pool2d: input must be a non-empty [N, C, H, W], got ",
                  x.describe());
  return mean(reshape(x, {x.size(0), x.size(1), x.size(2) * x.size(3)}), 2);
}

}  // namespace differnet
