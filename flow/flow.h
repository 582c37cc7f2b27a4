// DifferNet's normalizing flow (paper section 3.2, eqs. 1-4): `blocks`
// coupling blocks, each a fixed feature permutation followed by a GLOW-style
// affine coupling whose scales and shifts come from two fully connected
// subnets. It maps feature vectors y to latents z with log|det dz/dy|, inverts
// exactly, and samples. docs/flow.md explains the math and where each
// equation is computed.
//
// Parameter names (Module::named_parameters; the safetensors file prefixes "flow."):
//   <k>.subnet1.<i>.weight / .bias, <k>.subnet2.<i>.weight / .bias, i in {0, 2, 4, 6}:
//   the Linear layers of torch.nn.Sequential(Linear, ReLU, Linear, ReLU,
//   Linear, ReLU, Linear). subnet2 reads x2 and gives (s2, t2) for x1;
//   subnet1 reads y1 and gives (s1, t1) for x2 (the published code's s2 and
//   s1, whose fc1, fc2, fc2b, fc3 are our 0, 2, 4, 6).
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "autograd/random.h"
#include "layers/linear.h"
#include "layers/module.h"

namespace differnet {

struct FlowConfig {
  int64_t dims = 768;     // feature width; even
  int64_t hidden = 2048;  // width of the subnets' hidden layers
  int64_t blocks = 8;     // coupling blocks
  double alpha = 3.0;     // soft clamp, paper eq. 2
  uint64_t seed = 0;      // initialisation of the linear layers (permutations are seeded by block index)
};

// Throws differnet::Error naming the bad field (odd or non-positive dims, ...).
void validate(const FlowConfig& config);

// The fixed permutation of block k: std::mt19937_64 seeded with k, then the
// Fisher-Yates loop for i = dims-1 .. 1: j = gen() % (i + 1), swap(p[i], p[j]),
// starting from the identity. The block's input is x[:, perm].
std::vector<int64_t> block_permutation(int64_t block_index, int64_t dims);

// Linear(in, hidden) ReLU Linear(hidden, hidden) ReLU Linear(hidden, hidden) ReLU Linear(hidden, out).
class Subnet : public Module {
 public:
  Subnet(int64_t in, int64_t hidden, int64_t out, Generator& gen, DType dtype, Device device);
  Tensor forward(const Tensor& x) const;
  static int64_t parameter_count(int64_t in, int64_t hidden, int64_t out);  // of the four Linear layers

 private:
  std::vector<std::shared_ptr<Linear>> layers_;
};

struct FlowOutput {
  Tensor z;            // [batch, dims]
  Tensor log_jac_det;  // [batch]: log|det dz/dy|
};

class CouplingBlock : public Module {
 public:
  // `permutation` must be a permutation of 0..dims-1.
  CouplingBlock(int64_t dims, int64_t hidden, double alpha, std::vector<int64_t> permutation, Generator& gen,
                DType dtype, Device device);
  // Permute, then couple (paper eq. 1 on each half); log_jac_det is sum c(s1) + sum c(s2).
  FlowOutput forward(const Tensor& x) const;
  // Exact inverse (the hard clamp aside), outside autograd.
  Tensor inverse(const Tensor& y) const;
  const std::vector<int64_t>& permutation() const { return perm_; }
  const Subnet& subnet1() const { return *subnet1_; }
  const Subnet& subnet2() const { return *subnet2_; }

 private:
  int64_t half_;
  double alpha_;
  std::vector<int64_t> perm_, inverse_perm_;
  std::shared_ptr<Subnet> subnet1_, subnet2_;
};

class DifferNetFlow : public Module {
 public:
  // Parameters drawn with PyTorch's Linear initialisation from Generator(config.seed).
  explicit DifferNetFlow(const FlowConfig& config, DType dtype = DType::Float32, Device device = Device::CPU);
  // The same with given permutations (one per block), e.g. read from a file.
  DifferNetFlow(const FlowConfig& config, const std::vector<std::vector<int64_t>>& permutations, DType dtype,
                Device device);

  // y [batch, dims] -> z and log|det J| (paper eq. 3), with autograd. On the
  // CPU the input is also checked for NaN/Inf; on CUDA call check_finite
  // where a host sync is acceptable.
  FlowOutput forward(const Tensor& y) const;
  // z -> y, outside autograd.
  Tensor inverse(const Tensor& z) const;
  // n feature vectors y = f^-1(z), z ~ N(0, I), on the flow's device.
  Tensor sample(int64_t n, Generator& gen) const;

  const FlowConfig& config() const { return config_; }
  DType dtype() const { return dtype_; }
  Device device() const;
  const CouplingBlock& block(int64_t k) const { return *blocks_.at(size_t(k)); }

 private:
  void check_input(const Tensor& y, const char* what) const;
  FlowConfig config_;
  DType dtype_;
  std::vector<std::shared_ptr<CouplingBlock>> blocks_;
};

// paper eq. 4: the negative log-likelihood per dimension, mean over the batch of
// (0.5 * ||z||^2 - log|det J|) / dims (the constant 0.5 * log(2 pi) omitted).
Tensor nll_loss(const Tensor& z, const Tensor& log_jac_det);

// Throws differnet::Error naming `what` and the first non-finite element.
// Copies CUDA tensors to the host (a sync): call it where that is acceptable.
void check_finite(const Tensor& t, const std::string& what);
// check_finite on every parameter, naming it ("flow parameter '3.subnet1.2.weight'"),
// e.g. after a training step whose loss was not finite.
void check_finite_parameters(const Module& module, const std::string& what = "flow parameter");

}  // namespace differnet
