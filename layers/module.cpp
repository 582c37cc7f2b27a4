#include "layers/module.h"

namespace differnet {

std::vector<std::pair<std::string, Tensor>> Module::named_parameters(const std::string& prefix) const {
  std::vector<std::pair<std::string, Tensor>> out;
  for (const auto& [name, p] : params_) out.emplace_back(prefix + name, p);
  for (const auto& [name, child] : children_) {
    auto sub = child->named_parameters(prefix + name + ".");
    out.insert(out.end(), sub.begin(), sub.end());
  }
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [name, p] : named_parameters()) out.push_back(p);
  return out;
}

void Module::set_trainable(bool trainable) {
  for (auto& [name, p] : params_) p.set_requires_grad(trainable);
  for (auto& [name, child] : children_) child->set_trainable(trainable);
}

void Module::to(Device device) {
  for (auto& [name, p] : params_) {
    if (p.device() == device) continue;
    p.move_into(std::make_shared<Storage>(p.nbytes(), device), 0);
    p.impl().grad.reset();
    p.impl().grad_zero_pending = false;
  }
  for (auto& [name, child] : children_) child->to(device);
}

namespace {
thread_local ParameterArena* open_arena = nullptr;
}

ParameterArena::ParameterArena(int64_t numel, DType dtype, Device device)
    : buffer_(Tensor::empty({numel}, dtype, device)), outer_(open_arena) {
  open_arena = this;
}

ParameterArena::~ParameterArena() { open_arena = outer_; }

void ParameterArena::place(Tensor& value) {
  ParameterArena* arena = open_arena;
  if (!arena || value.dtype() != arena->buffer_.dtype() || value.device() != arena->buffer_.device() ||
      arena->used_ + value.numel() > arena->capacity())
    return;
  value.move_into(arena->buffer_.impl().storage, arena->used_);
  arena->used_ += value.numel();
}

Tensor Module::register_parameter(const std::string& name, Tensor value, bool trainable) {
  ParameterArena::place(value);
  value.set_name(name);
  value.set_requires_grad(trainable);
  params_.emplace_back(name, std::move(value));
  return params_.back().second;  // a handle: later registrations do not invalidate it
}

}  // namespace differnet
