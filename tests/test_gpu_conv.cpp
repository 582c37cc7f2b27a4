// CPU-vs-CUDA parity of the convolution and pooling ops (cuDNN and our pooling
// kernels against the im2col/GEMM and pooling loops), outputs and every
// gradient, and of the whole three-scale extractor with its input gradient.
// Skipped, with the reason, when no CUDA device is present.
#define BOOST_TEST_MODULE gpu_conv
#define BOOST_TEST_NO_MAIN
#include <boost/test/unit_test.hpp>

#include "autograd/ops_conv.h"
#include "layers/feature_extractor.h"
#include "test_support.h"
#if DIFFERNET_WITH_CUDA
#include "kernels/cudnn_choice.h"
#include "kernels/profile.h"
#endif

using namespace differnet;
using namespace differnet::testing;

namespace {

Tensor rand32(const Shape& shape, uint64_t seed, double lo = -1.0, double hi = 1.0) {
  return random_tensor(shape, seed, lo, hi, DType::Float32);
}

// f on CPU and CUDA copies of the inputs: outputs and the gradients of the
// inputs flagged in `grad` agree (scale-free error); the others get none.
void check_parity(const std::string& what, const std::function<Tensor(const std::vector<Tensor>&)>& f,
                  const std::vector<Tensor>& inputs, std::vector<bool> grad = {}, double tol = 1e-10) {
  grad.resize(inputs.size(), true);
  BOOST_TEST_CONTEXT(what) {
    std::vector<Tensor> cpu, gpu;
    for (size_t i = 0; i < inputs.size(); ++i) {
      cpu.push_back(inputs[i].clone().set_requires_grad(grad[i]));
      gpu.push_back(inputs[i].to(Device::CUDA).set_requires_grad(grad[i]));
    }
    Tensor yc = f(cpu), yg = f(gpu);
    BOOST_REQUIRE(yg.device() == Device::CUDA);
    BOOST_REQUIRE(yg.shape() == yc.shape());
    BOOST_CHECK_LE(normalized_mse(values(yg), values(yc)), tol);
    const Tensor seed = rand32(yc.shape(), 4242);
    yc.backward(seed);
    yg.backward(seed.to(Device::CUDA));
    for (size_t i = 0; i < inputs.size(); ++i)
      BOOST_TEST_CONTEXT("gradient of input " << i) {
        BOOST_CHECK_EQUAL(gpu[i].has_grad(), grad[i]);
        if (grad[i]) BOOST_CHECK_LE(normalized_mse(values(gpu[i].grad()), values(cpu[i].grad())), tol);
      }
  }
}

struct ConvCase {
  Shape x, w;
  int64_t stride, pad;
};

}  // namespace

BOOST_AUTO_TEST_CASE(conv2d_forward_and_all_gradients) {
  const std::vector<ConvCase> cases{{{2, 3, 9, 8}, {4, 3, 3, 3}, 1, 1},    {{3, 2, 11, 11}, {5, 2, 5, 5}, 2, 2},
                                    {{2, 3, 67, 71}, {64, 3, 11, 11}, 4, 2}, {{4, 64, 13, 13}, {16, 64, 1, 1}, 1, 0},
                                    {{1, 7, 70, 66}, {9, 7, 3, 3}, 1, 1},   {{5, 192, 6, 6}, {33, 192, 3, 3}, 1, 1}};
  for (const auto& c : cases) {
    const Tensor x = rand32(c.x, 1), w = rand32(c.w, 2), b = rand32({c.w[0]}, 3);
    const std::string what = "conv2d x " + shape_str(c.x) + " w " + shape_str(c.w);
    auto f = [&](const std::vector<Tensor>& v) { return conv2d(v[0], v[1], v.size() > 2 ? v[2] : Tensor(), c.stride, c.pad); };
    check_parity(what + " with bias", f, {x, w, b});
    check_parity(what + " no bias", f, {x, w});
    check_parity(what + " input gradient only", f, {x, w, b}, {true, false, false});
    check_parity(what + " weight gradient only", f, {x, w, b}, {false, true, true});
  }
}

BOOST_AUTO_TEST_CASE(max_pool2d_forward_and_gradient) {
  for (const Shape& shape : {Shape{2, 3, 7, 8}, Shape{3, 64, 55, 55}, Shape{2, 5, 110, 109}, Shape{1, 1, 1000, 3}}) {
    const Tensor x = rand32(shape, 5);
    check_parity("max_pool2d k3 s2 " + shape_str(shape), [](auto& v) { return max_pool2d(v[0], 3, 2); }, {x});
    check_parity("max_pool2d k3 s2 ceil " + shape_str(shape), [](auto& v) { return max_pool2d(v[0], 3, 2, 0, true); }, {x});
    check_parity("max_pool2d k2 s2 p1 ceil " + shape_str(shape), [](auto& v) { return max_pool2d(v[0], 2, 2, 1, true); }, {x});
  }
  // ReLU zeros: ties go to the same (first) element on both devices.
  const Tensor relu_out = relu(rand32({2, 4, 13, 13}, 6));
  check_parity("max_pool2d of ReLU output", [](auto& v) { return max_pool2d(v[0], 3, 2, 0, true); }, {relu_out});
}

BOOST_AUTO_TEST_CASE(global_avg_pool2d_forward_and_gradient) {
  check_parity("global_avg_pool2d", [](auto& v) { return global_avg_pool2d(v[0]); }, {rand32({3, 256, 13, 13}, 7)});
}

BOOST_AUTO_TEST_CASE(three_scale_extractors_with_input_gradient) {
  for (const char* name : {"alexnet", "squeezenet1_1"}) {
    const auto cpu_backbone = make_backbone(name, 11), gpu_backbone = make_backbone(name, 11);
    gpu_backbone->to(Device::CUDA);
    const FeatureExtractor cpu(cpu_backbone, 448, 3), gpu(gpu_backbone, 448, 3);
    const Tensor x = rand32({2, 3, 448, 448}, 8, -2, 2);
    const Tensor xc = x.clone().set_requires_grad(true), xg = x.to(Device::CUDA).set_requires_grad(true);
    const Tensor yc = cpu.forward(xc), yg = gpu.forward(xg);
    BOOST_TEST_CONTEXT(name) {
      BOOST_CHECK_LE(normalized_mse(values(yg), values(yc)), 1e-10);
      const Tensor w = rand32(yc.shape(), 9);
      sum(mul(yc, w)).backward();
      sum(mul(yg, w.to(Device::CUDA))).backward();
      // A max-pool window whose two largest inputs differ by less than the
      // devices' float rounding may take a different argmax on each; the moved
      // gradient spreads over that window's receptive field. Under the SIMT
      // emulator SqueezeNet shows a few such patches: normalized MSE 4.6e-7 and
      // 0.3% of the entries off by more than 1e-4 of the largest with the CPU
      // convolutions on im2col, 1.04e-5 and 1.2% on oneDNN's direct kernels,
      // 2.3e-5 and 2.1% on its Winograd kernels (which round differently from
      // the GPU's direct sums). A few patches may differ, the rest must agree;
      // an indexing bug changes nearly every entry.
      const std::vector<double> gg = values(xg.grad()), gc = values(xc.grad());
      BOOST_CHECK_LE(normalized_mse(gg, gc), 1e-4);
      double largest = 0;
      for (double v : gc) largest = std::max(largest, std::abs(v));
      size_t differing = 0;
      for (size_t i = 0; i < gc.size(); ++i) differing += !(std::abs(gg[i] - gc[i]) <= 1e-4 * largest);
      BOOST_CHECK_LE(differing, gc.size() / 20);
      for (const auto& [pname, p] : gpu.named_parameters()) BOOST_CHECK_MESSAGE(!p.has_grad(), pname);
    }
  }
}

// A batch of zero images: empty outputs and input gradient, zero weight and
// bias gradients, as on the CPU (cuDNN refuses descriptors with n = 0).
BOOST_AUTO_TEST_CASE(conv2d_of_an_empty_batch) {
  const Tensor x = rand32({0, 3, 9, 8}, 1), w = rand32({4, 3, 3, 3}, 2), b = rand32({4}, 3);
  auto f = [](const std::vector<Tensor>& v) { return conv2d(v[0], v[1], v[2], 1, 1); };
  check_parity("conv2d of batch 0", f, {x, w, b});
  check_parity("conv2d of batch 0, weight gradient only", f, {x, w, b}, {false, true, true});
}

// cuDNN lists what Find timed, fastest first. By default the fastest
// deterministic algorithm that fits the workspace limit is taken, with the math
// type Find ran it with; benchmark mode (--cudnn-benchmark) takes the fastest of all.
BOOST_AUTO_TEST_CASE(cudnn_algorithm_choice) {
#if DIFFERNET_WITH_CUDA
  using namespace differnet::kernels;
  using Perf = cudnnConvolutionBwdFilterAlgoPerf_t;
  auto result = [](cudnnConvolutionBwdFilterAlgo_t algo, cudnnStatus_t status, size_t memory,
                   cudnnDeterminism_t determinism, cudnnMathType_t math) {
    Perf r{};
    r.algo = algo, r.status = status, r.memory = memory, r.determinism = determinism, r.mathType = math;
    return r;
  };
  const Perf results[] = {
      result(CUDNN_CONVOLUTION_BWD_FILTER_ALGO_3, CUDNN_STATUS_NOT_SUPPORTED, 0, CUDNN_DETERMINISTIC, CUDNN_FMA_MATH),
      result(CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT, CUDNN_STATUS_SUCCESS, cuda::kMaxWorkspace + 1, CUDNN_DETERMINISTIC,
             CUDNN_FMA_MATH),
      result(CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0, CUDNN_STATUS_SUCCESS, 0, CUDNN_NON_DETERMINISTIC, CUDNN_FMA_MATH),
      result(CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1, CUDNN_STATUS_SUCCESS, 4096, CUDNN_DETERMINISTIC,
             CUDNN_TENSOR_OP_MATH)};
  const Conv2dGeometry g;
  BOOST_REQUIRE(!cudnn_benchmark());
  auto c = cuda::pick_algorithm<cudnnConvolutionBwdFilterAlgo_t>(results, 4, "backward-filter convolution", g);
  BOOST_CHECK(c.ready);
  BOOST_CHECK_EQUAL(int(c.algo), int(CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1));
  BOOST_CHECK_EQUAL(c.bytes, 4096u);
  BOOST_CHECK_EQUAL(int(c.math), int(CUDNN_TENSOR_OP_MATH));
  expect_error([&] { cuda::pick_algorithm<cudnnConvolutionBwdFilterAlgo_t>(results, 3, "backward-filter convolution", g); },
               "no usable backward-filter convolution algorithm among the deterministic ones");
  set_cudnn_benchmark(true);
  c = cuda::pick_algorithm<cudnnConvolutionBwdFilterAlgo_t>(results, 4, "backward-filter convolution", g);
  set_cudnn_benchmark(false);
  BOOST_CHECK_EQUAL(int(c.algo), int(CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0));
#endif
}

int main(int argc, char* argv[]) { return gpu_test_main(argc, argv, &init_unit_test, "CUDA conv/pool parity tests"); }
