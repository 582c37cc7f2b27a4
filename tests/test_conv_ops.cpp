// Convolution and pooling ops: forward against naive loops, backward against
// finite differences (float64), the adjoint identities on shapes too large for
// finite differences, and the rule that an input-only backward makes no weight
// gradient.
#define BOOST_TEST_MODULE conv_ops
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <random>

#include "autograd/ops_conv.h"
#include "kernels/conv_onednn.h"
#include "kernels/pool_math.h"
#include "kernels/sgemm_avx512.h"
#include "gemm_check.h"
#include "test_support.h"

using namespace differnet;
using namespace differnet::testing;

namespace {

// y[n, o, i, j] = b[o] + sum_{c, p, q} x[n, c, i*s - pad + p, j*s - pad + q] w[o, c, p, q]
std::vector<double> naive_conv(const Tensor& x, const Tensor& w, const Tensor& b, int64_t s, int64_t pad) {
  const auto xv = values(x), wv = values(w);
  const auto bv = b.defined() ? values(b) : std::vector<double>(size_t(w.size(0)), 0.0);
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t O = w.size(0), KH = w.size(2), KW = w.size(3);
  const int64_t OH = (H + 2 * pad - KH) / s + 1, OW = (W + 2 * pad - KW) / s + 1;
  std::vector<double> y;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t i = 0; i < OH; ++i)
        for (int64_t j = 0; j < OW; ++j) {
          double acc = bv[size_t(o)];
          for (int64_t c = 0; c < C; ++c)
            for (int64_t p = 0; p < KH; ++p)
              for (int64_t q = 0; q < KW; ++q) {
                const int64_t ih = i * s - pad + p, iw = j * s - pad + q;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                acc += xv[size_t(((n * C + c) * H + ih) * W + iw)] * wv[size_t(((o * C + c) * KH + p) * KW + q)];
              }
          y.push_back(acc);
        }
  return y;
}

double dot(const Tensor& a, const Tensor& b) {
  const auto av = values(a), bv = values(b);
  double acc = 0;
  for (size_t i = 0; i < av.size(); ++i) acc += av[i] * bv[i];
  return acc;
}

struct ConvCase {
  Shape x, w;
  int64_t stride, pad;
  bool bias;
};

}  // namespace

// kernels/sgemm_avx512.h against a double-precision loop: ragged edges in every
// dimension (not multiples of the 12 x 32 tile or the 256-deep blocks), both
// layouts of A and of B, row strides wider than the matrices, accumulation,
// the bias + ReLU epilogue, and column counts that split among the threads.
BOOST_AUTO_TEST_SUITE(fast_gemm)

BOOST_AUTO_TEST_CASE(matches_a_double_loop_on_ragged_shapes) {
  if (!kernels::cpu::avx512_supported()) {
    BOOST_TEST_MESSAGE("skipped: no AVX-512F on this CPU; convolutions use the BLAS");
    return;
  }
  struct Shape3 { int64_t m, n, k; };
  const Shape3 shapes[] = {{1, 1, 1},     {12, 32, 256}, {13, 33, 257}, {5, 70, 3},  {64, 1029, 363},
                           {25, 31, 600}, {200, 40, 1},  {96, 200, 70}, {7, 130, 0}, {30, 2100, 20}};
  for (const Shape3& sh : shapes)
    for (bool trans_a : {false, true})
      for (bool trans_b : {false, true})
        for (int mode = 0; mode < 4; ++mode) {  // 0: =, 1: +=, 2: = then bias, 3: += then bias and ReLU
          BOOST_TEST_CONTEXT("m " << sh.m << " n " << sh.n << " k " << sh.k << " trans_a " << trans_a << " trans_b "
                                  << trans_b << " mode " << mode) {
            BOOST_CHECK_LT(testing::gemm_error(kernels::cpu::gemm_fast, trans_a, trans_b, sh.m, sh.n, sh.k, mode), 1e-5);
          }
        }
}

BOOST_AUTO_TEST_SUITE_END()

// kernels/conv_onednn.h against the reference it replaces where faster
// (im2col + GEMM, itself checked against naive loops and finite differences
// below): forward with and without bias and ReLU, and backward-data, on random
// inputs, with oneDNN's direct and (where it has one) Winograd kernel.
// AlexNet's five layer types at small sizes, one image and several,
// a stride whose floor division leaves input columns unread (right padding
// below the left), odd channel counts, a 1x1, and batches that the threads
// share in chunks. Weight gradients always run
// the reference (the backbone is frozen): nothing to compare.
BOOST_AUTO_TEST_SUITE(onednn, *boost::unit_test::precondition([](boost::unit_test::test_unit_id) {
  return boost::unit_test::assertion_result(kernels::cpu::onednn::available());
}))

BOOST_AUTO_TEST_CASE(matches_the_reference_forward_and_backward_data) {
  const std::vector<ConvCase> cases{{{2, 3, 67, 67}, {64, 3, 11, 11}, 4, 2, true}, {{1, 64, 15, 15}, {192, 64, 5, 5}, 1, 2, true},
                                    {{3, 192, 7, 7}, {384, 192, 3, 3}, 1, 1, false}, {{2, 384, 6, 6}, {256, 384, 3, 3}, 1, 1, true},
                                    {{2, 5, 9, 8}, {7, 5, 3, 3}, 3, 0, true},        {{2, 6, 5, 7}, {3, 6, 1, 1}, 1, 0, false},
                                    {{1, 3, 30, 29}, {17, 3, 4, 4}, 2, 1, true},
                                    // Batches split into chunks among the threads, with a shorter last one.
                                    {{9, 3, 23, 23}, {16, 3, 11, 11}, 4, 2, true},   {{9, 32, 7, 7}, {48, 32, 3, 3}, 1, 1, true}};
  int winograd_runs = 0;
  for (const ConvCase& c : cases)
    for (bool relu : {false, true})
      BOOST_TEST_CONTEXT("x " << shape_str(c.x) << " w " << shape_str(c.w) << " stride " << c.stride << " pad " << c.pad
                              << " bias " << c.bias << " relu " << relu) {
        kernels::Conv2dGeometry g;
        g.batch = c.x[0], g.in_channels = c.x[1], g.in_h = c.x[2], g.in_w = c.x[3];
        g.out_channels = c.w[0], g.kernel_h = c.w[2], g.kernel_w = c.w[3];
        g.stride_h = g.stride_w = c.stride, g.pad_h = g.pad_w = c.pad;
        g.out_h = (g.in_h + 2 * c.pad - g.kernel_h) / c.stride + 1, g.out_w = (g.in_w + 2 * c.pad - g.kernel_w) / c.stride + 1;
        const Tensor x = random_tensor(c.x, 1, -1, 1, DType::Float32), w = random_tensor(c.w, 2, -0.2, 0.2, DType::Float32);
        const Tensor b = random_tensor({g.out_channels}, 3, -1, 1, DType::Float32);
        const Shape y_shape{g.batch, g.out_channels, g.out_h, g.out_w};
        const Tensor gy = random_tensor(y_shape, 4, -1, 1, DType::Float32);
        Tensor y = Tensor::empty(y_shape, DType::Float32, Device::CPU), y_ref = Tensor::empty(y_shape, DType::Float32, Device::CPU);
        const float* bias = c.bias ? b.data<float>() : nullptr;
        kernels::cpu::conv2d_im2col<float>(g, x.data<float>(), w.data<float>(), bias, y_ref.data<float>(), relu);
        Tensor gx = Tensor::empty(c.x, DType::Float32, Device::CPU), gx_ref = Tensor::empty(c.x, DType::Float32, Device::CPU);
        kernels::cpu::conv2d_backward_input_im2col<float>(g, gy.data<float>(), w.data<float>(), gx_ref.data<float>());
        // Direct everywhere; Winograd where oneDNN has it (3x3, stride 1, AVX-512).
        for (const auto algorithm : {kernels::cpu::onednn::Algorithm::Direct, kernels::cpu::onednn::Algorithm::Winograd}) {
          const bool direct = algorithm == kernels::cpu::onednn::Algorithm::Direct;
          const bool ran = kernels::cpu::onednn::conv2d(g, x.data<float>(), w.data<float>(), bias, y.data<float>(), relu, algorithm);
          BOOST_REQUIRE(ran || !direct);
          if (!ran) continue;
          winograd_runs += !direct;
          DIFFERNET_CHECK_CLOSE_VECTORS(values(y), values(y_ref), 1e-4, 1e-4);
          if (relu) continue;  // backward-data has no ReLU
          if (!kernels::cpu::onednn::conv2d_backward_input(g, gy.data<float>(), w.data<float>(), gx.data<float>(), algorithm)) {
            BOOST_REQUIRE(!direct);
            continue;
          }
          DIFFERNET_CHECK_CLOSE_VECTORS(values(gx), values(gx_ref), 1e-4, 1e-4);
        }
      }
  // AlexNet's 3x3 layers have Winograd kernels wherever oneDNN runs AVX-512.
  if (kernels::cpu::avx512_supported()) BOOST_CHECK_GT(winograd_runs, 0);
}

// An empty batch: oneDNN declines it (the reference does nothing), in both
// directions, and the float32 op gives empty results.
BOOST_AUTO_TEST_CASE(declines_an_empty_batch) {
  kernels::Conv2dGeometry g;
  g.batch = 0, g.in_channels = 3, g.in_h = g.in_w = 9, g.out_channels = 4, g.kernel_h = g.kernel_w = 3;
  g.pad_h = g.pad_w = 1, g.out_h = g.out_w = 9;
  const Tensor w = random_tensor({4, 3, 3, 3}, 2, -1, 1, DType::Float32);
  float none = 0;
  BOOST_CHECK(!kernels::cpu::onednn::conv2d(g, &none, w.data<float>(), nullptr, &none, true));
  BOOST_CHECK(!kernels::cpu::onednn::conv2d_backward_input(g, &none, w.data<float>(), &none));
  const Tensor x = random_tensor({0, 3, 9, 9}, 1, -1, 1, DType::Float32).set_requires_grad(true);
  const Tensor y = conv2d_relu(x, w, Tensor(), 1, 1);
  BOOST_CHECK(y.shape() == (Shape{0, 4, 9, 9}));
  y.backward(Tensor::zeros(y.shape(), DType::Float32));
  BOOST_CHECK(x.grad().shape() == x.shape());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(convolution)

BOOST_AUTO_TEST_CASE(forward_matches_naive_loops) {
  // Strides, paddings, 1x1 (the GEMM-only path), several images per GEMM chunk and one.
  const std::vector<ConvCase> cases{{{2, 3, 9, 8}, {4, 3, 3, 3}, 1, 1, true},   {{3, 2, 11, 11}, {5, 2, 5, 5}, 2, 2, true},
                                    {{1, 3, 23, 23}, {4, 3, 11, 11}, 4, 2, false}, {{2, 6, 5, 7}, {3, 6, 1, 1}, 1, 0, true},
                                    {{1, 4, 70, 66}, {3, 4, 1, 1}, 1, 0, false},  {{1, 2, 66, 70}, {2, 2, 3, 3}, 1, 1, true},
                                    {{2, 3, 7, 7}, {2, 3, 3, 3}, 3, 0, true},
                                    // In float64 its column matrix (363 x 3969) takes the cache-blocked forward.
                                    {{1, 3, 260, 260}, {2, 3, 11, 11}, 4, 2, true}};
  for (const auto& c : cases)
    for (DType dtype : {DType::Float64, DType::Float32}) {
      BOOST_TEST_CONTEXT("x " << shape_str(c.x) << " w " << shape_str(c.w) << " stride " << c.stride << " pad " << c.pad
                              << " " << dtype_name(dtype)) {
        const Tensor x = random_tensor(c.x, 1, -1, 1, dtype), w = random_tensor(c.w, 2, -1, 1, dtype);
        const Tensor b = c.bias ? random_tensor({c.w[0]}, 3, -1, 1, dtype) : Tensor();
        const Tensor y = conv2d(x, w, b, c.stride, c.pad);
        const double rtol = dtype == DType::Float64 ? 1e-12 : 1e-5;
        DIFFERNET_CHECK_CLOSE_VECTORS(values(y), naive_conv(x, w, b, c.stride, c.pad), rtol, rtol);
      }
    }
}

BOOST_AUTO_TEST_CASE(gradients_match_finite_differences) {
  const auto f = [](int64_t s, int64_t p) {
    return [=](const std::vector<Tensor>& v) { return conv2d(v[0], v[1], v.size() > 2 ? v[2] : Tensor(), s, p); };
  };
  gradcheck("conv2d 3x3 pad 1 with bias", f(1, 1),
            {random_tensor({2, 3, 5, 6}, 1), random_tensor({4, 3, 3, 3}, 2), random_tensor({4}, 3)});
  gradcheck("conv2d 5x5 stride 2 pad 2 with bias", f(2, 2),
            {random_tensor({2, 2, 7, 7}, 4), random_tensor({3, 2, 5, 5}, 5), random_tensor({3}, 6)});
  gradcheck("conv2d 4x4 stride 3 no bias", f(3, 1), {random_tensor({1, 2, 9, 8}, 7), random_tensor({2, 2, 4, 4}, 8)});
  gradcheck("conv2d 1x1", f(1, 0), {random_tensor({3, 4, 3, 2}, 9), random_tensor({5, 4, 1, 1}, 10), random_tensor({5}, 11)});
}

// On shapes too big for finite differences (one image per GEMM, 4096+ pixels):
// <conv(x), gy> = <x, dx> and <conv(x) - b, gy> = <w, dw>, sum(gy) = <1, db>.
BOOST_AUTO_TEST_CASE(backward_is_the_adjoint_on_large_maps) {
  for (const ConvCase& c : {ConvCase{{2, 3, 70, 68}, {4, 3, 3, 3}, 1, 1, true}, ConvCase{{2, 5, 64, 65}, {3, 5, 1, 1}, 1, 0, true},
                            ConvCase{{2, 3, 260, 260}, {2, 3, 11, 11}, 4, 2, true}}) {
    BOOST_TEST_CONTEXT("x " << shape_str(c.x) << " w " << shape_str(c.w)) {
      const Tensor x = random_tensor(c.x, 1).set_requires_grad(true), w = random_tensor(c.w, 2).set_requires_grad(true);
      const Tensor b = random_tensor({c.w[0]}, 3).set_requires_grad(true);
      const Tensor y = conv2d(x, w, b, c.stride, c.pad);
      const Tensor gy = random_tensor(y.shape(), 4);
      y.backward(gy);
      const Tensor y0 = conv2d(x.detach(), w.detach(), Tensor(), c.stride, c.pad);
      BOOST_CHECK_CLOSE(dot(x, x.grad()), dot(y0, gy), 1e-9);
      BOOST_CHECK_CLOSE(dot(w, w.grad()), dot(y0, gy), 1e-9);
      BOOST_CHECK_CLOSE(sum(b.grad()).item(), sum(gy).item(), 1e-9);
    }
  }
}

// conv2d_relu applies the ReLU while writing the output: the same values as
// relu(conv2d(...)) (one image per GEMM and several), and its gradients.
BOOST_AUTO_TEST_CASE(fused_relu_equals_relu_of_conv) {
  for (const ConvCase& c : {ConvCase{{2, 3, 9, 8}, {4, 3, 3, 3}, 1, 1, true}, ConvCase{{1, 3, 70, 66}, {3, 3, 3, 3}, 1, 1, true},
                            ConvCase{{3, 2, 11, 11}, {5, 2, 5, 5}, 2, 2, false}})
    for (DType dtype : {DType::Float64, DType::Float32}) {
      BOOST_TEST_CONTEXT("x " << shape_str(c.x) << " w " << shape_str(c.w) << " " << dtype_name(dtype)) {
        const Tensor x = random_tensor(c.x, 1, -1, 1, dtype), w = random_tensor(c.w, 2, -1, 1, dtype);
        const Tensor b = c.bias ? random_tensor({c.w[0]}, 3, -1, 1, dtype) : Tensor();
        const auto fused = values(conv2d_relu(x, w, b, c.stride, c.pad));
        DIFFERNET_CHECK_CLOSE_VECTORS(fused, values(relu(conv2d(x, w, b, c.stride, c.pad))), 0, 0);
        BOOST_CHECK(std::count(fused.begin(), fused.end(), 0.0) > 0);  // some outputs were cut
      }
    }
  const auto f = [](int64_t s, int64_t p) {
    return [=](const std::vector<Tensor>& v) { return conv2d_relu(v[0], v[1], v.size() > 2 ? v[2] : Tensor(), s, p); };
  };
  gradcheck("conv2d_relu 3x3 pad 1 with bias", f(1, 1),
            {random_tensor({2, 3, 5, 6}, 21), random_tensor({4, 3, 3, 3}, 22), random_tensor({4}, 23)});
  gradcheck("conv2d_relu 5x5 stride 2 no bias", f(2, 2), {random_tensor({1, 2, 7, 7}, 24), random_tensor({3, 2, 5, 5}, 25)});
  // The input gradient alone, as the frozen backbone asks for it, equals the unfused one.
  Tensor x = random_tensor({2, 3, 8, 8}, 26).set_requires_grad(true);
  const Tensor w = random_tensor({4, 3, 3, 3}, 27);
  const Tensor b = random_tensor({4}, 28), gy = random_tensor({2, 4, 8, 8}, 29);
  conv2d_relu(x, w, b, 1, 1).backward(gy);
  const std::vector<double> fused_grad = values(x.grad());
  x.zero_grad();
  relu(conv2d(x, w, b, 1, 1)).backward(gy);
  DIFFERNET_CHECK_CLOSE_VECTORS(fused_grad, values(x.grad()), 0, 0);
  BOOST_CHECK(!w.has_grad());
}

BOOST_AUTO_TEST_CASE(input_only_backward_leaves_weights_without_gradient) {
  const Tensor x = random_tensor({2, 3, 6, 6}, 1).set_requires_grad(true);
  const Tensor w = random_tensor({4, 3, 3, 3}, 2), b = random_tensor({4}, 3);
  sum(conv2d(x, w, b, 1, 1)).backward();
  BOOST_CHECK(x.has_grad());
  BOOST_CHECK(!w.has_grad());
  BOOST_CHECK(!b.has_grad());
}

BOOST_AUTO_TEST_CASE(bad_shapes_are_reported) {
  const Tensor x = random_tensor({1, 3, 5, 5}, 1);
  BOOST_CHECK_THROW(conv2d(x, random_tensor({4, 2, 3, 3}, 2), Tensor()), Error);        // channel mismatch
  BOOST_CHECK_THROW(conv2d(x, random_tensor({4, 3, 7, 7}, 2), Tensor()), Error);        // kernel too big
  BOOST_CHECK_THROW(conv2d(x, random_tensor({4, 3, 3, 3}, 2), random_tensor({3}, 3)), Error);  // bias size
  BOOST_CHECK_THROW(conv2d(random_tensor({3, 5, 5}, 1), random_tensor({4, 3, 3, 3}, 2), Tensor()), Error);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(pooling)

// Sizes PyTorch's pooling_output_shape gives (checked against torch.nn.MaxPool2d).
BOOST_AUTO_TEST_CASE(output_sizes_follow_pytorch) {
  using kernels::pool_output_size;
  BOOST_CHECK_EQUAL(pool_output_size(55, 3, 2, 0, false), 27);  // AlexNet at 224
  BOOST_CHECK_EQUAL(pool_output_size(13, 3, 2, 0, false), 6);
  BOOST_CHECK_EQUAL(pool_output_size(111, 3, 2, 0, true), 55);  // SqueezeNet 1.1 at 224
  BOOST_CHECK_EQUAL(pool_output_size(55, 3, 2, 0, true), 27);
  BOOST_CHECK_EQUAL(pool_output_size(27, 3, 2, 0, true), 13);
  BOOST_CHECK_EQUAL(pool_output_size(6, 3, 2, 0, false), 2);
  BOOST_CHECK_EQUAL(pool_output_size(6, 3, 2, 0, true), 3);     // ceil: a last, partial window
  BOOST_CHECK_EQUAL(pool_output_size(5, 2, 2, 1, true), 3);     // ceil would give 4; that window starts in the right padding
  BOOST_CHECK_EQUAL(pool_output_size(2, 3, 2, 0, true), 0);     // the window does not fit
}

BOOST_AUTO_TEST_CASE(forward_takes_window_maxima) {
  // 1 x 1 x 4 x 5, kernel 3 stride 2, ceil_mode: windows rows {0-2, 2-3}, cols {0-2, 2-4}.
  std::vector<double> v(20);
  for (size_t i = 0; i < v.size(); ++i) v[i] = double((i * 7) % 20);
  const Tensor x = Tensor::from_vector(v, {1, 1, 4, 5});
  const Tensor y = max_pool2d(x, 3, 2, 0, true);
  BOOST_REQUIRE(y.shape() == (Shape{1, 1, 2, 2}));
  std::vector<double> ref;
  for (int oh = 0; oh < 2; ++oh)
    for (int ow = 0; ow < 2; ++ow) {
      double m = -1;
      for (int r = oh * 2; r < std::min(oh * 2 + 3, 4); ++r)
        for (int c = ow * 2; c < std::min(ow * 2 + 3, 5); ++c) m = std::max(m, v[size_t(r * 5 + c)]);
      ref.push_back(m);
    }
  DIFFERNET_CHECK_CLOSE_VECTORS(values(y), ref, 0, 0);
  BOOST_CHECK(max_pool2d(x, 3, 2, 0, false).shape() == (Shape{1, 1, 1, 2}));
  BOOST_CHECK(max_pool2d(x, 2, 1, 1, false).shape() == (Shape{1, 1, 5, 6}));
}

// The CPU forward splits each row into interior windows (a vectorised k-wide
// maximum) and windows cut by padding or ceil_mode: every geometry, against the
// naive window loop, with NaNs sprinkled in.
BOOST_AUTO_TEST_CASE(forward_matches_naive_windows_for_many_geometries) {
  struct Case { int h, w, k, s, p; bool ceil; };
  const Case cases[] = {{7, 8, 3, 2, 0, false}, {8, 9, 3, 2, 0, true}, {6, 6, 2, 2, 1, true}, {5, 7, 3, 1, 1, false},
                        {9, 5, 3, 3, 1, true},  {4, 13, 5, 2, 2, true}, {3, 3, 3, 1, 0, false}, {11, 11, 2, 1, 0, false}};
  for (const Case& c : cases) {
    std::vector<double> v = values(random_tensor({2, 1, c.h, c.w}, 40 + c.w));
    v[3] = std::nan("");
    const Tensor y = max_pool2d(Tensor::from_vector(v, {2, 1, c.h, c.w}), c.k, c.s, c.p, c.ceil);
    const int oh = int(y.size(2)), ow = int(y.size(3));
    std::vector<double> ref;
    for (int n = 0; n < 2; ++n)
      for (int r = 0; r < oh; ++r)
        for (int q = 0; q < ow; ++q) {
          double m = -INFINITY;
          bool nan = false;
          for (int i = std::max(r * c.s - c.p, 0); i < std::min(r * c.s - c.p + c.k, c.h); ++i)
            for (int j = std::max(q * c.s - c.p, 0); j < std::min(q * c.s - c.p + c.k, c.w); ++j) {
              const double e = v[size_t((n * c.h + i) * c.w + j)];
              nan = nan || std::isnan(e);
              m = std::max(m, e);
            }
          ref.push_back(nan ? std::nan("") : m);
        }
    const auto got = values(y);
    BOOST_REQUIRE_EQUAL(got.size(), ref.size());
    for (size_t i = 0; i < got.size(); ++i)
      BOOST_CHECK_MESSAGE(std::isnan(ref[i]) ? std::isnan(got[i]) : got[i] == ref[i],
                          "case h" << c.h << " w" << c.w << " k" << c.k << " s" << c.s << " p" << c.p << " output "
                                   << i << ": " << got[i] << " vs " << ref[i]);
  }
}

BOOST_AUTO_TEST_CASE(gradients_match_finite_differences) {
  gradcheck("max_pool2d k3 s2", [](auto& v) { return max_pool2d(v[0], 3, 2); }, {random_tensor({2, 3, 7, 8}, 1)});
  gradcheck("max_pool2d k3 s2 ceil", [](auto& v) { return max_pool2d(v[0], 3, 2, 0, true); },
            {random_tensor({2, 2, 8, 6}, 2)});
  gradcheck("max_pool2d k2 s2 pad 1 ceil", [](auto& v) { return max_pool2d(v[0], 2, 2, 1, true); },
            {random_tensor({1, 2, 5, 7}, 3)});
  gradcheck("max_pool2d k3 s1 pad 1", [](auto& v) { return max_pool2d(v[0], 3, 1, 1); }, {random_tensor({1, 2, 5, 4}, 4)});
  gradcheck("global_avg_pool2d", [](auto& v) { return global_avg_pool2d(v[0]); }, {random_tensor({2, 3, 4, 5}, 5)});
}

// Ties (ReLU zeros) send the gradient to the first maximum of the window, as PyTorch does.
// The CPU backward (scatter; in float32 on AVX-512 CPUs 16 interior windows
// at a time) against pool_math.h's gather form, bit for bit: rows wide enough
// for several 16-window blocks plus edges, padding, strides 1-3, inputs with
// many ties (values from a small set, ReLU-like zeros) and NaNs.
BOOST_AUTO_TEST_CASE(backward_matches_the_gather_form_with_ties_and_nans) {
  struct Case { int h, w, k, s, p; bool ceil; };
  const Case cases[] = {{9, 75, 3, 2, 0, false}, {7, 70, 3, 2, 1, true}, {5, 40, 2, 1, 0, false}, {6, 101, 3, 3, 1, true}};
  for (const Case& c : cases) {
    std::vector<double> v = values(random_tensor({2, 3, c.h, c.w}, 50 + c.w));
    for (size_t i = 0; i < v.size(); ++i) v[i] = std::max(0.0, std::round(v[i] * 3));  // -3 .. 3, then ReLU
    v[7] = v[200] = std::nan("");
    const Tensor x = Tensor::from_vector(v, {2, 3, c.h, c.w}).to(DType::Float32).set_requires_grad(true);
    const Tensor y = max_pool2d(x, c.k, c.s, c.p, c.ceil);
    const Tensor gy = random_tensor(y.shape(), 60 + c.w, -1, 1, DType::Float32);
    y.backward(gy);
    kernels::Pool2dGeometry g;
    g.planes = 6, g.in_h = c.h, g.in_w = c.w, g.out_h = int(y.size(2)), g.out_w = int(y.size(3));
    g.kernel_h = g.kernel_w = c.k, g.stride_h = g.stride_w = c.s, g.pad_h = g.pad_w = c.p;
    const Tensor xf = x.detach();
    const float* xs = xf.data<float>();
    const float* gys = gy.data<float>();
    std::vector<double> ref;
    for (int64_t plane = 0; plane < g.planes; ++plane)
      for (int ih = 0; ih < c.h; ++ih)
        for (int iw = 0; iw < c.w; ++iw)
          ref.push_back(kernels::max_pool_input_grad(xs + plane * c.h * c.w, gys + plane * g.out_h * g.out_w, g, ih, iw));
    DIFFERNET_CHECK_CLOSE_VECTORS(values(x.grad()), ref, 0, 0);
  }
}

BOOST_AUTO_TEST_CASE(ties_go_to_the_first_maximum) {
  const Tensor x = Tensor::zeros({1, 1, 3, 3}, DType::Float64).set_requires_grad(true);
  sum(max_pool2d(x, 2, 1)).backward();
  DIFFERNET_CHECK_CLOSE_VECTORS(values(x.grad()), (std::vector<double>{1, 1, 0, 1, 1, 0, 0, 0, 0}), 0, 0);
}

BOOST_AUTO_TEST_CASE(a_nan_in_a_window_gives_nan) {
  std::vector<double> v(16, 1.0);
  v[5] = std::nan("");
  const Tensor y = max_pool2d(Tensor::from_vector(v, {1, 1, 4, 4}), 2, 2);
  const auto yv = values(y);
  BOOST_CHECK(std::isnan(yv[0]));
  BOOST_CHECK_EQUAL(yv[1], 1.0);
  BOOST_CHECK_EQUAL(yv[3], 1.0);
}

BOOST_AUTO_TEST_CASE(global_average_is_the_spatial_mean) {
  const Tensor x = random_tensor({2, 3, 4, 5}, 6);
  const auto xv = values(x);
  std::vector<double> ref(6, 0.0);
  for (size_t i = 0; i < xv.size(); ++i) ref[i / 20] += xv[i] / 20;
  const Tensor y = global_avg_pool2d(x);
  BOOST_CHECK(y.shape() == (Shape{2, 3}));
  DIFFERNET_CHECK_CLOSE_VECTORS(values(y), ref, 1e-15, 1e-13);
}

BOOST_AUTO_TEST_CASE(bad_arguments_are_reported) {
  const Tensor x = random_tensor({1, 1, 4, 4}, 1);
  BOOST_CHECK_THROW(max_pool2d(x, 3, 2, 2), Error);  // padding above half the kernel
  BOOST_CHECK_THROW(max_pool2d(x, 5, 1), Error);     // window larger than the input
  BOOST_CHECK_THROW(max_pool2d(random_tensor({4, 4}, 1), 2, 2), Error);
}

BOOST_AUTO_TEST_SUITE_END()
