// CPU-vs-CUDA parity of every CUDA kernel of the core, on seeded random inputs
// of several sizes (including ones that are not multiples of the block size).
// Skipped, with the reason, when no CUDA device is present.
#define BOOST_TEST_MODULE gpu_parity
#define BOOST_TEST_NO_MAIN
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <cstdlib>

#include "autograd/ops.h"
#include "layers/adam.h"
#include "test_support.h"
#if DIFFERNET_WITH_CUDA
#include "kernels/cuda_allocator.h"
#endif

using namespace differnet;
using namespace differnet::testing;

namespace {

const std::vector<int64_t> kSizes{1, 7, 255, 256, 257, 1000, 65537};

Tensor rand32(const Shape& shape, uint64_t seed, double lo = -2.0, double hi = 2.0) {
  return random_tensor(shape, seed, lo, hi, DType::Float32);
}

// Runs f on CPU copies and CUDA copies of the inputs, with gradients, and
// compares outputs and input gradients (scale-free error).
void check_parity(const std::string& what, const std::function<Tensor(const std::vector<Tensor>&)>& f,
                  const std::vector<Tensor>& inputs, double tol = 1e-10, bool with_grad = true) {
  BOOST_TEST_CONTEXT(what) {
    std::vector<Tensor> cpu, gpu;
    for (const Tensor& x : inputs) {
      cpu.push_back(x.clone().set_requires_grad(with_grad));
      gpu.push_back(x.to(Device::CUDA).set_requires_grad(with_grad));
    }
    Tensor yc = f(cpu), yg = f(gpu);
    BOOST_REQUIRE(yg.device() == Device::CUDA);
    BOOST_CHECK_LE(normalized_mse(values(yg), values(yc)), tol);
    if (!with_grad) return;
    const Tensor seed = rand32(yc.shape(), 4242);
    yc.backward(seed);
    yg.backward(seed.to(Device::CUDA));
    for (size_t i = 0; i < inputs.size(); ++i)
      BOOST_TEST_CONTEXT("gradient of input " << i)
      BOOST_CHECK_LE(normalized_mse(values(gpu[i].grad()), values(cpu[i].grad())), tol);
  }
}

}  // namespace

BOOST_AUTO_TEST_CASE(unary_ops) {
  for (int64_t n : kSizes) {
    const Tensor x = rand32({n}, uint64_t(n)), pos = rand32({n}, uint64_t(n) + 1, 0.1, 3.0);
    check_parity("neg", [](auto& v) { return neg(v[0]); }, {x});
    check_parity("exp", [](auto& v) { return exp(v[0]); }, {x});
    check_parity("log", [](auto& v) { return log(v[0]); }, {pos});
    check_parity("atan", [](auto& v) { return atan(v[0]); }, {x});
    check_parity("relu", [](auto& v) { return relu(v[0]); }, {x});
    check_parity("square", [](auto& v) { return square(v[0]); }, {x});
    check_parity("sqrt", [](auto& v) { return sqrt(v[0]); }, {pos});
    check_parity("add_scalar", [](auto& v) { return add_scalar(v[0], 0.7); }, {x});
    check_parity("mul_scalar", [](auto& v) { return mul_scalar(v[0], -1.3); }, {x});
    check_parity("rsub_scalar", [](auto& v) { return rsub_scalar(2.0, v[0]); }, {x});
  }
}

BOOST_AUTO_TEST_CASE(binary_ops_and_broadcasting) {
  for (int64_t cols : {1, 5, 257, 768}) {
    const int64_t rows = 33;
    const Tensor a = rand32({rows, cols}, 1), b = rand32({rows, cols}, 2, 0.5, 2.0);
    const Tensor row = rand32({cols}, 3, 0.5, 2.0), col = rand32({rows, 1}, 4, 0.5, 2.0);
    for (const Tensor& other : {b, row, col}) {
      check_parity("add", [](auto& v) { return add(v[0], v[1]); }, {a, other});
      check_parity("sub", [](auto& v) { return sub(v[0], v[1]); }, {a, other});
      check_parity("mul", [](auto& v) { return mul(v[0], v[1]); }, {a, other});
      check_parity("div", [](auto& v) { return div(v[0], v[1]); }, {a, other});
    }
  }
}

BOOST_AUTO_TEST_CASE(reductions) {
  // 65537 and up take the two-pass multi-block reduction (chunks of 8192 and more).
  for (int64_t n : kSizes) check_parity("sum all", [](auto& v) { return sum(v[0]); }, {rand32({n}, 5)});
  check_parity("sum all, 4 M", [](auto& v) { return sum(v[0]); }, {rand32({(int64_t(1) << 22) + 3}, 50)});
  check_parity("sum of few long rows", [](auto& v) { return sum(v[0], 1); }, {rand32({3, 100003}, 51)});
  const Tensor x = rand32({7, 300, 9}, 6);
  for (int64_t d : {0, 1, 2}) {
    check_parity("sum dim", [d](auto& v) { return sum(v[0], d); }, {x});
    check_parity("mean dim", [d](auto& v) { return mean(v[0], d, true); }, {x});
  }
}

// Empty tensors: no outputs (zero rows: a zero-sized grid would be an invalid
// launch), or outputs that sum nothing (zeros).
BOOST_AUTO_TEST_CASE(reductions_of_empty_tensors) {
  check_parity("sum over the columns of zero rows", [](auto& v) { return sum(v[0], 1); }, {rand32({0, 7}, 52)});
  check_parity("sum over zero rows", [](auto& v) { return sum(v[0], 0); }, {rand32({0, 7}, 53)});
  check_parity("sum over zero columns", [](auto& v) { return sum(v[0], 1); }, {rand32({4, 0}, 54)});
  check_parity("sum of nothing", [](auto& v) { return sum(v[0]); }, {rand32({0}, 55)});
  check_parity("sum of [5, 0, 3] over dim 0", [](auto& v) { return sum(v[0], 0); }, {rand32({5, 0, 3}, 56)});
}

// The non-finite guard: one fused flag over several tensors, against the CPU,
// with the bad element at the start, the end and in the middle of a large
// tensor, in the first or the second tensor.
BOOST_AUTO_TEST_CASE(all_finite_flag) {
  for (int64_t n : {int64_t(1), int64_t(257), int64_t(3) << 20}) {
    for (int64_t at : {int64_t(0), n / 2, n - 1})
      for (float bad : {NAN, INFINITY, -INFINITY})
        for (int which : {0, 1}) {
          BOOST_TEST_CONTEXT("n " << n << " bad " << bad << " at " << at << " of tensor " << which) {
            std::vector<float> v = rand32({n}, 60).to_vector<float>();
            v[size_t(at)] = bad;
            const Tensor broken = Tensor::from_vector(v, {n}), fine = rand32({n + 1}, 61);
            const std::vector<Tensor> cpu = which == 0 ? std::vector<Tensor>{broken, fine} : std::vector<Tensor>{fine, broken};
            BOOST_CHECK(!all_finite(cpu));
            BOOST_CHECK(!all_finite({cpu[0].to(Device::CUDA), cpu[1].to(Device::CUDA)}));
          }
        }
    const Tensor a = rand32({n}, 62), b = rand32({n}, 63, -3e38, 3e38);  // b's sum overflows; b is finite
    BOOST_CHECK(all_finite({a.to(Device::CUDA), b.to(Device::CUDA)}));
    BOOST_CHECK(all_finite({a.to(Device::CUDA), Tensor::empty({0}, DType::Float32, Device::CUDA)}));
  }
}

BOOST_AUTO_TEST_CASE(shape_ops) {
  const Tensor a = rand32({3, 257, 5}, 7), b = rand32({3, 11, 5}, 8);
  check_parity("concat", [](auto& v) { return concat({v[0], v[1]}, 1); }, {a, b});
  check_parity("narrow", [](auto& v) { return narrow(v[0], 1, 100, 57); }, {a});
  check_parity("broadcast_to", [](auto& v) { return broadcast_to(v[0], {4, 3, 11, 5}); }, {b});
  std::vector<int64_t> perm(257);
  for (int64_t i = 0; i < 257; ++i) perm[size_t(i)] = (i * 31) % 257;
  check_parity("index_select", [&](auto& v) { return index_select(v[0], 1, perm); }, {a});
  check_parity("index_select repeats", [](auto& v) { return index_select(v[0], 1, {3, 3, 0, 10}); }, {b});
  check_parity("reshape", [](auto& v) { return reshape(v[0], {-1, 5}); }, {a});
}

BOOST_AUTO_TEST_CASE(matrix_products) {
  for (auto [m, k, n] : std::vector<std::array<int64_t, 3>>{{1, 1, 1}, {96, 384, 257}, {33, 65, 17}}) {
    const Tensor a = rand32({m, k}, 9), b = rand32({k, n}, 10);
    check_parity("matmul", [](auto& v) { return matmul(v[0], v[1]); }, {a, b}, 1e-9);
    check_parity("matmul a^T b^T", [](auto& v) { return matmul(v[0], v[1], true, true); },
                 {rand32({k, m}, 11), rand32({n, k}, 12)}, 1e-9);
    check_parity("linear", [](auto& v) { return linear(v[0], v[1], v[2]); },
                 {a, rand32({n, k}, 13), rand32({n}, 14)}, 1e-9);
    check_parity("linear_relu", [](auto& v) { return linear_relu(v[0], v[1], v[2]); },
                 {a, rand32({n, k}, 13), rand32({n}, 14)}, 1e-9);
  }
}

BOOST_AUTO_TEST_CASE(nearest_resize) {
  const Tensor x = rand32({2, 3, 448, 448}, 15);
  check_parity("resize 448->224", [](auto& v) { return resize_nearest2d(v[0], 224, 224); }, {x});
  check_parity("resize 448->112", [](auto& v) { return resize_nearest2d(v[0], 112, 112); }, {x});
  check_parity("resize odd", [](auto& v) { return resize_nearest2d(v[0], 13, 29); }, {rand32({1, 2, 37, 11}, 16)});
}

BOOST_AUTO_TEST_CASE(adam_step) {
  for (int64_t n : kSizes) {
    Tensor pc = rand32({n}, 17), pg = pc.to(Device::CUDA);
    pc.set_requires_grad(true);
    pg.set_requires_grad(true);
    Adam ac({pc}, AdamOptions::differnet()), ag({pg}, AdamOptions::differnet());
    for (int s = 0; s < 3; ++s) {
      const Tensor g = rand32({n}, 18 + uint64_t(s));
      ac.zero_grad();
      ag.zero_grad();
      sum(mul(pc, g)).backward();
      sum(mul(pg, g.to(Device::CUDA))).backward();
      ac.step();
      ag.step();
    }
    BOOST_CHECK_LE(normalized_mse(values(pg), values(pc)), 1e-12);
  }
}

// The same (seed, offset) gives the same numbers on both devices: uniforms bit
// for bit (integer hash, then double arithmetic in the host's order), normals
// to the last bit of float32 (the device's log and cos are not the host's libm).
BOOST_AUTO_TEST_CASE(random_numbers_are_device_independent) {
  Generator cpu_gen(5), gpu_gen(5);
  for (int64_t n : {1, 7, 1001, 100000}) {
    BOOST_TEST_CONTEXT("n " << n) {
      const auto uc = rand_uniform({n}, -0.3, 0.7, cpu_gen).to_vector<float>();
      const auto ug = rand_uniform({n}, -0.3, 0.7, gpu_gen, DType::Float32, Device::CUDA).to(Device::CPU).to_vector<float>();
      BOOST_CHECK(uc == ug);
      const auto nc = values(randn({n}, cpu_gen)), ng = values(randn({n}, gpu_gen, DType::Float32, Device::CUDA));
      DIFFERNET_CHECK_CLOSE_VECTORS(ng, nc, 1e-6, 1e-6);
    }
  }
}

// Caching: a freed block serves the next request of its size. Exact mode
// (DIFFERNET_CUDA_ALLOC_EXACT=1, for compute-sanitizer and the emulated tests):
// every request is its own cudaMalloc of exactly its size, nothing is kept.
BOOST_AUTO_TEST_CASE(caching_allocator_reuses_blocks_unless_exact) {
#if DIFFERNET_WITH_CUDA
  const char* env = std::getenv("DIFFERNET_CUDA_ALLOC_EXACT");
  const bool exact = env != nullptr && std::string(env) == "1";
  BOOST_CHECK_EQUAL(cuda::exact_allocation(), exact);
  { Tensor warm = Tensor::empty({1 << 20}, DType::Float32, Device::CUDA); }
  const auto before = cuda::allocator_stats();
  for (int i = 0; i < 10; ++i) {
    Tensor t = Tensor::empty({(1 << 20) + 3}, DType::Float32, Device::CUDA);
    if (exact) BOOST_CHECK_EQUAL(cuda::allocator_stats().bytes_in_use, before.bytes_in_use + 4 * ((1 << 20) + 3));
  }
  { Tensor warm = Tensor::empty({(1 << 20) + 3}, DType::Float32, Device::CUDA); }
  const auto after = cuda::allocator_stats();
  BOOST_CHECK_EQUAL(after.cuda_malloc_calls - before.cuda_malloc_calls, exact ? 11 : 1);
  if (exact) BOOST_CHECK_EQUAL(after.bytes_cached, 0u);
#endif
}

int main(int argc, char* argv[]) { return gpu_test_main(argc, argv, &init_unit_test, "CUDA parity tests"); }
