// Helpers shared by the tests: random inputs, comparisons, and the
// finite-difference gradient check every differentiable op goes through.
#pragma once
#include <boost/test/unit_test.hpp>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "autograd/ops.h"
#include "autograd/random.h"
#include "autograd/tensor.h"

namespace differnet::testing {

// Uniform in [low, high), float64 on the CPU unless told otherwise.
inline Tensor random_tensor(const Shape& shape, uint64_t seed, double low = -1.0, double high = 1.0,
                            DType dtype = DType::Float64, Device device = Device::CPU) {
  Generator gen(seed);
  return rand_uniform(shape, low, high, gen, dtype, device);
}

inline std::vector<double> values(const Tensor& t) {
  Tensor c = t.to(Device::CPU);
  return c.dtype() == DType::Float64 ? c.to_vector<double>() : c.to(DType::Float64).to_vector<double>();
}

// Largest |a - b| / (atol + rtol * |b|); <= 1 means every element is within tolerance.
inline double worst_error_ratio(const std::vector<double>& a, const std::vector<double>& b, double atol, double rtol) {
  BOOST_REQUIRE_EQUAL(a.size(), b.size());
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i]) || !std::isfinite(b[i])) return INFINITY;
    worst = std::max(worst, std::abs(a[i] - b[i]) / (atol + rtol * std::abs(b[i])));
  }
  return worst;
}

#define DIFFERNET_CHECK_CLOSE_VECTORS(a, b, atol, rtol) \
  BOOST_CHECK_LE(::differnet::testing::worst_error_ratio((a), (b), (atol), (rtol)), 1.0)

// Scale-free error as in ggml's test-backend-ops: mse(a, b) / mse(b, 0).
inline double normalized_mse(const std::vector<double>& a, const std::vector<double>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    num += (a[i] - b[i]) * (a[i] - b[i]);
    den += b[i] * b[i];
  }
  return den > 0 ? num / den : num;
}

// Runs f and checks that it throws a differnet::Error whose message contains `part`.
template <class F>
void expect_error(F f, const std::string& part) {
  try {
    f();
    BOOST_ERROR("no error; expected one containing: " << part);
  } catch (const differnet::Error& e) {
    BOOST_CHECK_MESSAGE(std::string(e.what()).find(part) != std::string::npos,
                        "message: " << e.what() << " lacks: " << part);
  }
}

// Central finite-difference check in float64: compares d(sum(f(x) * w))/dx for
// fixed random weights w (so every output element matters) with the gradient
// backward() computes, for every element of every input.
inline void gradcheck(const std::string& what, const std::function<Tensor(const std::vector<Tensor>&)>& f,
                      std::vector<Tensor> inputs, double eps = 1e-6, double atol = 1e-7, double rtol = 1e-5) {
  BOOST_TEST_CONTEXT("gradcheck of " << what) {
    for (Tensor& x : inputs) {
      BOOST_REQUIRE(x.dtype() == DType::Float64);
      x = x.clone();
      x.set_requires_grad(true);
    }
    const Tensor probe = f(inputs);
    const Tensor w = random_tensor(probe.shape(), 777, -1.0, 1.0);
    auto loss = [&](const std::vector<Tensor>& xs) { return sum(mul(f(xs), w)); };
    loss(inputs).backward();
    for (size_t k = 0; k < inputs.size(); ++k) {
      std::vector<double> analytic = values(inputs[k].grad());
      std::vector<double> numeric(analytic.size());
      double* data = inputs[k].data<double>();
      for (size_t i = 0; i < numeric.size(); ++i) {
        const double saved = data[i];
        data[i] = saved + eps;
        const double up = loss(inputs).item();
        data[i] = saved - eps;
        const double down = loss(inputs).item();
        data[i] = saved;
        numeric[i] = (up - down) / (2 * eps);
      }
      BOOST_TEST_CONTEXT("input " << k << " " << inputs[k].describe()) {
        DIFFERNET_CHECK_CLOSE_VECTORS(analytic, numeric, atol, rtol);
      }
    }
  }
}

// Runs a shell command with stderr folded into stdout: its exit status (-1 when
// it did not exit normally) and everything it printed.
struct CommandResult {
  int status;
  std::string output;
};
inline CommandResult run_command(const std::string& command) {
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  BOOST_REQUIRE(p != nullptr);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

// The main() of the `gpu`-labelled tests: without a usable CUDA device they
// report "skipped" (exit code 77, CTest's SKIP_RETURN_CODE), or, with
// DIFFERNET_REQUIRE_GPU=1 (scripts/gpu_check.sh), fail naming the CUDA error,
// so that a GPU check cannot pass without running them.
inline int gpu_test_main(int argc, char* argv[], bool (*init)(), const char* what) {
  if (!cuda_available()) {
    const char* require = std::getenv("DIFFERNET_REQUIRE_GPU");
    if (require != nullptr && std::string(require) == "1") {
      std::printf("FAILED: DIFFERNET_REQUIRE_GPU=1 but the %s cannot run: %s\n", what, cuda_unavailable_reason().c_str());
      return 1;
    }
    std::printf("SKIPPED: the %s need a CUDA device: %s\n", what, cuda_unavailable_reason().c_str());
    return 77;
  }
  return boost::unit_test::unit_test_main(init, argc, argv);
}

}  // namespace differnet::testing
