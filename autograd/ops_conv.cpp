// 2-D convolution: forward and backward on the CPU (im2col + GEMM) or cuDNN.
#include "autograd/dispatch.h"
#include "autograd/node.h"
#include "autograd/ops_conv.h"
#include "kernels/conv.h"
#include "kernels/kernels.h"

namespace differnet {
namespace {

kernels::Conv2dGeometry conv_geometry(const Tensor& x, const Tensor& weight, int64_t stride, int64_t padding) {
  DIFFERNET_CHECK(x.dim() == 4, "conv2d: input must be [N, C, H, W], got ", x.describe());
  DIFFERNET_CHECK(weight.dim() == 4, "conv2d: weight must be [C_out, C_in, k_h, k_w], got ", weight.describe());
  DIFFERNET_CHECK(x.size(1) == weight.size(1), "conv2d: input ", x.describe(), " has ", x.size(1),
                  " channels but weight ", weight.describe(), " expects ", weight.size(1));
  DIFFERNET_CHECK(stride >= 1 && padding >= 0, "conv2d: bad stride ", stride, " or padding ", padding);
  kernels::Conv2dGeometry g;
  g.batch = x.size(0), g.in_channels = x.size(1), g.in_h = x.size(2), g.in_w = x.size(3);
  g.out_channels = weight.size(0), g.kernel_h = weight.size(2), g.kernel_w = weight.size(3);
  g.stride_h = g.stride_w = stride;
  g.pad_h = g.pad_w = padding;
  DIFFERNET_CHECK(g.kernel_h >= 1 && g.kernel_w >= 1 && g.out_channels >= 1 && g.in_h + 2 * padding >= g.kernel_h &&
                      g.in_w + 2 * padding >= g.kernel_w,
                  "conv2d: kernel ", weight.describe(), " does not fit input ", x.describe(), " with padding ",
                  padding);
  g.out_h = (g.in_h + 2 * padding - g.kernel_h) / stride + 1;
  g.out_w = (g.in_w + 2 * padding - g.kernel_w) / stride + 1;
  return g;
}

// conv2d and conv2d_relu: the convolution, with the ReLU applied as its output
// is written when `relu` is set.
Tensor convolution(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t stride, int64_t padding,
                   bool relu) {
  check_defined("conv2d", x, "input");
  check_defined("conv2d", weight, "weight");
  check_same_device("conv2d", x, weight);
  check_same_dtype("conv2d", x, weight);
  const kernels::Conv2dGeometry g = conv_geometry(x, weight, stride, padding);
  if (bias.defined()) {
    check_same_device("conv2d", x, bias);
    check_same_dtype("conv2d", x, bias);
    DIFFERNET_CHECK(bias.shape() == Shape{g.out_channels}, "conv2d: bias ", bias.describe(),
                    " does not match weight ", weight.describe());
  }
  Tensor y = Tensor::empty({g.batch, g.out_channels, g.out_h, g.out_w}, x.dtype(), x.device());
  if (x.device() == Device::CPU) {
    detail::dispatch_floating("conv2d", x, [&](auto tag) {
      using T = decltype(tag);
      kernels::cpu::conv2d<T>(g, x.data<T>(), weight.data<T>(), bias.defined() ? bias.data<T>() : nullptr,
                              y.data<T>(), relu);
    });
  } else {
    detail::check_cuda_float32("conv2d", x);
    DIFFERNET_ON_CUDA({
      kernels::cuda::conv2d(g, x.data<float>(), weight.data<float>(), bias.defined() ? bias.data<float>() : nullptr,
                            y.data<float>());
      if (relu) kernels::cuda::unary(kernels::UnaryOp::Relu, y.data<float>(), y.data<float>(), y.numel(), 0.0f);
    });
  }
  const Tensor x_saved = x.detach(), w_saved = weight.detach();
  // The ReLU's backward needs only where the output is positive (y > 0 exactly where conv + bias > 0).
  const Tensor y_saved = relu ? y.detach() : Tensor();
  const bool has_bias = bias.defined();
  std::vector<Tensor> inputs{x, weight};
  if (has_bias) inputs.push_back(bias);
  record(relu ? "conv2d_relu" : "conv2d", inputs, {&y}, [=](const std::vector<Tensor>& grads, const std::vector<bool>& needs) {
    std::vector<Tensor> out(needs.size());
    if (!grads[0].defined()) return out;
    Tensor gy = grads[0];
    if (relu) {  // the gradient at the convolution's output: gy where y > 0, else 0
      Tensor masked = Tensor::empty(gy.shape(), gy.dtype(), gy.device());
      if (gy.device() == Device::CPU) {
        detail::dispatch_floating("conv2d_relu backward", gy, [&](auto tag) {
          using T = decltype(tag);
          kernels::cpu::unary_backward<T>(kernels::UnaryOp::Relu, y_saved.data<T>(), y_saved.data<T>(), gy.data<T>(),
                                          masked.data<T>(), gy.numel(), T(0));
        });
      } else {
        DIFFERNET_ON_CUDA(kernels::cuda::unary_backward(kernels::UnaryOp::Relu, y_saved.data<float>(),
                                                        y_saved.data<float>(), gy.data<float>(),
                                                        masked.data<float>(), gy.numel(), 0.0f));
      }
      gy = masked;
    }
    const bool want_weight = needs[1] || (has_bias && needs[2]);
    if (needs[0]) out[0] = Tensor::empty(x_saved.shape(), gy.dtype(), gy.device());
    // The bias gradient comes with the weight's; the weight's is dropped when only the bias wants one.
    Tensor gw = want_weight ? Tensor::empty(w_saved.shape(), gy.dtype(), gy.device()) : Tensor();
    if (has_bias && needs[2]) out[2] = Tensor::empty({g.out_channels}, gy.dtype(), gy.device());
    if (gy.device() == Device::CPU) {
      detail::dispatch_floating("conv2d backward", gy, [&](auto tag) {
        using T = decltype(tag);
        if (needs[0]) kernels::cpu::conv2d_backward_input<T>(g, gy.data<T>(), w_saved.data<T>(), out[0].data<T>());
        if (want_weight)
          kernels::cpu::conv2d_backward_weight<T>(g, x_saved.data<T>(), gy.data<T>(), gw.data<T>(),
                                                  out.size() > 2 && out[2].defined() ? out[2].data<T>() : nullptr);
      });
    } else {
      DIFFERNET_ON_CUDA({
        if (needs[0])
          kernels::cuda::conv2d_backward_input(g, gy.data<float>(), w_saved.data<float>(), out[0].data<float>());
        if (want_weight)
          kernels::cuda::conv2d_backward_weight(g, x_saved.data<float>(), gy.data<float>(), gw.data<float>(),
                                                out.size() > 2 && out[2].defined() ? out[2].data<float>() : nullptr);
      });
    }
    if (needs[1]) out[1] = gw;
    return out;
  });
  return y;
}

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t stride, int64_t padding) {
  return convolution(x, weight, bias, stride, padding, false);
}

Tensor conv2d_relu(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t stride, int64_t padding) {
  return convolution(x, weight, bias, stride, padding, true);
}

}  // namespace differnet
