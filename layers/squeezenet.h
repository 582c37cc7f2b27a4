// torchvision SqueezeNet 1.1, `features` part; parameters named as
// torchvision's state dict ("features.3.squeeze.weight", ...):
//   features.0 Conv 3->64 k3 s2; ReLU; MaxPool k3 s2 ceil_mode
//   features.3, 4 Fire(64|128, 16, 64, 64); MaxPool k3 s2 ceil_mode
//   features.6, 7 Fire(128|256, 32, 128, 128); MaxPool k3 s2 ceil_mode
//   features.9, 10 Fire(256|384, 48, 192, 192); features.11, 12 Fire(384|512, 64, 256, 256)
// Output: 512 channels.
#pragma once
#include "layers/backbone.h"
#include "layers/conv2d.h"

namespace differnet {

// Fire(in, squeeze, expand1x1, expand3x3): s = ReLU(squeeze 1x1 conv(x)), then
// concat(ReLU(expand1x1(s)), ReLU(expand3x3(s) with padding 1)) over channels.
class Fire : public Module {
 public:
  Fire(int64_t in_channels, int64_t squeeze, int64_t expand1x1, int64_t expand3x3, Generator& gen, DType dtype,
       Device device);
  Tensor forward(const Tensor& x) const;
  int64_t out_channels() const { return expand1x1_->out_channels() + expand3x3_->out_channels(); }

 private:
  std::shared_ptr<Conv2d> squeeze_, expand1x1_, expand3x3_;
};

class SqueezeNet1_1Features : public Backbone {
 public:
  explicit SqueezeNet1_1Features(Generator& gen, DType dtype = DType::Float32, Device device = Device::CPU);
  Tensor forward(const Tensor& x) const override;
  int64_t feature_channels() const override { return 512; }
  std::string name() const override { return "squeezenet1_1"; }

 private:
  std::shared_ptr<Conv2d> conv0_;
  std::vector<std::shared_ptr<Fire>> fires_;  // features.3, 4, 6, 7, 9, 10, 11, 12
};

}  // namespace differnet
