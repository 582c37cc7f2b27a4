// Nearest-neighbour 2-D resize: how DifferNet makes the 224 and 112 scales
// from the 448 input (PyTorch F.interpolate's default mode).
#include "autograd/dispatch.h"
#include "autograd/node.h"
#include "autograd/ops.h"

namespace differnet {

Tensor resize_nearest2d(const Tensor& x, int64_t out_h, int64_t out_w) {
  check_defined("resize_nearest2d", x, "input");
  DIFFERNET_CHECK(x.dim() == 4, "resize_nearest2d: needs [N, C, H, W], got ", x.describe());
  DIFFERNET_CHECK(out_h > 0 && out_w > 0 && x.size(2) > 0 && x.size(3) > 0, "resize_nearest2d: cannot resize ",
                  x.describe(), " to ", out_h, "x", out_w);
  const int64_t planes = x.size(0) * x.size(1);
  const int h = int(x.size(2)), w = int(x.size(3)), oh = int(out_h), ow = int(out_w);
  Tensor y = Tensor::empty({x.size(0), x.size(1), out_h, out_w}, x.dtype(), x.device());
  if (x.device() == Device::CPU) {
    switch (x.dtype()) {
      case DType::Float32: kernels::cpu::resize_nearest(x.data<float>(), y.data<float>(), planes, h, w, oh, ow); break;
      case DType::Float64: kernels::cpu::resize_nearest(x.data<double>(), y.data<double>(), planes, h, w, oh, ow); break;
      case DType::UInt8: kernels::cpu::resize_nearest(x.data<uint8_t>(), y.data<uint8_t>(), planes, h, w, oh, ow); break;
    }
  } else {
    detail::check_cuda_float32("resize_nearest2d", x);
    DIFFERNET_ON_CUDA(kernels::cuda::resize_nearest(x.data<float>(), y.data<float>(), planes, h, w, oh, ow));
  }
  const Shape in_shape = x.shape();
  record("resize_nearest2d", {x}, {&y}, [=](const std::vector<Tensor>& g, const std::vector<bool>&) -> std::vector<Tensor> {
    if (!g[0].defined()) return {Tensor()};
    const Tensor& gy = g[0];
    Tensor gx = Tensor::empty(in_shape, gy.dtype(), gy.device());
    if (gy.device() == Device::CPU) {
      detail::dispatch_floating("resize_nearest2d backward", gy, [&](auto tag) {
        using T = decltype(tag);
        kernels::cpu::resize_nearest_backward<T>(gy.data<T>(), gx.data<T>(), planes, h, w, oh, ow);
      });
    } else {
      DIFFERNET_ON_CUDA(kernels::cuda::resize_nearest_backward(gy.data<float>(), gx.data<float>(), planes, h, w, oh, ow));
    }
    return {gx};
  });
  return y;
}

}  // namespace differnet
