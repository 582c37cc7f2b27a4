// A small module system: a Module owns named parameters and named child
// modules, so that parameters get torchvision-style dotted names
// ("features.0.weight", "flow.3.subnet1.2.bias") for checkpoints and errors.
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "autograd/tensor.h"

namespace differnet {

class Module {
 public:
  virtual ~Module() = default;

  // (dotted name, parameter) for this module and its children, in registration order.
  std::vector<std::pair<std::string, Tensor>> named_parameters(const std::string& prefix = "") const;
  std::vector<Tensor> parameters() const;
  // Frozen parameters take no gradient (requires_grad false): a frozen backbone
  // still passes gradients through to its input.
  void set_trainable(bool trainable);
  // Moves every parameter to `device` (the Tensor handles stay valid: each
  // parameter's storage is swapped in place).
  void to(Device device);

 protected:
  Tensor register_parameter(const std::string& name, Tensor value, bool trainable = true);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    children_.emplace_back(name, module);
    return module;
  }

 private:
  std::vector<std::pair<std::string, Tensor>> params_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
};

}  // namespace differnet
