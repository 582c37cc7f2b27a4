// The normalizing flow: the fused coupling op against the same math written
// with core ops, finite-difference gradients, invertibility, the log-det
// against the brute-force Jacobian, the NLL, training on a known Gaussian,
// and bad input.
#define BOOST_TEST_MODULE flow
#include <boost/test/unit_test.hpp>
#include <cblas.h>
#include <omp.h>

#include <chrono>
#include <cmath>

#include "autograd/grad_mode.h"
#include "flow/coupling_op.h"
#include "flow/flow.h"
#include "kernels/coupling_math.h"
#include "layers/adam.h"
#include "test_support.h"

using namespace differnet;
using namespace differnet::testing;

namespace {

// y and the log-det side by side, [batch, half + 1], so gradcheck sees both outputs.
Tensor joined(const CouplingResult& r) { return concat({r.y, r.y_clamped, reshape(r.log_det, {-1, 1})}, 1); }
Tensor joined(const FlowOutput& r) { return concat({r.z, reshape(r.log_jac_det, {-1, 1})}, 1); }

FlowConfig small_config(int64_t dims, int64_t hidden, int64_t blocks, uint64_t seed = 1) {
  FlowConfig c;
  c.dims = dims;
  c.hidden = hidden;
  c.blocks = blocks;
  c.seed = seed;
  return c;
}

// log|det A| by Gaussian elimination with partial pivoting.
double log_abs_det(std::vector<double> a, int64_t n) {
  double log_det = 0;
  for (int64_t c = 0; c < n; ++c) {
    int64_t pivot = c;
    for (int64_t r = c + 1; r < n; ++r)
      if (std::abs(a[size_t(r * n + c)]) > std::abs(a[size_t(pivot * n + c)])) pivot = r;
    for (int64_t k = 0; k < n; ++k) std::swap(a[size_t(c * n + k)], a[size_t(pivot * n + k)]);
    const double d = a[size_t(c * n + c)];
    log_det += std::log(std::abs(d));
    for (int64_t r = c + 1; r < n; ++r) {
      const double f = a[size_t(r * n + c)] / d;
      for (int64_t k = c; k < n; ++k) a[size_t(r * n + k)] -= f * a[size_t(c * n + k)];
    }
  }
  return log_det;
}

// Central differences of loss() with respect to every element of every
// parameter of `module` (float64), against the gradients backward() leaves.
void check_parameter_gradients(const Module& module, const std::function<Tensor()>& loss, double eps = 1e-6,
                               double atol = 1e-7, double rtol = 1e-5) {
  for (auto& [name, p] : module.named_parameters()) p.zero_grad();
  loss().backward();
  for (auto& [name, p] : module.named_parameters()) {
    BOOST_TEST_CONTEXT("parameter " << name) {
      const std::vector<double> analytic = values(p.grad());
      std::vector<double> numeric(analytic.size());
      double* data = p.data<double>();
      NoGradGuard no_grad;
      for (size_t i = 0; i < numeric.size(); ++i) {
        const double saved = data[i];
        data[i] = saved + eps;
        const double up = loss().item();
        data[i] = saved - eps;
        const double down = loss().item();
        data[i] = saved;
        numeric[i] = (up - down) / (2 * eps);
      }
      DIFFERNET_CHECK_CLOSE_VECTORS(analytic, numeric, atol, rtol);
    }
  }
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  const auto av = values(a), bv = values(b);
  double worst = 0;
  for (size_t i = 0; i < av.size(); ++i) worst = std::max(worst, std::abs(av[i] - bv[i]));
  return worst;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(coupling_op)

BOOST_AUTO_TEST_CASE(element_math_matches_the_formulas) {
  using kernels::soft_clamp;
  const double alpha = 3.0;
  for (double s : {-100.0, -3.0, -0.5, 0.0, 0.25, 2.0, 7.0, 1e4}) {
    BOOST_CHECK_CLOSE_FRACTION(soft_clamp(s, alpha) + 1.0, alpha * 0.636 * std::atan(s / alpha) + 1.0, 1e-15);
    BOOST_CHECK_LE(std::abs(soft_clamp(s, alpha)), alpha * 0.636 * M_PI / 2);
    const double h = 1e-6;
    BOOST_CHECK_CLOSE_FRACTION(kernels::soft_clamp_derivative(s, alpha) + 1.0,
                               (soft_clamp(s + h, alpha) - soft_clamp(s - h, alpha)) / (2 * h) + 1.0, 1e-9);
  }
  double ls, e;
  BOOST_CHECK_EQUAL(kernels::coupling_forward_element(1e7, 0.0, 0.0, alpha, ls, e), 1e7);  // clamped later
  BOOST_CHECK_EQUAL(kernels::hard_clamp(1e7), 1e6);
  BOOST_CHECK_EQUAL(kernels::hard_clamp(-1e7), -1e6);
  BOOST_CHECK_EQUAL(kernels::hard_clamp(-0.25), -0.25);
  const double y = kernels::coupling_forward_element(0.7, 1.3, -0.2, alpha, ls, e);
  BOOST_CHECK_CLOSE_FRACTION(e, std::exp(soft_clamp(1.3, alpha)), 1e-15);
  BOOST_CHECK_CLOSE_FRACTION(e, kernels::coupling_scale(1.3, alpha), 1e-15);
  BOOST_CHECK_CLOSE_FRACTION(kernels::coupling_inverse_element(y, 1.3, -0.2, alpha), 0.7, 1e-15);
}

BOOST_AUTO_TEST_CASE(fused_matches_core_ops_values_and_gradients) {
  for (DType dtype : {DType::Float64, DType::Float32}) {
    // Odd width and large |s| (deep in the soft clamp's tails) included.
    for (int64_t half : {1, 5, 384}) {
      BOOST_TEST_CONTEXT(dtype_name(dtype) << " half " << half) {
        const double tol = dtype == DType::Float64 ? 1e-13 : 2e-6;
        const Tensor x0 = random_tensor({7, half}, 10, -3, 3, dtype), r0 = random_tensor({7, 2 * half}, 11, -8, 8, dtype);
        Tensor xa = x0.clone().set_requires_grad(true), ra = r0.clone().set_requires_grad(true);
        Tensor xb = x0.clone().set_requires_grad(true), rb = r0.clone().set_requires_grad(true);
        const CouplingResult fused = coupling_affine(xa, ra, 3.0), unfused = coupling_affine_unfused(xb, rb, 3.0);
        DIFFERNET_CHECK_CLOSE_VECTORS(values(fused.y), values(unfused.y), tol, tol);
        DIFFERNET_CHECK_CLOSE_VECTORS(values(fused.log_det), values(unfused.log_det), tol * half, tol);
        const Tensor wy = random_tensor(fused.y.shape(), 12, -1, 1, dtype);
        const Tensor wl = random_tensor(fused.log_det.shape(), 13, -1, 1, dtype);
        add(sum(mul(fused.y, wy)), sum(mul(fused.log_det, wl))).backward();
        add(sum(mul(unfused.y, wy)), sum(mul(unfused.log_det, wl))).backward();
        DIFFERNET_CHECK_CLOSE_VECTORS(values(xa.grad()), values(xb.grad()), tol, tol);
        DIFFERNET_CHECK_CLOSE_VECTORS(values(ra.grad()), values(rb.grad()), tol, tol);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(gradcheck_of_both_outputs) {
  gradcheck("coupling_affine", [](const std::vector<Tensor>& v) { return joined(coupling_affine(v[0], v[1], 3.0)); },
            {random_tensor({4, 6}, 20, -2, 2), random_tensor({4, 12}, 21, -5, 5)});
  gradcheck("coupling_affine, alpha 0.5",
            [](const std::vector<Tensor>& v) { return joined(coupling_affine(v[0], v[1], 0.5)); },
            {random_tensor({3, 3}, 22, -2, 2), random_tensor({3, 6}, 23, -2, 2)});
}

BOOST_AUTO_TEST_CASE(only_one_output_used) {
  // A gradient reaches only the log-det (or only y): the other counts as zero.
  Tensor x = random_tensor({2, 4}, 30).set_requires_grad(true), r = random_tensor({2, 8}, 31).set_requires_grad(true);
  sum(coupling_affine(x, r, 3.0).log_det).backward();
  for (double g : values(x.grad())) BOOST_CHECK_EQUAL(g, 0.0);
  const auto gr = values(r.grad()), rv = values(r);
  for (int b = 0; b < 2; ++b)
    for (int j = 0; j < 4; ++j) {
      BOOST_CHECK_CLOSE_FRACTION(gr[size_t(b * 8 + j)], kernels::soft_clamp_derivative(rv[size_t(b * 8 + j)], 3.0), 1e-14);
      BOOST_CHECK_EQUAL(gr[size_t(b * 8 + 4 + j)], 0.0);
    }
  Tensor x2 = random_tensor({2, 4}, 32).set_requires_grad(true);
  sum(coupling_affine(x2, r, 3.0).y).backward();
  BOOST_CHECK(x2.has_grad());
}

BOOST_AUTO_TEST_CASE(hard_clamp_blocks_the_gradient_where_it_clamps) {
  // x = 2e6 with s = t = 0 gives y = 2e6, clamped to 1e6: no gradient to x or t
  // through the clamped output; the unclamped y (subnet1's input) keeps its gradient.
  Tensor x = Tensor::from_vector(std::vector<double>{2e6, 0.5}, {1, 2}).set_requires_grad(true);
  Tensor r = Tensor::from_vector(std::vector<double>{0, 0, 0, 0}, {1, 4}).set_requires_grad(true);
  const CouplingResult out = coupling_affine(x, r, 3.0);
  BOOST_CHECK_EQUAL(values(out.y_clamped)[0], 1e6);
  BOOST_CHECK_EQUAL(values(out.y_clamped)[1], 0.5);
  BOOST_CHECK_EQUAL(values(out.y)[0], 2e6);
  BOOST_CHECK_EQUAL(values(out.y)[1], 0.5);
  sum(out.y_clamped).backward();
  const auto gx = values(x.grad()), gr = values(r.grad());
  BOOST_CHECK_EQUAL(gx[0], 0.0);
  BOOST_CHECK_EQUAL(gr[0], 0.0);  // ds of the clamped element (no log-det gradient flowed)
  BOOST_CHECK_EQUAL(gr[2], 0.0);  // dt of the clamped element
  BOOST_CHECK_CLOSE_FRACTION(gx[1], 1.0, 1e-15);
  BOOST_CHECK_EQUAL(gr[3], 1.0);
  // Both outputs used: their gradients add, the clamped one masked.
  Tensor x2 = x.detach().set_requires_grad(true), r2 = r.detach().set_requires_grad(true);
  const CouplingResult both = coupling_affine(x2, r2, 3.0);
  add(mul_scalar(sum(both.y), 2.0), sum(both.y_clamped)).backward();
  const auto gx2 = values(x2.grad());
  BOOST_CHECK_CLOSE_FRACTION(gx2[0], 2.0, 1e-15);
  BOOST_CHECK_CLOSE_FRACTION(gx2[1], 3.0, 1e-15);
}

BOOST_AUTO_TEST_CASE(inverse_undoes_forward) {
  const Tensor x = random_tensor({5, 7}, 40, -4, 4), r = random_tensor({5, 14}, 41, -6, 6);
  const Tensor back = coupling_affine_inverse(coupling_affine(x, r, 3.0).y_clamped, r, 3.0);
  BOOST_CHECK_LE(max_abs_diff(back, x), 1e-14);
}

BOOST_AUTO_TEST_CASE(mismatched_inputs_are_named) {
  const Tensor x = random_tensor({2, 4}, 50), r = random_tensor({2, 6}, 51);
  BOOST_CHECK_EXCEPTION(coupling_affine(x, r, 3.0), Error, [](const Error& e) {
    return std::string(e.what()).find("subnet output r") != std::string::npos;
  });
  BOOST_CHECK_THROW(coupling_affine(x, random_tensor({2, 8}, 52, -1, 1, DType::Float32), 3.0), Error);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(flow)

BOOST_AUTO_TEST_CASE(permutations_are_seeded_by_block_index) {
  const auto p0 = block_permutation(0, 768), p1 = block_permutation(1, 768);
  BOOST_CHECK(p0 == block_permutation(0, 768));
  BOOST_CHECK(p0 != p1);
  std::vector<int64_t> sorted = p0;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 768; ++i) BOOST_CHECK_EQUAL(sorted[size_t(i)], i);
  DifferNetFlow flow(small_config(8, 4, 3));
  for (int64_t k = 0; k < 3; ++k) BOOST_CHECK(flow.block(k).permutation() == block_permutation(k, 8));
}

BOOST_AUTO_TEST_CASE(parameter_names_and_count) {
  DifferNetFlow flow(small_config(16, 32, 2));
  const auto params = flow.named_parameters();
  BOOST_REQUIRE_EQUAL(params.size(), 2u * 2u * 8u);
  BOOST_CHECK_EQUAL(params[0].first, "0.subnet1.0.weight");
  BOOST_CHECK_EQUAL(params[7].first, "0.subnet1.6.bias");
  BOOST_CHECK_EQUAL(params[8].first, "0.subnet2.0.weight");
  BOOST_CHECK(params[0].second.shape() == (Shape{32, 8}));
  BOOST_CHECK(params[6].second.shape() == (Shape{16, 32}));
  // PyTorch's default Linear initialisation: uniform in +-1/sqrt(fan_in).
  for (double w : values(params[2].second)) BOOST_CHECK_LE(std::abs(w), 1.0 / std::sqrt(32.0));
  // The paper's flow: 8 blocks x 2 subnets x (384*2048 + 2*2048*2048 + 2048*768 + biases).
  const double per_subnet = 384.0 * 2048 + 2048 + 2 * (2048.0 * 2048 + 2048) + 2048.0 * 768 + 768;
  BOOST_CHECK_CLOSE(16 * per_subnet, 172e6, 1.0);
}

// The flow's parameters fill one buffer back to back (its ParameterArena), with
// the values the layers draw by themselves, and Adam keeps that buffer as its
// flat one instead of copying the parameters into another.
BOOST_AUTO_TEST_CASE(parameters_fill_one_buffer_that_adam_keeps) {
  const FlowConfig config = small_config(16, 32, 2);
  DifferNetFlow flow(config);
  const auto params = flow.parameters();
  int64_t offset = 0;
  for (const Tensor& p : params) {
    BOOST_CHECK(p.shares_storage_with(params[0]));
    BOOST_CHECK_EQUAL(p.impl().offset, offset);
    offset += p.numel();
  }
  BOOST_CHECK_EQUAL(int64_t(params[0].impl().storage->bytes()), offset * int64_t(sizeof(float)));
  // Block 0's subnet1 is drawn first from Generator(seed): the same subnet
  // built outside any arena has its own storage and the same values.
  Generator gen(config.seed);
  const Subnet alone(config.dims / 2, config.hidden, config.dims, gen, DType::Float32, Device::CPU);
  const auto own = alone.parameters();
  BOOST_REQUIRE_EQUAL(own.size(), 8u);
  for (size_t i = 0; i < own.size(); ++i) {
    BOOST_CHECK(!own[i].shares_storage_with(params[0]));
    DIFFERNET_CHECK_CLOSE_VECTORS(values(own[i]), values(params[i]), 0, 0);
  }
  const float* where = params[0].data<float>();
  Adam adam(params, AdamOptions::differnet());
  BOOST_CHECK(adam.flat_parameters().data<float>() == where && params[0].data<float>() == where);
  BOOST_CHECK(flow.parameters()[3].shares_storage_with(adam.flat_parameters()));
}

BOOST_AUTO_TEST_CASE(inverse_float64_and_float32) {
  // Tolerances: float64 round trip within 1e-10 absolute; float32 within 1e-4
  // absolute, for inputs of unit scale through 4 blocks whose scales exp(c(s))
  // lie in [e^-3, e^3].
  for (DType dtype : {DType::Float64, DType::Float32}) {
    BOOST_TEST_CONTEXT(dtype_name(dtype)) {
      DifferNetFlow flow(small_config(16, 32, 4, 3), dtype);
      Generator gen(5);
      const Tensor y = randn({64, 16}, gen, dtype);
      const Tensor back = flow.inverse(flow.forward(y).z);
      const double err = max_abs_diff(back, y);
      BOOST_TEST_MESSAGE("max |f^-1(f(y)) - y| " << dtype_name(dtype) << ": " << err);
      BOOST_CHECK_LE(err, dtype == DType::Float64 ? 1e-10 : 1e-4);
      // And the other way: f(f^-1(z)) = z.
      const Tensor z = randn({64, 16}, gen, dtype);
      NoGradGuard no_grad;
      BOOST_CHECK_LE(max_abs_diff(flow.forward(flow.inverse(z)).z, z), dtype == DType::Float64 ? 1e-10 : 1e-4);
    }
  }
}

BOOST_AUTO_TEST_CASE(log_det_equals_the_brute_force_jacobian) {
  // J_b = dz_b/dy_b, row i from the backward of sum_b z[b, i] (samples are independent).
  const int64_t dims = 8, batch = 4;
  DifferNetFlow flow(small_config(dims, 16, 3, 7), DType::Float64);
  Tensor y = random_tensor({batch, dims}, 60, -2, 2).set_requires_grad(true);
  const FlowOutput out = flow.forward(y);
  std::vector<std::vector<double>> jac(size_t(batch), std::vector<double>(size_t(dims * dims)));
  for (int64_t i = 0; i < dims; ++i) {
    y.impl().grad.reset();
    std::vector<double> seed(size_t(batch * dims), 0.0);
    for (int64_t b = 0; b < batch; ++b) seed[size_t(b * dims + i)] = 1.0;
    out.z.backward(Tensor::from_vector(seed, {batch, dims}));
    const auto g = values(y.grad());
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t j = 0; j < dims; ++j) jac[size_t(b)][size_t(i * dims + j)] = g[size_t(b * dims + j)];
  }
  const auto ld = values(out.log_jac_det);
  for (int64_t b = 0; b < batch; ++b) {
    const double brute = log_abs_det(jac[size_t(b)], dims);
    BOOST_TEST_MESSAGE("sample " << b << ": log-det " << ld[size_t(b)] << ", brute force " << brute);
    BOOST_CHECK_LE(std::abs(ld[size_t(b)] - brute), 1e-10 * (1 + std::abs(brute)));
  }
}

BOOST_AUTO_TEST_CASE(gradcheck_of_a_block_input_and_parameters) {
  Generator gen(70);
  CouplingBlock block(8, 6, 3.0, block_permutation(0, 8), gen, DType::Float64, Device::CPU);
  gradcheck("CouplingBlock input", [&](const std::vector<Tensor>& v) { return joined(block.forward(v[0])); },
            {random_tensor({3, 8}, 71, -2, 2)});
  const Tensor x = random_tensor({3, 8}, 72, -2, 2);
  const Tensor w = random_tensor({3, 9}, 73);
  check_parameter_gradients(block, [&] { return sum(mul(joined(block.forward(x)), w)); });
}

BOOST_AUTO_TEST_CASE(nll_loss_is_paper_eq_4) {
  const Tensor z = random_tensor({3, 4}, 80), ld = random_tensor({3}, 81);
  const auto zv = values(z), lv = values(ld);
  double expected = 0;
  for (int b = 0; b < 3; ++b) {
    double sq = 0;
    for (int j = 0; j < 4; ++j) sq += zv[size_t(b * 4 + j)] * zv[size_t(b * 4 + j)];
    expected += (0.5 * sq - lv[size_t(b)]) / 4;
  }
  BOOST_CHECK_CLOSE_FRACTION(nll_loss(z, ld).item(), expected / 3, 1e-14);
  gradcheck("nll_loss", [](const std::vector<Tensor>& v) { return nll_loss(v[0], v[1]); },
            {random_tensor({3, 4}, 82), random_tensor({3}, 83)});
  gradcheck("flow NLL", [](const std::vector<Tensor>& v) {
    static DifferNetFlow flow(small_config(6, 5, 2, 9), DType::Float64);
    const FlowOutput out = flow.forward(v[0]);
    return nll_loss(out.z, out.log_jac_det);
  }, {random_tensor({2, 6}, 84)});
}

BOOST_AUTO_TEST_CASE(training_fits_a_correlated_gaussian) {
  // y = A e, e ~ N(0, I_16), A lower triangular: covariance A A^T, and the
  // optimum of our loss (eq. 4 without the constant 0.5 log 2 pi) is the
  // distribution's entropy per dimension minus that constant:
  //   loss* = 0.5 + log|det A| / d.
  const int64_t d = 16, batch = 256, steps = 600;
  std::vector<float> a(size_t(d * d), 0.f);
  double log_det_a = 0;
  Generator agen(90);
  const auto noise = values(rand_uniform({d, d}, -0.6, 0.6, agen));
  for (int64_t i = 0; i < d; ++i) {
    for (int64_t j = 0; j < i; ++j) a[size_t(i * d + j)] = float(noise[size_t(i * d + j)]);
    a[size_t(i * d + i)] = float(0.3 + 0.1 * double(i));
    log_det_a += std::log(double(a[size_t(i * d + i)]));
  }
  const Tensor amat = Tensor::from_vector(a, {d, d});
  const double optimum = 0.5 + log_det_a / double(d);
  auto draw = [&](Generator& g, int64_t n) {
    NoGradGuard no_grad;
    return matmul(randn({n, d}, g), amat, false, true);
  };

  // Matrices this small are faster on one thread than on several (and the
  // test then does not depend on how busy the machine is).
  omp_set_num_threads(1);
  openblas_set_num_threads(1);
  DifferNetFlow flow(small_config(d, 64, 4, 91));
  Adam adam(flow.parameters(), {1e-3, 0.9, 0.999, 1e-8, 0.0});
  Generator data(92);
  const auto start = std::chrono::steady_clock::now();
  for (int64_t step = 0; step < steps; ++step) {
    adam.zero_grad();
    const FlowOutput out = flow.forward(draw(data, batch));
    nll_loss(out.z, out.log_jac_det).backward();
    adam.step();
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  Generator held_out(93);
  NoGradGuard no_grad;
  const FlowOutput out = flow.forward(draw(held_out, 8192));
  const double loss = nll_loss(out.z, out.log_jac_det).item();
  BOOST_TEST_MESSAGE("trained " << steps << " steps in " << seconds << " s: held-out loss " << loss
                                << ", optimum " << optimum);
  // Margin: 0.03 nats per dimension above the optimum (and no more than 0.01
  // below it, which only sampling noise of 8192 samples can explain).
  BOOST_CHECK_LE(loss, optimum + 0.03);
  BOOST_CHECK_GE(loss, optimum - 0.01);
  // Samples from the trained flow have the data's covariance: relative
  // Frobenius error below 0.1 (the sampling error of 8192 samples is ~0.02).
  Generator sgen(94);
  const Tensor s = flow.sample(8192, sgen);
  const Tensor cov = mul_scalar(matmul(s, s, true, false), 1.0 / 8192);
  const Tensor truth = matmul(amat, amat, false, true);
  const double rel = std::sqrt(normalized_mse(values(cov), values(truth)));
  BOOST_TEST_MESSAGE("sample covariance: relative Frobenius error " << rel);
  BOOST_CHECK_LE(rel, 0.1);
}

BOOST_AUTO_TEST_CASE(bad_input_is_named) {
  DifferNetFlow flow(small_config(16, 8, 2));
  auto message_has = [](const std::string& part) {
    return [part](const Error& e) {
      BOOST_TEST_MESSAGE(e.what());
      return std::string(e.what()).find(part) != std::string::npos;
    };
  };
  BOOST_CHECK_EXCEPTION(flow.forward(Tensor::zeros({4, 12})), Error, message_has("16 features"));
  BOOST_CHECK_EXCEPTION(flow.forward(Tensor::zeros({16})), Error, message_has("[batch, 16]"));
  BOOST_CHECK_EXCEPTION(flow.forward(Tensor::zeros({4, 16}, DType::Float64)), Error, message_has("float32"));
  std::vector<float> v(64, 0.f);
  v[37] = NAN;
  BOOST_CHECK_EXCEPTION(flow.forward(Tensor::from_vector(v, {4, 16})), Error, message_has("element 37"));
  v[37] = INFINITY;
  BOOST_CHECK_EXCEPTION(flow.inverse(Tensor::from_vector(v, {4, 16})), Error, message_has("non-finite"));
  BOOST_CHECK_EXCEPTION(DifferNetFlow(small_config(15, 8, 2)), Error, message_has("even"));
  BOOST_CHECK_EXCEPTION(DifferNetFlow(small_config(16, 0, 2)), Error, message_has("hidden"));
  FlowConfig bad_alpha = small_config(16, 8, 2);
  bad_alpha.alpha = NAN;
  BOOST_CHECK_EXCEPTION(DifferNetFlow{bad_alpha}, Error, message_has("alpha"));
  std::vector<int64_t> not_perm{0, 1, 2, 3, 4, 5, 6, 6};
  Generator gen(0);
  BOOST_CHECK_EXCEPTION(CouplingBlock(8, 4, 3.0, not_perm, gen, DType::Float64, Device::CPU), Error,
                        message_has("not a permutation"));
  // A non-finite parameter yields a non-finite output, which check_finite names.
  DifferNetFlow broken(small_config(16, 8, 2));
  broken.named_parameters()[6].second.fill_(NAN);  // the last Linear: no ReLU after it to hide the NaN
  NoGradGuard no_grad;
  BOOST_CHECK_EXCEPTION(check_finite(broken.forward(Tensor::zeros({2, 16})).z, "flow output"), Error,
                        message_has("flow output"));
  BOOST_CHECK_EXCEPTION(check_finite_parameters(broken), Error, message_has("flow parameter '0.subnet1.6.weight'"));
  check_finite_parameters(flow);
  // Empty batches pass through.
  BOOST_CHECK(flow.forward(Tensor::zeros({0, 16})).z.shape() == (Shape{0, 16}));
}

BOOST_AUTO_TEST_SUITE_END()
