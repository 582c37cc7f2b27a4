// The backward pass: walks the tape from a tensor back to the leaves.
#pragma once
#include "autograd/tensor.h"

namespace differnet {

// Computes d(root)/d(leaf) for every leaf that requires grad and adds it to the
// leaf's grad (gradients accumulate across calls, as in PyTorch). grad_output
// seeds the pass; when undefined, root must have one element and the seed is 1.
void run_backward(const Tensor& root, const Tensor& grad_output);

}  // namespace differnet
