// Linear layer y = x W^T + b with PyTorch's default initialisation:
// W and b uniform in +-1/sqrt(in_features) (torch.nn.Linear.reset_parameters).
#pragma once
#include "autograd/random.h"
#include "layers/module.h"

namespace differnet {

class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, Generator& gen, DType dtype = DType::Float32,
         Device device = Device::CPU);
  Tensor forward(const Tensor& x) const;
  // relu(forward(x)) as one op (linear_relu: ReLU fused into the GEMM on the CPU).
  Tensor forward_relu(const Tensor& x) const;
  const Tensor& weight() const { return weight_; }
  const Tensor& bias() const { return bias_; }
  int64_t in_features() const { return weight_.size(1); }
  int64_t out_features() const { return weight_.size(0); }

 private:
  Tensor weight_, bias_;
};

}  // namespace differnet
