#include "layers/conv2d.h"

#include <cmath>

#include "autograd/ops_conv.h"

namespace differnet {

Conv2d::Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel_size, int64_t stride, int64_t padding,
               Generator& gen, DType dtype, Device device)
    : stride_(stride), padding_(padding) {
  DIFFERNET_CHECK(in_channels > 0 && out_channels > 0 && kernel_size > 0 && stride > 0 && padding >= 0,
                  "Conv2d: bad configuration in ", in_channels, " out ", out_channels, " kernel ", kernel_size,
                  " stride ", stride, " padding ", padding);
  const double bound = 1.0 / std::sqrt(double(in_channels * kernel_size * kernel_size));
  weight_ = register_parameter(
      "weight", rand_uniform({out_channels, in_channels, kernel_size, kernel_size}, -bound, bound, gen, dtype, device));
  bias_ = register_parameter("bias", rand_uniform({out_channels}, -bound, bound, gen, dtype, device));
}

Tensor Conv2d::forward(const Tensor& x) const {
  DIFFERNET_CHECK(x.dim() == 4 && x.size(1) == in_channels(), "Conv2d(", in_channels(), " -> ", out_channels(),
                  "): input ", x.describe(), " is not [N, ", in_channels(), ", H, W]");
  return conv2d(x, weight_, bias_, stride_, padding_);
}

Tensor Conv2d::forward_relu(const Tensor& x) const {
  DIFFERNET_CHECK(x.dim() == 4 && x.size(1) == in_channels(), "Conv2d(", in_channels(), " -> ", out_channels(),
                  "): input ", x.describe(), " is not [N, ", in_channels(), ", H, W]");
  return conv2d_relu(x, weight_, bias_, stride_, padding_);
}

}  // namespace differnet
