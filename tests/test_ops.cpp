// Every op: forward against a naive loop, backward against finite differences (float64).
#define BOOST_TEST_MODULE ops
#include <boost/test/unit_test.hpp>
#include <array>
#include <cmath>
#include <cstring>
#include <random>

#include "autograd/ops.h"
#include "kernels/kernels.h"
#include "kernels/sgemm_skinny.h"
#include "gemm_check.h"
#include "test_support.h"

using namespace differnet;
using namespace differnet::testing;

namespace {
using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

// Applies a scalar function element by element: the naive reference of unary ops.
std::vector<double> map_values(const Tensor& x, const std::function<double(double)>& f) {
  std::vector<double> v = values(x);
  for (double& e : v) e = f(e);
  return v;
}
}  // namespace

BOOST_AUTO_TEST_SUITE(forward)

BOOST_AUTO_TEST_CASE(unary_ops_match_the_math_library) {
  const Tensor x = random_tensor({7, 13}, 1, 0.1, 3.0);
  DIFFERNET_CHECK_CLOSE_VECTORS(values(neg(x)), map_values(x, [](double v) { return -v; }), 0, 0);
  DIFFERNET_CHECK_CLOSE_VECTORS(values(exp(x)), map_values(x, [](double v) { return std::exp(v); }), 0, 1e-15);
  DIFFERNET_CHECK_CLOSE_VECTORS(values(log(x)), map_values(x, [](double v) { return std::log(v); }), 0, 1e-15);
  DIFFERNET_CHECK_CLOSE_VECTORS(values(atan(x)), map_values(x, [](double v) { return std::atan(v); }), 0, 1e-15);
  DIFFERNET_CHECK_CLOSE_VECTORS(values(square(x)), map_values(x, [](double v) { return v * v; }), 0, 1e-15);
  DIFFERNET_CHECK_CLOSE_VECTORS(values(sqrt(x)), map_values(x, [](double v) { return std::sqrt(v); }), 0, 1e-15);
  const Tensor s = random_tensor({5, 3}, 2);
  DIFFERNET_CHECK_CLOSE_VECTORS(values(relu(s)), map_values(s, [](double v) { return v > 0 ? v : 0; }), 0, 0);
  DIFFERNET_CHECK_CLOSE_VECTORS(values(add_scalar(s, 2.5)), map_values(s, [](double v) { return v + 2.5; }), 0, 0);
  DIFFERNET_CHECK_CLOSE_VECTORS(values(mul_scalar(s, -3)), map_values(s, [](double v) { return v * -3; }), 0, 0);
  DIFFERNET_CHECK_CLOSE_VECTORS(values(rsub_scalar(1.5, s)), map_values(s, [](double v) { return 1.5 - v; }), 0, 0);
}

BOOST_AUTO_TEST_CASE(float32_unary_ops) {
  const Tensor x = random_tensor({1000}, 3, -4, 4, DType::Float32);
  const std::vector<double> xv = values(x);
  std::vector<double> ref(xv.size());
  for (size_t i = 0; i < xv.size(); ++i) ref[i] = std::atan(xv[i]);
  DIFFERNET_CHECK_CLOSE_VECTORS(values(atan(x)), ref, 1e-7, 1e-6);
}

BOOST_AUTO_TEST_CASE(binary_ops_broadcast_rows_and_columns) {
  const Tensor a = random_tensor({4, 5}, 4), row = random_tensor({5}, 5), col = random_tensor({4, 1}, 6, 0.5, 2);
  const auto av = values(a), rv = values(row), cv = values(col);
  std::vector<double> sum_ref(20), div_ref(20);
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 5; ++j) {
      sum_ref[size_t(i * 5 + j)] = av[size_t(i * 5 + j)] + rv[size_t(j)];
      div_ref[size_t(i * 5 + j)] = av[size_t(i * 5 + j)] / cv[size_t(i)];
    }
  DIFFERNET_CHECK_CLOSE_VECTORS(values(add(a, row)), sum_ref, 0, 0);
  DIFFERNET_CHECK_CLOSE_VECTORS(values(div(a, col)), div_ref, 0, 1e-15);
  BOOST_CHECK(mul(col, row).shape() == (Shape{4, 5}));
  const Tensor b = random_tensor({4, 5}, 7);
  const auto bv = values(b);
  std::vector<double> mul_ref(20), sub_ref(20);
  for (size_t i = 0; i < 20; ++i) mul_ref[i] = av[i] * bv[i], sub_ref[i] = av[i] - bv[i];
  DIFFERNET_CHECK_CLOSE_VECTORS(values(mul(a, b)), mul_ref, 0, 0);
  DIFFERNET_CHECK_CLOSE_VECTORS(values(sub(a, b)), sub_ref, 0, 0);
}

BOOST_AUTO_TEST_CASE(broadcast_of_high_rank_tensors) {
  const Tensor a = random_tensor({2, 1, 3, 1, 2, 1, 2}, 8), b = random_tensor({3, 4, 1, 5, 1}, 9);
  const Tensor c = add(a, b);
  BOOST_CHECK(c.shape() == (Shape{2, 1, 3, 4, 2, 5, 2}));
  const auto av = values(a), bv = values(b), cv = values(c);
  // c[i0,0,i2,i3,i4,i5,i6] = a[i0,0,i2,0,i4,0,i6] + b[i2,i3,0,i5,0]
  size_t k = 0;
  double worst = 0;
  for (int i0 = 0; i0 < 2; ++i0)
    for (int i2 = 0; i2 < 3; ++i2)
      for (int i3 = 0; i3 < 4; ++i3)
        for (int i4 = 0; i4 < 2; ++i4)
          for (int i5 = 0; i5 < 5; ++i5)
            for (int i6 = 0; i6 < 2; ++i6) {
              const double ref = av[size_t(((i0 * 3 + i2) * 2 + i4) * 2 + i6)] + bv[size_t((i2 * 4 + i3) * 5 + i5)];
              worst = std::max(worst, std::abs(cv[k++] - ref));
            }
  BOOST_CHECK_EQUAL(worst, 0.0);
}

BOOST_AUTO_TEST_CASE(reductions) {
  const Tensor x = random_tensor({3, 4, 5}, 10);
  const auto v = values(x);
  double total = 0;
  for (double e : v) total += e;
  BOOST_CHECK_CLOSE(sum(x).item(), total, 1e-10);
  BOOST_CHECK_CLOSE(mean(x).item(), total / 60, 1e-10);
  BOOST_CHECK(sum(x).shape().empty());
  const Tensor s1 = sum(x, 1);
  BOOST_CHECK(s1.shape() == (Shape{3, 5}));
  BOOST_CHECK(sum(x, -1, true).shape() == (Shape{3, 4, 1}));
  std::vector<double> ref(15, 0.0);
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 4; ++j)
      for (int k = 0; k < 5; ++k) ref[size_t(i * 5 + k)] += v[size_t((i * 4 + j) * 5 + k)];
  DIFFERNET_CHECK_CLOSE_VECTORS(values(s1), ref, 1e-14, 1e-14);
  for (double& r : ref) r /= 4;
  DIFFERNET_CHECK_CLOSE_VECTORS(values(mean(x, 1)), ref, 1e-14, 1e-14);
}

// The non-finite guard of a training step: any NaN or infinity in any of the
// tensors, float32 and float64, wherever it is; finite values whose sum
// overflows are finite.
BOOST_AUTO_TEST_CASE(all_finite_finds_any_nan_or_infinity) {
  for (DType dtype : {DType::Float32, DType::Float64})
    for (int64_t n : {int64_t(1), int64_t(100), int64_t(100000)})
      for (int64_t at : {int64_t(0), n / 2, n - 1})
        for (double bad : {double(NAN), double(INFINITY), -double(INFINITY)}) {
          BOOST_TEST_CONTEXT("n " << n << " bad " << bad << " at " << at) {
            std::vector<double> v = values(random_tensor({n}, 3));
            v[size_t(at)] = bad;
            const Tensor broken = Tensor::from_vector(v, {n}).to(dtype), fine = random_tensor({7}, 4).to(dtype);
            BOOST_CHECK(!all_finite({broken}));
            BOOST_CHECK(!all_finite({fine, broken}));
            BOOST_CHECK(all_finite({fine}));
          }
        }
  const Tensor huge = Tensor::from_vector(std::vector<float>{3e38f, 3e38f}, {2});
  BOOST_CHECK(!std::isfinite(sum(huge).item()));
  BOOST_CHECK(all_finite({huge, Tensor::empty({0})}));
}

BOOST_AUTO_TEST_CASE(concat_narrow_index_select_reshape) {
  const Tensor a = random_tensor({2, 3, 2}, 11), b = random_tensor({2, 1, 2}, 12);
  const Tensor c = concat({a, b}, 1);
  BOOST_CHECK(c.shape() == (Shape{2, 4, 2}));
  const auto av = values(a), bv = values(b), cv = values(c);
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 4; ++j)
      for (int k = 0; k < 2; ++k) {
        const double ref = j < 3 ? av[size_t((i * 3 + j) * 2 + k)] : bv[size_t(i * 2 + k)];
        BOOST_CHECK_EQUAL(cv[size_t((i * 4 + j) * 2 + k)], ref);
      }
  DIFFERNET_CHECK_CLOSE_VECTORS(values(narrow(c, 1, 3, 1)), bv, 0, 0);
  DIFFERNET_CHECK_CLOSE_VECTORS(values(narrow(c, 1, 0, 3)), av, 0, 0);
  const Tensor perm = index_select(c, 1, {3, 0, 2, 1});
  const auto pv = values(perm);
  const int64_t order[4] = {3, 0, 2, 1};
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 4; ++j)
      for (int k = 0; k < 2; ++k) BOOST_CHECK_EQUAL(pv[size_t((i * 4 + j) * 2 + k)], cv[size_t((i * 4 + order[j]) * 2 + k)]);
  const Tensor r = reshape(c, {4, -1});
  BOOST_CHECK(r.shape() == (Shape{4, 4}));
  DIFFERNET_CHECK_CLOSE_VECTORS(values(r), cv, 0, 0);
  BOOST_CHECK(r.shares_storage_with(c));
}

BOOST_AUTO_TEST_CASE(matmul_and_linear_against_loops) {
  const int m = 5, k = 7, n = 3;
  const Tensor a = random_tensor({m, k}, 13), b = random_tensor({k, n}, 14), bias = random_tensor({n}, 15);
  const auto av = values(a), bv = values(b), biasv = values(bias);
  std::vector<double> ref(size_t(m * n)), lin(size_t(m * n));
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      double acc = 0;
      for (int l = 0; l < k; ++l) acc += av[size_t(i * k + l)] * bv[size_t(l * n + j)];
      ref[size_t(i * n + j)] = acc;
    }
  DIFFERNET_CHECK_CLOSE_VECTORS(values(matmul(a, b)), ref, 1e-14, 1e-13);
  const Tensor at = Tensor::from_vector([&] {
    std::vector<double> t(size_t(k * m));
    for (int i = 0; i < m; ++i)
      for (int l = 0; l < k; ++l) t[size_t(l * m + i)] = av[size_t(i * k + l)];
    return t;
  }(), {k, m});
  const Tensor bt = Tensor::from_vector([&] {
    std::vector<double> t(size_t(n * k));
    for (int l = 0; l < k; ++l)
      for (int j = 0; j < n; ++j) t[size_t(j * k + l)] = bv[size_t(l * n + j)];
    return t;
  }(), {n, k});
  DIFFERNET_CHECK_CLOSE_VECTORS(values(matmul(at, bt, true, true)), ref, 1e-14, 1e-13);
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) lin[size_t(i * n + j)] = ref[size_t(i * n + j)] + biasv[size_t(j)];
  DIFFERNET_CHECK_CLOSE_VECTORS(values(linear(a, bt, bias)), lin, 1e-14, 1e-13);
  DIFFERNET_CHECK_CLOSE_VECTORS(values(linear(a, bt, Tensor())), ref, 1e-14, 1e-13);
}

BOOST_AUTO_TEST_CASE(nearest_resize_matches_pytorch_index_rule) {
  // 448 -> 224 and 112 as in DifferNet, plus an up-scale and a non-integer ratio.
  for (auto [h, w, oh, ow] : std::vector<std::array<int, 4>>{{8, 8, 4, 4}, {8, 8, 2, 2}, {5, 7, 9, 3}, {13, 6, 6, 13}}) {
    const Tensor x = random_tensor({2, 3, h, w}, 16);
    const auto xv = values(x), yv = values(resize_nearest2d(x, oh, ow));
    for (int p = 0; p < 6; ++p)
      for (int r = 0; r < oh; ++r)
        for (int c = 0; c < ow; ++c) {
          const int sr = std::min(int(std::floor(r * (float(h) / float(oh)))), h - 1);
          const int sc = std::min(int(std::floor(c * (float(w) / float(ow)))), w - 1);
          BOOST_CHECK_EQUAL(yv[size_t((p * oh + r) * ow + c)], xv[size_t((p * h + sr) * w + sc)]);
        }
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(gradients)

BOOST_AUTO_TEST_CASE(unary) {
  const Tensor pos = random_tensor({3, 4}, 20, 0.2, 2.0);
  const Tensor any = random_tensor({3, 4}, 21, -2.0, 2.0);
  gradcheck("neg", [](auto& x) { return neg(x[0]); }, {any});
  gradcheck("exp", [](auto& x) { return exp(x[0]); }, {any});
  gradcheck("log", [](auto& x) { return log(x[0]); }, {pos});
  gradcheck("atan", [](auto& x) { return atan(x[0]); }, {any});
  gradcheck("square", [](auto& x) { return square(x[0]); }, {any});
  gradcheck("sqrt", [](auto& x) { return sqrt(x[0]); }, {pos});
  gradcheck("add_scalar", [](auto& x) { return add_scalar(x[0], 3.0); }, {any});
  gradcheck("mul_scalar", [](auto& x) { return mul_scalar(x[0], -1.7); }, {any});
  gradcheck("rsub_scalar", [](auto& x) { return rsub_scalar(0.5, x[0]); }, {any});
  // relu: keep inputs away from the kink at 0, where the derivative is undefined.
  Tensor away = random_tensor({3, 4}, 22, 0.05, 1.0);
  Tensor signs = random_tensor({3, 4}, 23, -1.0, 1.0);
  std::vector<double> v = values(away), sg = values(signs);
  for (size_t i = 0; i < v.size(); ++i) v[i] *= sg[i] < 0 ? -1 : 1;
  gradcheck("relu", [](auto& x) { return relu(x[0]); }, {Tensor::from_vector(v, {3, 4})});
}

BOOST_AUTO_TEST_CASE(binary_with_broadcasting) {
  const Tensor a = random_tensor({3, 4}, 30), b = random_tensor({3, 4}, 31, 0.5, 2.0);
  const Tensor row = random_tensor({4}, 32, 0.5, 2.0), col = random_tensor({3, 1}, 33, 0.5, 2.0);
  for (const Tensor& other : {b, row, col}) {
    gradcheck("add", [](auto& x) { return add(x[0], x[1]); }, {a, other});
    gradcheck("sub", [](auto& x) { return sub(x[0], x[1]); }, {a, other});
    gradcheck("mul", [](auto& x) { return mul(x[0], x[1]); }, {a, other});
    gradcheck("div", [](auto& x) { return div(x[0], x[1]); }, {a, other});
    gradcheck("sub reversed", [](auto& x) { return sub(x[1], x[0]); }, {a, other});
  }
}

BOOST_AUTO_TEST_CASE(reductions) {
  const Tensor x = random_tensor({3, 4, 2}, 40);
  gradcheck("sum", [](auto& v) { return sum(v[0]); }, {x});
  gradcheck("mean", [](auto& v) { return mean(v[0]); }, {x});
  for (int64_t d : {0, 1, 2, -1}) {
    gradcheck("sum(dim)", [d](auto& v) { return sum(v[0], d); }, {x});
    gradcheck("sum(dim, keepdim)", [d](auto& v) { return sum(v[0], d, true); }, {x});
    gradcheck("mean(dim)", [d](auto& v) { return mean(v[0], d); }, {x});
  }
}

BOOST_AUTO_TEST_CASE(shape_ops) {
  const Tensor x = random_tensor({2, 3, 4}, 50), y = random_tensor({2, 2, 4}, 51);
  gradcheck("reshape", [](auto& v) { return reshape(v[0], {4, -1}); }, {x});
  gradcheck("broadcast_to", [](auto& v) { return broadcast_to(v[0], {5, 2, 3, 4}); }, {x});
  gradcheck("broadcast_to column", [](auto& v) { return broadcast_to(v[0], {3, 4}); }, {random_tensor({3, 1}, 52)});
  gradcheck("sum_to", [](auto& v) { return sum_to(v[0], {3, 1}); }, {x});
  gradcheck("concat", [](auto& v) { return concat({v[0], v[1]}, 1); }, {x, y});
  gradcheck("concat last", [](auto& v) { return concat({v[0], v[1], v[0]}, -1); }, {x, random_tensor({2, 3, 1}, 53)});
  gradcheck("narrow", [](auto& v) { return narrow(v[0], 2, 1, 2); }, {x});
  gradcheck("index_select permutation", [](auto& v) { return index_select(v[0], 2, {2, 0, 3, 1}); }, {x});
  gradcheck("index_select repeats", [](auto& v) { return index_select(v[0], 1, {1, 1, 0}); }, {x});
}

BOOST_AUTO_TEST_CASE(matrix_products) {
  const Tensor a = random_tensor({4, 3}, 60), b = random_tensor({3, 5}, 61);
  gradcheck("matmul", [](auto& v) { return matmul(v[0], v[1]); }, {a, b});
  gradcheck("matmul a^T", [](auto& v) { return matmul(v[0], v[1], true, false); }, {random_tensor({3, 4}, 62), b});
  gradcheck("matmul b^T", [](auto& v) { return matmul(v[0], v[1], false, true); }, {a, random_tensor({5, 3}, 63)});
  gradcheck("matmul a^T b^T", [](auto& v) { return matmul(v[0], v[1], true, true); },
            {random_tensor({3, 4}, 64), random_tensor({5, 3}, 65)});
  const Tensor x = random_tensor({6, 3}, 66), w = random_tensor({2, 3}, 67), bias = random_tensor({2}, 68);
  gradcheck("linear", [](auto& v) { return linear(v[0], v[1], v[2]); }, {x, w, bias});
  gradcheck("linear without bias", [](auto& v) { return linear(v[0], v[1], Tensor()); }, {x, w});
  // (No pre-activation of these random inputs lies within the finite-difference step of the kink.)
  gradcheck("linear_relu", [](auto& v) { return linear_relu(v[0], v[1], v[2]); }, {x, w, bias});
  gradcheck("linear_relu without bias", [](auto& v) { return linear_relu(v[0], v[1], Tensor()); }, {x, w});
}

// float32 on the CPU takes the AVX-512 GEMM (kernels/sgemm_avx512.h) where the
// CPU has it, with bias and ReLU in its epilogue: the values and all three
// gradients agree with the same op in float64 (BLAS, no epilogue) to float32
// accuracy, at a batch of 96 and widths that are not multiples of the tiles.
BOOST_AUTO_TEST_CASE(linear_float32_agrees_with_float64) {
  const int64_t batch = 96, in = 300, out = 130;
  for (bool relu : {false, true}) {
    BOOST_TEST_CONTEXT("relu " << relu) {
      const Tensor x64 = random_tensor({batch, in}, 70), w64 = mul_scalar(random_tensor({out, in}, 71), 0.1),
                   b64 = random_tensor({out}, 72), gy64 = random_tensor({batch, out}, 73);
      std::vector<std::vector<double>> results[2];
      for (DType dtype : {DType::Float64, DType::Float32}) {
        Tensor x = x64.to(dtype).set_requires_grad(true), w = w64.to(dtype).set_requires_grad(true),
               b = b64.to(dtype).set_requires_grad(true);
        const Tensor y = relu ? linear_relu(x, w, b) : linear(x, w, b);
        y.backward(gy64.to(dtype));
        results[dtype == DType::Float32].assign(
            {values(y), values(x.grad()), values(w.grad()), values(b.grad())});
      }
      const char* names[] = {"y", "x grad", "weight grad", "bias grad"};
      for (size_t t = 0; t < 4; ++t)
        BOOST_TEST_CONTEXT(names[t]) { DIFFERNET_CHECK_CLOSE_VECTORS(results[1][t], results[0][t], 1e-4, 1e-4); }
    }
  }
}

BOOST_AUTO_TEST_CASE(nearest_resize) {
  gradcheck("resize down 2x", [](auto& v) { return resize_nearest2d(v[0], 3, 4); }, {random_tensor({2, 2, 6, 8}, 70)});
  gradcheck("resize 4x", [](auto& v) { return resize_nearest2d(v[0], 2, 2); }, {random_tensor({1, 2, 8, 8}, 71)});
  gradcheck("resize odd", [](auto& v) { return resize_nearest2d(v[0], 4, 9); }, {random_tensor({1, 1, 7, 5}, 72)});
}

BOOST_AUTO_TEST_CASE(composite_expression_reuses_tensors) {
  // A tensor used by several ops gets the sum of their gradients.
  gradcheck("x*x + exp(x)/x",
            [](auto& v) { return add(mul(v[0], v[0]), div(exp(v[0]), v[0])); }, {random_tensor({5}, 80, 0.5, 1.5)});
}

// The ReLU's backward (conv2d_relu's, relu's) is vectorised for float32 on
// AVX-512 too: bit for bit the scalar g * (x > 0 ? 1 : 0), -0 and NaN
// included, at lengths that are not multiples of 16, one above the threads'
// grain. run_tests.sh repeats this under DIFFERNET_NO_AVX512=1.
BOOST_AUTO_TEST_CASE(relu_backward_matches_the_scalar_loop) {
  std::mt19937 rng(6);
  std::normal_distribution<float> normal;
  for (const int64_t n : {int64_t(1), int64_t(17), int64_t(70001)}) {
    BOOST_TEST_CONTEXT("n " << n) {
      std::vector<float> x(static_cast<size_t>(n)), gy(x.size()), gx(x.size(), 7.f);
      for (size_t i = 0; i < x.size(); ++i) {
        x[i] = i % 3 == 0 ? 0.f : normal(rng);
        gy[i] = normal(rng);
      }
      gy[0] = std::nanf("");
      kernels::cpu::unary_backward<float>(kernels::UnaryOp::Relu, x.data(), x.data(), gy.data(), gx.data(), n, 0.f);
      for (size_t i = 0; i < x.size(); ++i) {
        const float expected = gy[i] * (x[i] > 0.f ? 1.f : 0.f);
        BOOST_REQUIRE_MESSAGE(std::memcmp(&gx[i], &expected, sizeof(float)) == 0,
                              "element " << i << ": " << gx[i] << " against " << expected);
      }
    }
  }
}

// kernels::cpu::linear_backward_epilogue, the pass around a Linear's backward
// GEMMs (ReLU mask and bias gradient), is vectorised for float32 on AVX-512;
// it must give the scalar loop's results bit for bit: the mask as a product
// (g * 0 keeps -0 and NaN), the column sums in double in row order. Ragged
// widths, exact zeros in y and a NaN in the gradient; run_tests.sh repeats this
// under DIFFERNET_NO_AVX512=1 for the scalar path.
BOOST_AUTO_TEST_CASE(linear_backward_epilogue_matches_the_scalar_loop) {
  std::mt19937 rng(5);
  std::normal_distribution<float> normal;
  for (const int64_t cols : {int64_t(1), int64_t(130), int64_t(2048)})
    for (const bool relu : {false, true}) {
      BOOST_TEST_CONTEXT("cols " << cols << " relu " << relu) {
        const int64_t rows = 96;
        std::vector<float> gy(size_t(rows * cols)), y(gy.size()), gx(gy.size(), 7.f), sums(static_cast<size_t>(cols));
        for (size_t i = 0; i < gy.size(); ++i) {
          gy[i] = normal(rng);
          y[i] = i % 5 == 0 ? 0.f : normal(rng);
        }
        gy[gy.size() / 2] = std::nanf("");
        kernels::cpu::linear_backward_epilogue<float>(gy.data(), relu ? y.data() : nullptr, gx.data(),
                                                      sums.data(), rows, cols);
        for (int64_t c = 0; c < cols; ++c) {
          double expected_sum = 0;
          for (int64_t r = 0; r < rows; ++r) {
            const size_t i = size_t(r * cols + c);
            const float masked = gy[i] * (y[i] > 0.f ? 1.f : 0.f);
            if (relu) BOOST_REQUIRE(std::memcmp(&gx[i], &masked, sizeof(float)) == 0);
            expected_sum += double(relu ? masked : gy[i]);
          }
          const float expected = float(expected_sum);
          BOOST_REQUIRE_MESSAGE(std::memcmp(&sums[size_t(c)], &expected, sizeof(float)) == 0,
                                "column " << c << ": " << sums[size_t(c)] << " against " << expected);
        }
        if (!relu) BOOST_CHECK(gx[0] == 7.f);  // without the ReLU gx is not written
      }
    }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(bad_input)

BOOST_AUTO_TEST_CASE(errors_name_the_op_and_shapes) {
  const Tensor a = random_tensor({2, 3}, 90), b = random_tensor({4, 5}, 91);
  auto message_of = [](const std::function<void()>& f) -> std::string {
    try {
      f();
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  };
  const std::string m1 = message_of([&] { add(a, b); });
  BOOST_CHECK_NE(m1.find("add"), std::string::npos);
  BOOST_CHECK_NE(m1.find("[2, 3]"), std::string::npos);
  BOOST_CHECK_NE(m1.find("[4, 5]"), std::string::npos);
  BOOST_CHECK_NE(message_of([&] { matmul(a, b); }).find("matmul"), std::string::npos);
  BOOST_CHECK_NE(message_of([&] { linear(a, b, Tensor()); }).find("linear"), std::string::npos);
  BOOST_CHECK_NE(message_of([&] { add(a, a.to(DType::Float32)); }).find("dtypes differ"), std::string::npos);
  BOOST_CHECK_NE(message_of([&] { narrow(a, 1, 2, 5); }).find("narrow"), std::string::npos);
  BOOST_CHECK_NE(message_of([&] { index_select(a, 1, {3}); }).find("index 3"), std::string::npos);
  BOOST_CHECK_NE(message_of([&] { reshape(a, {4, 2}); }).find("reshape"), std::string::npos);
  BOOST_CHECK_NE(message_of([&] { concat({a, b}, 0); }).find("concat"), std::string::npos);
  BOOST_CHECK_NE(message_of([&] { sum(a, 2); }).find("out of range"), std::string::npos);
  BOOST_CHECK_NE(message_of([&] { resize_nearest2d(a, 2, 2); }).find("[N, C, H, W]"), std::string::npos);
  BOOST_CHECK_NE(message_of([&] { exp(Tensor()); }).find("undefined"), std::string::npos);
  BOOST_CHECK_NE(message_of([&] { exp(Tensor::zeros({2}, DType::UInt8)); }).find("float32 or float64"), std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()

// kernels/sgemm_skinny.h against a double-precision loop: the flow's three
// GEMM layouts (A B^T with few rows, A B with few rows, A^T B with a short
// depth), sizes that are not multiples of the 4 x 96 / 6 x 64 tiles, of the
// 64-column strips or of the 256-deep blocks (A B's blocks: one, exactly
// two, two and a row; copied into panels where B's rows are 4 KB or more
// apart, n >= 1019 here, else read in place), row strides wider than the
// matrices, C rows on 64-byte lines (A^T B's non-temporal stores when it
// overwrites) and not, accumulation and the bias + ReLU epilogue (applied
// once, after the last depth block).
BOOST_AUTO_TEST_SUITE(skinny_gemm)

BOOST_AUTO_TEST_CASE(matches_a_double_loop_on_ragged_shapes) {
  if (!kernels::cpu::skinny_gemm_applies(false, true, 96, 64, 64)) {
    BOOST_TEST_MESSAGE("skipped: no AVX-512F on this CPU (or DIFFERNET_SKINNY_GEMM=0); the BLAS runs these GEMMs");
    return;
  }
  struct Case { bool trans_a, trans_b; int64_t m, n, k, c_pad = 2; };
  const Case cases[] = {{false, true, 96, 130, 300},  {false, true, 1, 1, 1},        {false, true, 97, 70, 600},
                        {false, true, 5, 3, 0},       {false, true, 128, 65, 17},    {false, false, 96, 300, 130},
                        {false, false, 13, 70, 600},  {false, false, 1, 1, 1},       {false, false, 7, 33, 0},
                        {false, false, 96, 64, 512},  {false, false, 128, 129, 513}, {false, false, 20, 200, 256, 8},
                        {false, false, 13, 1064, 300}, {false, false, 7, 1100, 513},
                        {true, false, 130, 300, 96},  {true, false, 7, 65, 1},       {true, false, 61, 17, 128},
                        {true, false, 3, 5, 0},       {true, false, 130, 200, 96, 8}, {true, false, 48, 128, 96, 16},
                        {true, false, 25, 64, 33, 0}};
  for (const Case& cs : cases)
    for (int mode = 0; mode < 4; ++mode) {  // 0: =, 1: +=, 2: = then bias, 3: += then bias and ReLU
      BOOST_TEST_CONTEXT("m " << cs.m << " n " << cs.n << " k " << cs.k << " trans_a " << cs.trans_a << " trans_b "
                              << cs.trans_b << " ldc n + " << cs.c_pad << " mode " << mode) {
        BOOST_REQUIRE(kernels::cpu::skinny_gemm_applies(cs.trans_a, cs.trans_b, cs.m, cs.n, cs.k));
        BOOST_CHECK_LT(testing::gemm_error(kernels::cpu::gemm_skinny, cs.trans_a, cs.trans_b, cs.m, cs.n, cs.k, mode,
                                           cs.c_pad),
                       1e-5);
      }
    }
}

BOOST_AUTO_TEST_CASE(is_not_taken_for_long_short_sides_or_both_transposed) {
  BOOST_CHECK(!kernels::cpu::skinny_gemm_applies(false, true, 129, 64, 64));
  BOOST_CHECK(!kernels::cpu::skinny_gemm_applies(false, false, 200, 64, 64));
  BOOST_CHECK(!kernels::cpu::skinny_gemm_applies(true, false, 64, 64, 129));
  BOOST_CHECK(!kernels::cpu::skinny_gemm_applies(true, true, 8, 8, 8));
}

BOOST_AUTO_TEST_SUITE_END()
