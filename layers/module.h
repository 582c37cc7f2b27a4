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

// One buffer that the parameters registered while it is open move into, back
// to back in registration order. DifferNetFlow opens one for its 172 M
// parameters: Adam then keeps that buffer as its flat one (layers/adam.h)
// instead of allocating another 688 MB and copying into it, and each layer's
// own allocation is freed as soon as it is moved (the host cache hands it to
// the next layer), so the model's start-up faults in 688 MB less memory.
// One arena is open per thread at a time (they nest: the inner one wins). A
// parameter of another dtype or device, or one that no longer fits, keeps
// its own storage.
class ParameterArena {
 public:
  ParameterArena(int64_t numel, DType dtype, Device device);
  ~ParameterArena();
  ParameterArena(const ParameterArena&) = delete;
  ParameterArena& operator=(const ParameterArena&) = delete;

  int64_t capacity() const { return buffer_.numel(); }
  int64_t used() const { return used_; }
  // Moves `value` into the open arena, if any and it fits (Module::register_parameter).
  static void place(Tensor& value);

 private:
  Tensor buffer_;
  int64_t used_ = 0;
  ParameterArena* outer_;
};

}  // namespace differnet
