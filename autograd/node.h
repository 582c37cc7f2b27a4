// Node: one recorded op on the tape. It keeps the tensors the op consumed (the
// edges of the graph) and a function that maps the gradients of the op's
// outputs to the gradients of its inputs. Ops create nodes with record().
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "autograd/tensor.h"

namespace differnet {

// grad_outputs[i] is the gradient of output i (undefined when no path reached it:
// treat as zero). needs_grad[j] says whether input j wants a gradient; return an
// undefined Tensor for the inputs that do not.
using BackwardFn =
    std::function<std::vector<Tensor>(const std::vector<Tensor>& grad_outputs, const std::vector<bool>& needs_grad)>;

struct OutputMeta {
  Shape shape;
  DType dtype;
  Device device;
};

struct Node {
  std::string name;
  std::vector<Tensor> inputs;
  std::vector<OutputMeta> outputs;
  BackwardFn backward;
};

// True when an op on these inputs must be recorded (grad mode on, some input requires grad).
bool needs_recording(const std::vector<Tensor>& inputs);

// A backward function must not hold its own node's outputs by value (that
// would be a reference cycle): capture `output.detach()`, which shares the data.
//
// Records an op: when needs_recording(inputs), makes a Node and marks each output
// as produced by it (requires_grad, grad_fn, output_nr). Returns silently otherwise.
void record(const char* name, const std::vector<Tensor>& inputs, const std::vector<Tensor*>& outputs,
            BackwardFn backward);

}  // namespace differnet
