// cuBLAS stand-in of the SIMT emulator: cublasSgemm as the cuBLAS
// documentation defines it (column-major, op(A) m x k, op(B) k x n, leading
// dimensions, C not read when beta == 0), written independently of our CPU
// GEMM so that the CPU-vs-"GPU" parity tests compare two implementations.
// Sums are kept in double; the real library sums in float (or TF32).
#include <cublas_v2.h>

#include <algorithm>
#include <string>
#include <vector>

#include "kernels/simt/simt.h"

struct cublasContext {
  cublasMath_t math = CUBLAS_DEFAULT_MATH;
};

using namespace differnet::simt;

namespace {

bool device_operand(DeviceAccess& access, const char* name, const void* p, size_t floats) {
  std::string why;
  if (access.open(p, floats * sizeof(float), &why)) return true;
  report(std::string("cublasSgemm: operand ") + name + " (" + std::to_string(floats) + " floats) " + why);
  return false;
}

}  // namespace

cublasStatus_t cublasCreate(cublasHandle_t* handle) {
  *handle = new cublasContext();
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasDestroy(cublasHandle_t handle) {
  if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
  delete handle;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode) {
  if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (mode != CUBLAS_DEFAULT_MATH && mode != CUBLAS_TENSOR_OP_MATH && mode != CUBLAS_PEDANTIC_MATH &&
      mode != CUBLAS_TF32_TENSOR_OP_MATH)
    return CUBLAS_STATUS_INVALID_VALUE;
  handle->math = mode;  // the emulator computes in full precision whatever the mode
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSgemm(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n,
                           int k, const float* alpha, const float* A, int lda, const float* B, int ldb,
                           const float* beta, float* C, int ldc) {
  if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
  const bool ta = transa != CUBLAS_OP_N, tb = transb != CUBLAS_OP_N;
  if (m < 0 || n < 0 || k < 0 || lda < std::max(1, ta ? k : m) || ldb < std::max(1, tb ? n : k) ||
      ldc < std::max(1, m) || transa > CUBLAS_OP_C || transb > CUBLAS_OP_C) {
    report("cublasSgemm: invalid sizes or leading dimensions (m " + std::to_string(m) + ", n " + std::to_string(n) +
           ", k " + std::to_string(k) + ", lda " + std::to_string(lda) + ", ldb " + std::to_string(ldb) + ", ldc " +
           std::to_string(ldc) + ")");
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  if (m == 0 || n == 0) return CUBLAS_STATUS_SUCCESS;
  // The default pointer mode: alpha and beta are host scalars.
  if (in_device_arena(alpha) || in_device_arena(beta)) {
    report("cublasSgemm: alpha and beta must be host pointers (CUBLAS_POINTER_MODE_HOST)");
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  const double a = *alpha, b = *beta;
  const int a_rows = ta ? k : m, a_cols = ta ? m : k, b_rows = tb ? n : k, b_cols = tb ? k : n;
  DeviceAccess access;
  if ((k > 0 && (!device_operand(access, "A", A, size_t(a_cols - 1) * lda + a_rows) ||
                 !device_operand(access, "B", B, size_t(b_cols - 1) * ldb + b_rows))) ||
      !device_operand(access, "C", C, size_t(n - 1) * ldc + m))
    return CUBLAS_STATUS_EXECUTION_FAILED;
#pragma omp parallel for schedule(static)
  for (int j = 0; j < n; ++j) {
    std::vector<double> acc(size_t(m), 0.0);
    if (a != 0.0)
      for (int l = 0; l < k; ++l) {
        const double bl = tb ? B[j + size_t(l) * ldb] : B[l + size_t(j) * ldb];
        if (ta)
          for (int i = 0; i < m; ++i) acc[size_t(i)] += double(A[l + size_t(i) * lda]) * bl;
        else
          for (int i = 0; i < m; ++i) acc[size_t(i)] += double(A[i + size_t(l) * lda]) * bl;
      }
    float* c = C + size_t(j) * ldc;
    for (int i = 0; i < m; ++i)  // beta == 0: C is not read (it may hold NaN)
      c[i] = float(a * acc[size_t(i)] + (b != 0.0 ? b * double(c[i]) : 0.0));
  }
  return CUBLAS_STATUS_SUCCESS;
}
