#include "flow/flow.h"

#include <array>
#include <cmath>
#include <random>
#include <string>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "flow/coupling_op.h"

namespace differnet {

void validate(const FlowConfig& c) {
  DIFFERNET_CHECK(c.dims > 0 && c.dims % 2 == 0, "flow config: dims must be even and positive (the coupling splits ",
                  "the features in two halves), got ", c.dims);
  DIFFERNET_CHECK(c.hidden > 0, "flow config: hidden must be positive, got ", c.hidden);
  DIFFERNET_CHECK(c.blocks > 0, "flow config: blocks must be positive, got ", c.blocks);
  DIFFERNET_CHECK(std::isfinite(c.alpha) && c.alpha > 0, "flow config: alpha must be finite and positive, got ",
                  c.alpha);
}

std::vector<int64_t> block_permutation(int64_t block_index, int64_t dims) {
  std::vector<int64_t> perm(static_cast<size_t>(dims));
  for (int64_t i = 0; i < dims; ++i) perm[size_t(i)] = i;
  std::mt19937_64 gen(static_cast<uint64_t>(block_index));
  // The modulo bias is below 2^-50 for any realistic width.
  for (int64_t i = dims - 1; i > 0; --i) std::swap(perm[size_t(i)], perm[size_t(gen() % uint64_t(i + 1))]);
  return perm;
}

// ---- Subnet ----

namespace {
// The widths through a subnet's four Linear layers.
std::array<int64_t, 5> subnet_widths(int64_t in, int64_t hidden, int64_t out) { return {in, hidden, hidden, hidden, out}; }
}  // namespace

Subnet::Subnet(int64_t in, int64_t hidden, int64_t out, Generator& gen, DType dtype, Device device) {
  const auto sizes = subnet_widths(in, hidden, out);
  for (int i = 0; i < 4; ++i)  // torch.nn.Sequential indices 0, 2, 4, 6 (the ReLUs are 1, 3, 5)
    layers_.push_back(register_module(std::to_string(2 * i),
                                      std::make_shared<Linear>(sizes[i], sizes[i + 1], gen, dtype, device)));
}

int64_t Subnet::parameter_count(int64_t in, int64_t hidden, int64_t out) {
  const auto sizes = subnet_widths(in, hidden, out);
  int64_t n = 0;
  for (int i = 0; i < 4; ++i) n += sizes[i] * sizes[i + 1] + sizes[i + 1];  // weight and bias
  return n;
}

Tensor Subnet::forward(const Tensor& x) const {
  Tensor h = x;
  for (size_t i = 0; i < layers_.size(); ++i)
    h = i + 1 < layers_.size() ? layers_[i]->forward_relu(h) : layers_[i]->forward(h);  // ReLU fused into the Linear
  return h;
}

// ---- CouplingBlock ----

namespace {
std::vector<int64_t> invert_permutation(const std::vector<int64_t>& perm, const char* what) {
  std::vector<int64_t> inv(perm.size(), -1);
  for (size_t i = 0; i < perm.size(); ++i) {
    const int64_t p = perm[i];
    DIFFERNET_CHECK(p >= 0 && p < int64_t(perm.size()) && inv[size_t(p)] < 0, what, ": not a permutation of 0..",
                    perm.size() - 1, " (entry ", i, " is ", p, ")");
    inv[size_t(p)] = int64_t(i);
  }
  return inv;
}
}  // namespace

CouplingBlock::CouplingBlock(int64_t dims, int64_t hidden, double alpha, std::vector<int64_t> permutation,
                             Generator& gen, DType dtype, Device device)
    : half_(dims / 2), alpha_(alpha), perm_(std::move(permutation)) {
  DIFFERNET_CHECK(dims > 0 && dims % 2 == 0, "CouplingBlock: dims must be even and positive, got ", dims);
  DIFFERNET_CHECK(int64_t(perm_.size()) == dims, "CouplingBlock: permutation has ", perm_.size(),
                  " entries for ", dims, " features");
  inverse_perm_ = invert_permutation(perm_, "CouplingBlock permutation");
  // Created in the published code's order: s1 (our subnet1) before s2.
  subnet1_ = register_module("subnet1", std::make_shared<Subnet>(half_, hidden, 2 * half_, gen, dtype, device));
  subnet2_ = register_module("subnet2", std::make_shared<Subnet>(half_, hidden, 2 * half_, gen, dtype, device));
}

FlowOutput CouplingBlock::forward(const Tensor& input) const {
  const Tensor x = index_select(input, 1, perm_);
  const Tensor x1 = narrow(x, 1, 0, half_), x2 = narrow(x, 1, half_, half_);
  // As the published code: subnet1 reads the unclamped y1, and only the
  // block's output [y1, y2] is clamped to [-1e6, 1e6] (docs/flow.md, section 2).
  const CouplingResult first = coupling_affine(x1, subnet2_->forward(x2), alpha_);       // y1 = e(s2) x1 + t2
  const CouplingResult second = coupling_affine(x2, subnet1_->forward(first.y), alpha_);  // y2 = e(s1) x2 + t1
  return {concat({first.y_clamped, second.y_clamped}, 1), add(first.log_det, second.log_det)};
}

Tensor CouplingBlock::inverse(const Tensor& y) const {
  NoGradGuard no_grad;
  const Tensor y1 = narrow(y, 1, 0, half_), y2 = narrow(y, 1, half_, half_);
  const Tensor x2 = coupling_affine_inverse(y2, subnet1_->forward(y1), alpha_);
  const Tensor x1 = coupling_affine_inverse(y1, subnet2_->forward(x2), alpha_);
  return index_select(concat({x1, x2}, 1), 1, inverse_perm_);
}

// ---- DifferNetFlow ----

namespace {
std::vector<std::vector<int64_t>> default_permutations(const FlowConfig& c) {
  validate(c);
  std::vector<std::vector<int64_t>> perms;
  for (int64_t k = 0; k < c.blocks; ++k) perms.push_back(block_permutation(k, c.dims));
  return perms;
}
}  // namespace

DifferNetFlow::DifferNetFlow(const FlowConfig& config, DType dtype, Device device)
    : DifferNetFlow(config, default_permutations(config), dtype, device) {}

DifferNetFlow::DifferNetFlow(const FlowConfig& config, const std::vector<std::vector<int64_t>>& permutations,
                             DType dtype, Device device)
    : config_(config), dtype_(dtype) {
  validate(config);
  DIFFERNET_CHECK(dtype == DType::Float32 || dtype == DType::Float64, "DifferNetFlow: parameters must be float32 ",
                  "or float64, got ", dtype_name(dtype));
  DIFFERNET_CHECK(int64_t(permutations.size()) == config.blocks, "DifferNetFlow: ", permutations.size(),
                  " permutations for ", config.blocks, " blocks");
  Generator gen(config.seed);
  // Every parameter in one buffer, in the order Adam takes them (layers/module.h).
  const int64_t half = config.dims / 2;
  ParameterArena arena(2 * config.blocks * Subnet::parameter_count(half, config.hidden, 2 * half), dtype, device);
  for (int64_t k = 0; k < config.blocks; ++k)
    blocks_.push_back(register_module(std::to_string(k),
                                      std::make_shared<CouplingBlock>(config.dims, config.hidden, config.alpha,
                                                                      permutations[size_t(k)], gen, dtype, device)));
  DIFFERNET_CHECK(arena.used() == arena.capacity(), "internal: DifferNetFlow placed ", arena.used(), " of ",
                  arena.capacity(), " parameters in its buffer");
}

Device DifferNetFlow::device() const { return blocks_.front()->subnet1().parameters().front().device(); }

void DifferNetFlow::check_input(const Tensor& y, const char* what) const {
  check_defined("DifferNetFlow", y, what);
  DIFFERNET_CHECK(y.dim() == 2 && y.size(1) == config_.dims, "DifferNetFlow: ", what, " ", y.describe(),
                  " must be [batch, ", config_.dims, "] (the flow was built for ", config_.dims, " features)");
  DIFFERNET_CHECK(y.dtype() == dtype_ && y.device() == device(), "DifferNetFlow: ", what, " ", y.describe(),
                  " must be ", dtype_name(dtype_), " on ", device_name(device()), " like the flow's parameters");
  if (y.device() == Device::CPU) check_finite(y, detail::concat("DifferNetFlow ", what));
}

FlowOutput DifferNetFlow::forward(const Tensor& y) const {
  check_input(y, "input");
  FlowOutput out{y, Tensor()};
  for (const auto& block : blocks_) {
    FlowOutput b = block->forward(out.z);
    out.z = b.z;
    out.log_jac_det = out.log_jac_det.defined() ? add(out.log_jac_det, b.log_jac_det) : b.log_jac_det;
  }
  return out;
}

Tensor DifferNetFlow::inverse(const Tensor& z) const {
  check_input(z, "latent");
  Tensor y = z;
  for (auto it = blocks_.rbegin(); it != blocks_.rend(); ++it) y = (*it)->inverse(y);
  return y;
}

Tensor DifferNetFlow::sample(int64_t n, Generator& gen) const {
  DIFFERNET_CHECK(n >= 0, "DifferNetFlow::sample: negative count ", n);
  return inverse(randn({n, config_.dims}, gen, dtype_, device()));
}

Tensor nll_loss(const Tensor& z, const Tensor& log_jac_det) {
  check_defined("nll_loss", z, "z");
  check_defined("nll_loss", log_jac_det, "log_jac_det");
  DIFFERNET_CHECK(z.dim() == 2 && log_jac_det.shape() == Shape{z.size(0)}, "nll_loss: z ", z.describe(),
                  " must be [batch, dims] and log_jac_det ", log_jac_det.describe(), " [batch]");
  // paper eq. 4: mean_b (0.5 * ||z_b||^2 - log|det J_b|) / dims
  const Tensor per_sample = sub(mul_scalar(sum(square(z), 1), 0.5), log_jac_det);
  return mul_scalar(mean(per_sample), 1.0 / double(z.size(1)));
}

void check_finite(const Tensor& t, const std::string& what) {
  check_defined("check_finite", t, what.c_str());
  if (t.dtype() == DType::UInt8) return;
  const Tensor host = t.to(Device::CPU);
  auto scan = [&](const auto* data) {
    for (int64_t i = 0; i < host.numel(); ++i)
      DIFFERNET_CHECK(std::isfinite(double(data[i])), what, " ", t.describe(), " holds a non-finite value (",
                      double(data[i]), ") at element ", i);
  };
  if (host.dtype() == DType::Float32) scan(host.data<float>());
  else scan(host.data<double>());
}

void check_finite_parameters(const Module& module, const std::string& what) {
  for (const auto& [name, p] : module.named_parameters()) check_finite(p, detail::concat(what, " '", name, "'"));
}

}  // namespace differnet
