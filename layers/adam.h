// Adam with PyTorch's semantics (torch.optim.Adam): weight decay is L2 added to
// the gradient (not AdamW), moments are bias-corrected. DifferNet trains its
// flow with lr 2e-4, betas (0.8, 0.8), eps 1e-4, weight decay 1e-5.
//
// As in tiny-cuda-nn, the optimizer sees ONE flat buffer: the constructor
// moves every parameter into a single contiguous block (each parameter tensor
// becomes a view of it) and gives each a gradient view of a second block, so
// one fused kernel updates all parameters (kernels::adam_update). Parameters
// that already fill one buffer back to back, in the order given (a
// ParameterArena's, layers/module.h), are not moved: that buffer is the block.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "autograd/tensor.h"

namespace differnet {

struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9, beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
  static AdamOptions differnet() { return {2e-4, 0.8, 0.8, 1e-4, 1e-5}; }
};

class Adam {
 public:
  // All parameters: float32 leaves that require grad, on one device.
  Adam(std::vector<Tensor> params, AdamOptions options);

  // Sets every gradient to zero lazily (Tensor::zero_grad): the backward pass
  // writes over the stale values, and step() writes zeros only where no
  // gradient arrived.
  void zero_grad();
  void step();       // one update of every parameter
  int64_t steps() const { return step_; }
  int64_t num_elements() const { return total_; }
  const AdamOptions& options() const { return options_; }
  void set_lr(double lr) { options_.lr = lr; }

  // The flat buffers, for checks and benchmarks (the gradients with any zeros
  // still pending written).
  const Tensor& flat_parameters() const { return flat_params_; }
  const Tensor& flat_gradients() const;

  // State for checkpoints: "step" (float64 [1]), "exp_avg" and "exp_avg_sq"
  // (float32 [num_elements], parameters in constructor order). The moments are
  // the live buffers, not copies (for the paper's flow a copy is 1.4 GB): the
  // next step() changes them.
  std::vector<std::pair<std::string, Tensor>> state_dict() const;
  // Restores a state_dict(); throws naming the entry that is missing or mis-shaped.
  void load_state_dict(const std::vector<std::pair<std::string, Tensor>>& state);

 private:
  std::vector<Tensor> params_;
  AdamOptions options_;
  int64_t total_ = 0;
  int64_t step_ = 0;
  Tensor flat_params_, flat_grads_, exp_avg_, exp_avg_sq_;
};

}  // namespace differnet
