// Reverse-mode autodiff in one function: sort the tape's nodes so that every
// node comes after the nodes that consume its outputs, then visit them in that
// order, turning output gradients into input gradients and summing them where
// a tensor feeds several ops.
#include "autograd/engine.h"

#include <unordered_map>
#include <unordered_set>

#include "autograd/grad_mode.h"
#include "autograd/node.h"
#include "autograd/ops.h"

namespace differnet {
namespace {

// Nodes in reverse topological order (root's node first), by iterative DFS.
std::vector<Node*> sort_nodes(Node* root) {
  std::vector<Node*> post_order;
  std::unordered_set<Node*> visited{root};
  std::vector<std::pair<Node*, size_t>> stack{{root, 0}};
  while (!stack.empty()) {
    auto& [node, next_input] = stack.back();
    if (next_input < node->inputs.size()) {
      const Tensor& in = node->inputs[next_input++];
      Node* child = in.impl().grad_fn.get();
      if (child && in.requires_grad() && visited.insert(child).second) stack.push_back({child, 0});
    } else {
      post_order.push_back(node);
      stack.pop_back();
    }
  }
  return {post_order.rbegin(), post_order.rend()};
}

void accumulate(Tensor& slot, const Tensor& grad) {
  if (!slot.defined()) slot = grad;
  else slot = add(slot, grad);
}

void accumulate_leaf(const Tensor& leaf, const Tensor& grad) {
  TensorImpl& impl = leaf.impl();
  if (!impl.grad) {
    impl.grad = grad.clone().impl_ptr();  // own copy: grad may share memory with the graph
  } else {
    bool add = true;
    Tensor existing = leaf.grad_for_write(add);
    if (add) add_(existing, grad);
    else existing.copy_(grad);
  }
}

}  // namespace

void run_backward(const Tensor& root, const Tensor& grad_output) {
  check_defined("backward", root, "the tensor");
  DIFFERNET_CHECK(root.requires_grad(), "backward() on ", root.describe(),
                  ", which does not require grad (no input of its graph has requires_grad)");
  Tensor seed = grad_output;
  if (!seed.defined()) {
    DIFFERNET_CHECK(root.numel() == 1, "backward() from a non-scalar: ", root.describe(),
                    " has ", root.numel(), " elements; reduce it to one (sum, mean) or pass a gradient");
    seed = Tensor::ones(root.shape(), root.dtype(), root.device());
  }
  check_same_shape("backward", root, seed);
  check_same_device("backward", root, seed);
  check_same_dtype("backward", root, seed);

  NoGradGuard no_grad;
  if (root.is_leaf()) {
    accumulate_leaf(root, seed);
    return;
  }
  std::unordered_map<Node*, std::vector<Tensor>> pending;  // node -> gradients of its outputs
  Node* root_node = root.impl().grad_fn.get();
  pending[root_node].resize(root_node->outputs.size());
  pending[root_node][size_t(root.impl().output_nr)] = seed;

  for (Node* node : sort_nodes(root_node)) {
    auto it = pending.find(node);
    if (it == pending.end()) continue;  // no gradient reached this node
    std::vector<Tensor> grad_outputs = std::move(it->second);
    pending.erase(it);
    grad_outputs.resize(node->outputs.size());

    std::vector<bool> needs(node->inputs.size());
    for (size_t i = 0; i < needs.size(); ++i) needs[i] = node->inputs[i].requires_grad();
    std::vector<Tensor> grad_inputs = node->backward(grad_outputs, needs);
    DIFFERNET_CHECK(grad_inputs.size() == node->inputs.size(), "internal: backward of ", node->name, " returned ",
                    grad_inputs.size(), " gradients for ", node->inputs.size(), " inputs");

    for (size_t i = 0; i < grad_inputs.size(); ++i) {
      const Tensor& input = node->inputs[i];
      const Tensor& g = grad_inputs[i];
      if (!needs[i] || !g.defined()) continue;
      DIFFERNET_CHECK(g.shape() == input.shape(), "internal: backward of ", node->name, " gave a gradient ",
                      g.describe(), " for input ", i, " ", input.describe());
      if (input.is_leaf()) {
        accumulate_leaf(input, g);
      } else {
        Node* producer = input.impl().grad_fn.get();
        auto& slots = pending[producer];
        slots.resize(producer->outputs.size());
        accumulate(slots[size_t(input.impl().output_nr)], g);
      }
    }
  }
}

}  // namespace differnet
