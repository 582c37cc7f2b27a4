// Adam: hand-computed PyTorch-semantics steps, the flat buffers, and state save/restore.
#define BOOST_TEST_MODULE adam
#include <boost/test/unit_test.hpp>
#include <cmath>

#include <random>

#include "autograd/ops.h"
#include "kernels/kernels.h"
#include "layers/adam.h"
#include "layers/module.h"
#include "test_support.h"

using namespace differnet;
using namespace differnet::testing;

namespace {
// loss = sum(c * p) has the constant gradient c.
void backward_constant_gradient(const Tensor& p, const std::vector<float>& c) {
  sum(mul(p, Tensor::from_vector(c, p.shape(), p.device()))).backward();
}
}  // namespace

BOOST_AUTO_TEST_CASE(first_step_by_hand) {
  // g' = g + wd * p = 0.5 + 0.01 * 1 = 0.51; m_hat = g', v_hat = g'^2, so
  // p1 = p0 - lr * g' / (|g'| + eps) = 1 - 0.1 * 0.51 / (0.51 + 1e-8).
  Tensor p = Tensor::from_vector(std::vector<float>{1.0f, -2.0f}, {2});
  p.set_requires_grad(true);
  Adam adam({p}, AdamOptions{0.1, 0.9, 0.999, 1e-8, 0.01});
  backward_constant_gradient(p, {0.5f, -0.25f});
  adam.step();
  const auto v = p.to_vector<float>();
  BOOST_CHECK_CLOSE(v[0], 1.0 - 0.1 * 0.51 / (0.51 + 1e-8), 1e-5);
  BOOST_CHECK_CLOSE(v[1], -2.0 - 0.1 * (-0.27) / (0.27 + 1e-8), 1e-5);
}

BOOST_AUTO_TEST_CASE(three_steps_against_the_pytorch_formulas) {
  const double lr = 2e-4, b1 = 0.8, b2 = 0.8, eps = 1e-4, wd = 1e-5;  // DifferNet's settings
  Tensor p = Tensor::from_vector(std::vector<float>{0.3f, -0.7f, 1.5f}, {3});
  p.set_requires_grad(true);
  Adam adam({p}, AdamOptions::differnet());
  std::vector<double> ref{0.3, -0.7, 1.5}, m(3, 0.0), v(3, 0.0);
  const std::vector<std::vector<float>> grads{{0.1f, -0.2f, 0.3f}, {0.05f, 0.4f, -0.1f}, {-0.3f, 0.0f, 0.2f}};
  for (int t = 1; t <= 3; ++t) {
    adam.zero_grad();
    backward_constant_gradient(p, grads[size_t(t - 1)]);
    adam.step();
    for (size_t i = 0; i < 3; ++i) {  // torch.optim.Adam's single-tensor update, in double
      const double g = double(grads[size_t(t - 1)][i]) + wd * ref[i];
      m[i] = b1 * m[i] + (1 - b1) * g;
      v[i] = b2 * v[i] + (1 - b2) * g * g;
      const double denom = std::sqrt(v[i]) / std::sqrt(1 - std::pow(b2, t)) + eps;
      ref[i] -= lr / (1 - std::pow(b1, t)) * m[i] / denom;
    }
  }
  DIFFERNET_CHECK_CLOSE_VECTORS(values(p), ref, 1e-7, 1e-6);
  BOOST_CHECK_EQUAL(adam.steps(), 3);
}

// The CPU update (vectorised with AVX-512 where CPUID has it, split among the
// threads) is the element formula kernels::adam_update, bit for bit: a length
// that is neither a multiple of 16 nor of the thread count, above the size
// at which the threads split it.
BOOST_AUTO_TEST_CASE(cpu_update_equals_the_element_formula_bit_for_bit) {
  const int64_t n = 100'003;
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  const size_t count = static_cast<size_t>(n);
  std::vector<float> param(count), grad(count), avg(count), avg_sq(count);
  for (size_t i = 0; i < size_t(n); ++i) {
    param[i] = u(rng);
    grad[i] = u(rng) * 0.1f;
    avg[i] = u(rng) * 0.01f;
    avg_sq[i] = std::fabs(u(rng)) * 1e-3f;
  }
  kernels::AdamParams a{};
  a.lr = 2e-4f;
  a.beta1 = 0.8f;
  a.beta2 = 0.8f;
  a.one_minus_beta1 = float(1.0 - 0.8);
  a.one_minus_beta2 = float(1.0 - 0.8);
  a.eps = 1e-4f;
  a.weight_decay = 1e-5f;
  a.bias_correction1 = float(1.0 - 0.8 * 0.8 * 0.8);
  a.sqrt_bias_correction2 = float(std::sqrt(1.0 - 0.8 * 0.8 * 0.8));
  std::vector<float> pr = param, mr = avg, vr = avg_sq;
  for (size_t i = 0; i < size_t(n); ++i) kernels::adam_update(pr[i], grad[i], mr[i], vr[i], a);
  kernels::cpu::adam_step(param.data(), grad.data(), avg.data(), avg_sq.data(), n, a);
  for (size_t i = 0; i < size_t(n); ++i) {
    BOOST_TEST_CONTEXT("element " << i) {
      BOOST_REQUIRE_EQUAL(param[i], pr[i]);
      BOOST_REQUIRE_EQUAL(avg[i], mr[i]);
      BOOST_REQUIRE_EQUAL(avg_sq[i], vr[i]);
    }
  }
}

BOOST_AUTO_TEST_CASE(parameters_live_in_one_flat_buffer) {
  Tensor a = Tensor::from_vector(std::vector<float>{1, 2, 3, 4}, {2, 2});
  Tensor b = Tensor::from_vector(std::vector<float>{5, 6}, {2});
  a.set_requires_grad(true);
  b.set_requires_grad(true);
  Adam adam({a, b}, AdamOptions{});
  BOOST_CHECK(a.shares_storage_with(adam.flat_parameters()));
  BOOST_CHECK(b.shares_storage_with(adam.flat_parameters()));
  DIFFERNET_CHECK_CLOSE_VECTORS(values(adam.flat_parameters()), (std::vector<double>{1, 2, 3, 4, 5, 6}), 0, 0);
  DIFFERNET_CHECK_CLOSE_VECTORS(values(b), (std::vector<double>{5, 6}), 0, 0);  // values kept
  sum(mul(a, a)).backward();
  DIFFERNET_CHECK_CLOSE_VECTORS(values(adam.flat_gradients()), (std::vector<double>{2, 4, 6, 8, 0, 0}), 0, 0);
  const auto before = values(adam.flat_parameters());
  adam.step();
  const auto after = values(adam.flat_parameters());
  for (size_t i = 0; i < 4; ++i) BOOST_CHECK_LT(after[i], before[i]);  // a step changes the parameters
  adam.zero_grad();
  DIFFERNET_CHECK_CLOSE_VECTORS(values(a.grad()), (std::vector<double>{0, 0, 0, 0}), 0, 0);
}

// Parameters that already fill one buffer back to back in the order given (a
// ParameterArena's) stay where they are: that buffer is the flat one. In
// another order, or with a buffer larger than them, they are copied.
BOOST_AUTO_TEST_CASE(parameters_already_back_to_back_stay_in_place) {
  auto arena_pair = [](int64_t capacity) {
    ParameterArena arena(capacity, DType::Float32, Device::CPU);
    Tensor a = Tensor::from_vector(std::vector<float>{1, 2, 3, 4}, {2, 2});
    Tensor b = Tensor::from_vector(std::vector<float>{5, 6}, {2});
    Tensor d = Tensor::from_vector(std::vector<double>{7}, {1});  // another dtype: keeps its own storage
    ParameterArena::place(a);
    ParameterArena::place(d);
    ParameterArena::place(b);
    BOOST_CHECK(a.shares_storage_with(b) && !d.shares_storage_with(a));
    BOOST_CHECK_EQUAL(arena.used(), 6);
    a.set_requires_grad(true);
    b.set_requires_grad(true);
    return std::make_pair(a, b);
  };
  auto [a, b] = arena_pair(6);
  const float* where = a.data<float>();
  Adam kept({a, b}, AdamOptions{});
  BOOST_CHECK(kept.flat_parameters().data<float>() == where && a.data<float>() == where);
  DIFFERNET_CHECK_CLOSE_VECTORS(values(kept.flat_parameters()), (std::vector<double>{1, 2, 3, 4, 5, 6}), 0, 0);

  auto [c, e] = arena_pair(6);
  const float* arena = c.data<float>();
  Adam reordered({e, c}, AdamOptions{});
  BOOST_CHECK(reordered.flat_parameters().data<float>() != arena && e.data<float>() != arena);
  DIFFERNET_CHECK_CLOSE_VECTORS(values(reordered.flat_parameters()), (std::vector<double>{5, 6, 1, 2, 3, 4}), 0, 0);

  auto [f, h] = arena_pair(7);  // one element to spare: not exactly theirs
  const float* old = f.data<float>();
  Adam copied({f, h}, AdamOptions{});
  BOOST_CHECK(f.data<float>() != old);
  DIFFERNET_CHECK_CLOSE_VECTORS(values(copied.flat_parameters()), (std::vector<double>{1, 2, 3, 4, 5, 6}), 0, 0);
  // The two ways give the same steps.
  for (Adam* adam : {&kept, &copied}) {
    sum(mul(adam == &kept ? a : f, adam == &kept ? a : f)).backward();
    adam->step();
  }
  DIFFERNET_CHECK_CLOSE_VECTORS(values(kept.flat_parameters()), values(copied.flat_parameters()), 0, 0);
}

// zero_grad() is lazy (Tensor::zero_grad): the next backward pass writes over
// the stale gradients, a Linear weight's in its GEMM (beta = 0), a bias's by
// the engine's copy, and a parameter it does not reach reads as zero, in
// grad(), flat_gradients() and the step. After two steps with different
// inputs, each gradient is that of a fresh backward pass, bit for bit.
BOOST_AUTO_TEST_CASE(zero_grad_then_backward_writes_over_the_old_gradients) {
  Tensor w = random_tensor({5, 7}, 31).to(DType::Float32).set_requires_grad(true);
  Tensor b = random_tensor({5}, 32).to(DType::Float32).set_requires_grad(true);
  Tensor unused = random_tensor({3}, 33).to(DType::Float32).set_requires_grad(true);
  Adam adam({w, b, unused}, AdamOptions::differnet());
  for (uint64_t seed : {34, 35}) {
    const Tensor x = random_tensor({4, 7}, seed).to(DType::Float32);
    adam.zero_grad();
    sum(linear_relu(x, w, b)).backward();
    // The same backward pass on detached copies that have no gradient yet.
    Tensor w2 = w.detach().clone().set_requires_grad(true), b2 = b.detach().clone().set_requires_grad(true);
    sum(linear_relu(x, w2, b2)).backward();
    BOOST_CHECK(w.grad().to_vector<float>() == w2.grad().to_vector<float>());
    BOOST_CHECK(b.grad().to_vector<float>() == b2.grad().to_vector<float>());
    BOOST_CHECK(unused.grad().to_vector<float>() == std::vector<float>(3, 0.f));
    adam.step();
  }
  adam.zero_grad();  // pending zeros are written when the flat buffer is read
  for (double v : values(adam.flat_gradients())) BOOST_REQUIRE_EQUAL(v, 0.0);
}

BOOST_AUTO_TEST_CASE(state_restores_to_identical_steps) {
  auto make = [] {
    Tensor p = Tensor::from_vector(std::vector<float>{0.5f, -1.0f, 2.0f}, {3});
    p.set_requires_grad(true);
    return p;
  };
  Tensor p1 = make();
  Adam first({p1}, AdamOptions::differnet());
  for (int s = 0; s < 2; ++s) {
    first.zero_grad();
    backward_constant_gradient(p1, {0.3f, -0.1f, 0.7f});
    first.step();
  }
  const auto state = first.state_dict();
  Tensor p2 = make();
  p2.copy_(p1.detach());
  Adam second({p2}, AdamOptions::differnet());
  second.load_state_dict(state);
  BOOST_CHECK_EQUAL(second.steps(), 2);
  for (auto* pair : {&first, &second}) {
    pair->zero_grad();
  }
  backward_constant_gradient(p1, {0.2f, 0.2f, -0.4f});
  backward_constant_gradient(p2, {0.2f, 0.2f, -0.4f});
  first.step();
  second.step();
  BOOST_CHECK(p1.to_vector<float>() == p2.to_vector<float>());  // bit-identical

  auto bad = state;
  bad[1].second = Tensor::zeros({2});
  try {
    second.load_state_dict(bad);
    BOOST_ERROR("a mis-shaped state was accepted");
  } catch (const Error& e) {
    BOOST_CHECK_NE(std::string(e.what()).find("exp_avg"), std::string::npos);
  }
  bad.erase(bad.begin());
  try {
    second.load_state_dict(bad);
    BOOST_ERROR("a state without 'step' was accepted");
  } catch (const Error& e) {
    BOOST_CHECK_NE(std::string(e.what()).find("'step' is missing"), std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(rejects_bad_parameters) {
  Tensor frozen = Tensor::zeros({2});
  BOOST_CHECK_THROW(Adam({frozen}, AdamOptions{}), Error);
  BOOST_CHECK_THROW(Adam({}, AdamOptions{}), Error);
}
