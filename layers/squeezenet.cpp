#include "layers/squeezenet.h"

#include "autograd/ops.h"
#include "autograd/ops_conv.h"

namespace differnet {

Fire::Fire(int64_t in_channels, int64_t squeeze, int64_t expand1x1, int64_t expand3x3, Generator& gen, DType dtype,
           Device device) {
  squeeze_ = register_module("squeeze", std::make_shared<Conv2d>(in_channels, squeeze, 1, 1, 0, gen, dtype, device));
  expand1x1_ =
      register_module("expand1x1", std::make_shared<Conv2d>(squeeze, expand1x1, 1, 1, 0, gen, dtype, device));
  expand3x3_ =
      register_module("expand3x3", std::make_shared<Conv2d>(squeeze, expand3x3, 3, 1, 1, gen, dtype, device));
}

Tensor Fire::forward(const Tensor& x) const {
  const Tensor s = squeeze_->forward_relu(x);
  return concat({expand1x1_->forward_relu(s), expand3x3_->forward_relu(s)}, 1);
}

SqueezeNet1_1Features::SqueezeNet1_1Features(Generator& gen, DType dtype, Device device) {
  auto features = register_module("features", std::make_shared<ModuleGroup>());
  conv0_ = features->register_module("0", std::make_shared<Conv2d>(3, 64, 3, 2, 0, gen, dtype, device));
  struct FireSpec {
    const char* index;
    int64_t in, squeeze, expand;
  };
  for (const FireSpec& f : {FireSpec{"3", 64, 16, 64}, FireSpec{"4", 128, 16, 64}, FireSpec{"6", 128, 32, 128},
                            FireSpec{"7", 256, 32, 128}, FireSpec{"9", 256, 48, 192}, FireSpec{"10", 384, 48, 192},
                            FireSpec{"11", 384, 64, 256}, FireSpec{"12", 512, 64, 256}})
    fires_.push_back(features->register_module(
        f.index, std::make_shared<Fire>(f.in, f.squeeze, f.expand, f.expand, gen, dtype, device)));
}

Tensor SqueezeNet1_1Features::forward(const Tensor& x) const {
  DIFFERNET_CHECK(x.dim() == 4 && x.size(1) == 3, "SqueezeNet1_1Features: input ", x.describe(),
                  " is not [N, 3, H, W]");
  Tensor h = max_pool2d(conv0_->forward_relu(x), 3, 2, 0, true);
  // Fires 3, 4 | pool | 6, 7 | pool | 9, 10, 11, 12
  for (size_t i = 0; i < fires_.size(); ++i) {
    h = fires_[i]->forward(h);
    if (i == 1 || i == 3) h = max_pool2d(h, 3, 2, 0, true);
  }
  return h;
}

}  // namespace differnet
