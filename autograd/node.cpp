#include "autograd/node.h"

#include "autograd/grad_mode.h"

namespace differnet {

bool needs_recording(const std::vector<Tensor>& inputs) {
  if (!grad_enabled()) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

void record(const char* name, const std::vector<Tensor>& inputs, const std::vector<Tensor*>& outputs,
            BackwardFn backward) {
  if (!needs_recording(inputs)) return;
  auto node = std::make_shared<Node>();
  node->name = name;
  node->inputs = inputs;
  node->backward = std::move(backward);
  for (size_t i = 0; i < outputs.size(); ++i) {
    TensorImpl& out = outputs[i]->impl();
    node->outputs.push_back({out.shape, out.dtype, out.device});
    out.requires_grad = true;
    out.grad_fn = node;
    out.output_nr = int(i);
  }
}

}  // namespace differnet
