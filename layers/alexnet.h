// torchvision AlexNet, `features` part (paper/implementation-facts.md,
// "Feature extractor"); parameters named as torchvision's state dict:
//   features.0  Conv 3->64,    k11 s4 p2; ReLU; MaxPool k3 s2
//   features.3  Conv 64->192,  k5 p2;     ReLU; MaxPool k3 s2
//   features.6  Conv 192->384, k3 p1;     ReLU
//   features.8  Conv 384->256, k3 p1;     ReLU
//   features.10 Conv 256->256, k3 p1;     ReLU; MaxPool k3 s2
// A 448x448 input gives 13x13 maps, 224 gives 6x6, 112 gives 2x2.
#pragma once
#include "layers/backbone.h"
#include "layers/conv2d.h"

namespace differnet {

class AlexNetFeatures : public Backbone {
 public:
  explicit AlexNetFeatures(Generator& gen, DType dtype = DType::Float32, Device device = Device::CPU);
  Tensor forward(const Tensor& x) const override;
  int64_t feature_channels() const override { return 256; }
  std::string name() const override { return "alexnet"; }

 private:
  std::shared_ptr<Conv2d> conv0_, conv3_, conv6_, conv8_, conv10_;
};

}  // namespace differnet
