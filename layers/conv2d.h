// 2-D convolution layer (torch.nn.Conv2d, square kernels) with PyTorch's
// default initialisation: kaiming_uniform(a = sqrt(5)) for the weight, which is
// uniform in +-1/sqrt(fan_in), and the bias uniform in +-1/sqrt(fan_in), where
// fan_in = in_channels * kernel_size^2.
#pragma once
#include "autograd/random.h"
#include "layers/module.h"

namespace differnet {

class Conv2d : public Module {
 public:
  Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel_size, int64_t stride, int64_t padding,
         Generator& gen, DType dtype = DType::Float32, Device device = Device::CPU);
  Tensor forward(const Tensor& x) const;  // [N, in, H, W] -> [N, out, H', W']
  Tensor forward_relu(const Tensor& x) const;  // relu(forward(x)), fused (conv2d_relu)
  const Tensor& weight() const { return weight_; }
  const Tensor& bias() const { return bias_; }
  int64_t in_channels() const { return weight_.size(1); }
  int64_t out_channels() const { return weight_.size(0); }
  int64_t kernel_size() const { return weight_.size(2); }
  int64_t stride() const { return stride_; }
  int64_t padding() const { return padding_; }

 private:
  Tensor weight_, bias_;
  int64_t stride_, padding_;
};

}  // namespace differnet
