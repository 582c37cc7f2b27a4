#include "layers/adam.h"

#include <cmath>

#include "autograd/dispatch.h"

namespace differnet {

Adam::Adam(std::vector<Tensor> params, AdamOptions options) : params_(std::move(params)), options_(options) {
  DIFFERNET_CHECK(!params_.empty(), "Adam: no parameters to optimize");
  const Device device = params_[0].device();
  for (const Tensor& p : params_) {
    DIFFERNET_CHECK(p.dtype() == DType::Float32, "Adam: parameter ", p.describe(), " is not float32");
    DIFFERNET_CHECK(p.device() == device, "Adam: parameters on different devices: ", p.describe(), " and ",
                    params_[0].describe());
    DIFFERNET_CHECK(p.is_leaf() && p.requires_grad(), "Adam: ", p.describe(), " is not a trainable leaf");
    total_ += p.numel();
  }
  // Parameters that already lie back to back, in this order, in one buffer of
  // exactly their size (a ParameterArena: DifferNetFlow's) keep it as the flat
  // buffer: no second copy of them.
  const std::shared_ptr<Storage> first = params_[0].impl().storage;
  bool in_place = first->bytes() == size_t(total_) * sizeof(float);
  int64_t offset = 0;
  for (const Tensor& p : params_) {
    in_place = in_place && p.impl().storage == first && p.impl().offset == offset;
    offset += p.numel();
  }
  flat_params_ = in_place ? Tensor::view_of(first, 0, {total_}, DType::Float32)
                          : Tensor::empty({total_}, DType::Float32, device);
  flat_grads_ = Tensor::zeros({total_}, DType::Float32, device);
  exp_avg_ = Tensor::zeros({total_}, DType::Float32, device);
  exp_avg_sq_ = Tensor::zeros({total_}, DType::Float32, device);
  offset = 0;
  for (Tensor& p : params_) {
    if (!in_place) p.move_into(flat_params_.impl().storage, offset);
    Tensor grad = Tensor::view_of(flat_grads_.impl().storage, offset, p.shape(), DType::Float32);
    if (p.has_grad()) grad.copy_(p.grad());
    p.set_grad(grad);
    offset += p.numel();
  }
}

void Adam::zero_grad() {
  // A gradient someone replaced (set_grad) is put back onto the flat buffer.
  int64_t offset = 0;
  for (Tensor& p : params_) {
    if (!p.has_grad() || !Tensor(p.impl().grad).shares_storage_with(flat_grads_))
      p.set_grad(Tensor::view_of(flat_grads_.impl().storage, offset, p.shape(), DType::Float32));
    p.zero_grad();
    offset += p.numel();
  }
}

const Tensor& Adam::flat_gradients() const {
  for (const Tensor& p : params_)
    if (p.has_grad()) p.grad();  // writes the zeros of a gradient still pending
  return flat_grads_;
}

void Adam::step() {
  int64_t offset = 0;
  for (Tensor& p : params_) {
    // grad() writes the zeros of a gradient no backward pass reached since
    // zero_grad(); gradients that live outside the flat buffer are copied in,
    // and a parameter without one (set_grad of nothing) counts as zero.
    if (!p.has_grad()) {
      Tensor::view_of(flat_grads_.impl().storage, offset, p.shape(), DType::Float32).fill_(0.0);
    } else {
      const Tensor g = p.grad();
      if (!g.shares_storage_with(flat_grads_))
        Tensor::view_of(flat_grads_.impl().storage, offset, p.shape(), DType::Float32).copy_(g);
    }
    offset += p.numel();
  }
  ++step_;
  kernels::AdamParams a{};
  a.lr = float(options_.lr);
  a.beta1 = float(options_.beta1);
  a.beta2 = float(options_.beta2);
  a.one_minus_beta1 = float(1.0 - options_.beta1);
  a.one_minus_beta2 = float(1.0 - options_.beta2);
  a.eps = float(options_.eps);
  a.weight_decay = float(options_.weight_decay);
  a.bias_correction1 = float(1.0 - std::pow(options_.beta1, double(step_)));
  a.sqrt_bias_correction2 = float(std::sqrt(1.0 - std::pow(options_.beta2, double(step_))));
  float* p = flat_params_.data<float>();
  const float* g = flat_grads_.data<float>();
  float* m = exp_avg_.data<float>();
  float* v = exp_avg_sq_.data<float>();
  if (flat_params_.device() == Device::CPU) kernels::cpu::adam_step(p, g, m, v, total_, a);
  else DIFFERNET_ON_CUDA(kernels::cuda::adam_step(p, g, m, v, total_, a));
}

std::vector<std::pair<std::string, Tensor>> Adam::state_dict() const {
  return {{"step", Tensor::from_vector(std::vector<double>{double(step_)}, {1})},
          {"exp_avg", exp_avg_},
          {"exp_avg_sq", exp_avg_sq_}};
}

void Adam::load_state_dict(const std::vector<std::pair<std::string, Tensor>>& state) {
  auto find = [&](const std::string& name) -> Tensor {
    for (const auto& [n, t] : state)
      if (n == name) return t;
    throw Error("Adam state: entry '" + name + "' is missing");
  };
  const Tensor step = find("step"), m = find("exp_avg"), v = find("exp_avg_sq");
  DIFFERNET_CHECK(step.numel() == 1, "Adam state: 'step' should hold one value, got ", step.describe());
  for (const char* name : {"exp_avg", "exp_avg_sq"}) {
    const Tensor t = find(name);
    DIFFERNET_CHECK(t.shape() == Shape{total_} && t.dtype() == DType::Float32, "Adam state: '", name, "' is ",
                    t.describe(), " but this optimizer has ", total_, " float32 parameters");
  }
  step_ = int64_t(step.item());
  exp_avg_.copy_(m);
  exp_avg_sq_.copy_(v);
}

}  // namespace differnet
