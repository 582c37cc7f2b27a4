#include "layers/alexnet.h"

#include "autograd/ops.h"
#include "autograd/ops_conv.h"

namespace differnet {

AlexNetFeatures::AlexNetFeatures(Generator& gen, DType dtype, Device device) {
  auto features = register_module("features", std::make_shared<ModuleGroup>());
  auto conv = [&](const char* index, int64_t in, int64_t out, int64_t k, int64_t s, int64_t p) {
    return features->register_module(index, std::make_shared<Conv2d>(in, out, k, s, p, gen, dtype, device));
  };
  conv0_ = conv("0", 3, 64, 11, 4, 2);
  conv3_ = conv("3", 64, 192, 5, 1, 2);
  conv6_ = conv("6", 192, 384, 3, 1, 1);
  conv8_ = conv("8", 384, 256, 3, 1, 1);
  conv10_ = conv("10", 256, 256, 3, 1, 1);
}

Tensor AlexNetFeatures::forward(const Tensor& x) const {
  DIFFERNET_CHECK(x.dim() == 4 && x.size(1) == 3, "AlexNetFeatures: input ", x.describe(), " is not [N, 3, H, W]");
  Tensor h = max_pool2d(conv0_->forward_relu(x), 3, 2);
  h = max_pool2d(conv3_->forward_relu(h), 3, 2);
  h = conv6_->forward_relu(h);
  h = conv8_->forward_relu(h);
  return max_pool2d(conv10_->forward_relu(h), 3, 2);
}

}  // namespace differnet
