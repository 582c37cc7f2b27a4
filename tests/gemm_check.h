// The check both GEMM suites share (test_conv_ops: kernels/sgemm_avx512.h,
// test_ops: kernels/sgemm_skinny.h): one product on random float matrices
// whose row strides are wider than the matrices, against a double-precision loop.
#pragma once
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "kernels/sgemm_avx512.h"

namespace differnet::testing {

// Runs gemm(trans_a, trans_b, m, n, k, a, lda, b, ldb, c, ldc, accumulate,
// epilogue) in `mode` (0: C = AB, 1: C += AB, 2: = then bias, 3: += then bias
// and ReLU), requires the padding between C's rows to be left alone, and
// returns the largest error against the double loop, scaled by 1 + sqrt(k).
// C starts on a 64-byte line and its rows are n + c_pad floats apart (a
// c_pad that makes that a multiple of 16 puts every row on a line).
template <class Gemm>
double gemm_error(Gemm&& gemm, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, int mode,
                  int64_t c_pad = 2) {
  const bool accumulate = mode % 2 == 1, bias = mode >= 2, relu = mode == 3;
  const int64_t lda = (trans_a ? m : k) + 3, ldb = (trans_b ? k : n) + 5, ldc = n + c_pad;
  std::mt19937 rng(uint32_t(m * 7 + n * 13 + k));
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> a(size_t((trans_a ? k : m) * lda + 1)), b(size_t((trans_b ? n : k) * ldb + 1)),
      c_storage(static_cast<size_t>(m * ldc + 16)), bias_values(static_cast<size_t>(n));
  for (auto* v : {&a, &b, &c_storage, &bias_values})
    for (float& e : *v) e = u(rng);
  float* c = c_storage.data() + (64 - reinterpret_cast<uintptr_t>(c_storage.data()) % 64) % 64 / sizeof(float);
  const std::vector<float> c0(c, c + m * ldc);
  kernels::cpu::GemmEpilogue epilogue;
  epilogue.bias = bias ? bias_values.data() : nullptr;
  epilogue.relu = relu;
  gemm(trans_a, trans_b, m, n, k, a.data(), lda, b.data(), ldb, c, ldc, accumulate,
       bias || relu ? &epilogue : nullptr);
  double worst = 0;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < ldc; ++j) {
      const size_t at = size_t(i * ldc + j);
      if (j >= n) {  // the padding between rows is left alone
        BOOST_REQUIRE_EQUAL(c[at], c0[at]);
        continue;
      }
      double ref = accumulate ? double(c0[at]) : 0.0;
      for (int64_t p = 0; p < k; ++p)
        ref += double(trans_a ? a[size_t(p * lda + i)] : a[size_t(i * lda + p)]) *
               double(trans_b ? b[size_t(j * ldb + p)] : b[size_t(p * ldb + j)]);
      if (bias) ref += double(bias_values[size_t(j)]);
      if (relu) ref = std::max(ref, 0.0);
      worst = std::max(worst, std::fabs(double(c[at]) - ref) / (1.0 + std::sqrt(double(k))));
    }
  return worst;
}

}  // namespace differnet::testing
