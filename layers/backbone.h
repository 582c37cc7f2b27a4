// Convolutional backbones: the `features` part of torchvision ImageNet models,
// with parameter names equal to torchvision's state-dict keys, and a registry
// that makes one by name.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "layers/module.h"

namespace differnet {

// A module that only groups named children, like the nn.Sequential whose
// indices name torchvision's layers ("features.0.weight").
class ModuleGroup : public Module {
 public:
  using Module::register_module;
};

class Backbone : public Module {
 public:
  // [N, 3, H, W] -> [N, feature_channels(), h, w]
  virtual Tensor forward(const Tensor& x) const = 0;
  virtual int64_t feature_channels() const = 0;
  virtual std::string name() const = 0;
};

// "alexnet" or "squeezenet1_1", randomly initialised (PyTorch's default Conv2d
// initialisation, drawn from `seed`) and frozen (set_trainable(false)): load
// ImageNet weights with load_backbone_weights. An unknown name is an error
// listing the known ones.
std::shared_ptr<Backbone> make_backbone(const std::string& name, uint64_t seed = 0, DType dtype = DType::Float32,
                                        Device device = Device::CPU);
std::vector<std::string> backbone_names();

// Loads a torchvision checkpoint (.pth either format, or .safetensors) into the
// backbone: keys with or without the "features." prefix; a full model's
// "classifier." tensors are ignored; anything else missing, extra or
// mis-shaped is an error naming the file.
void load_backbone_weights(Backbone& backbone, const std::string& path);

}  // namespace differnet
