// Checked CUDA-library calls: a failure becomes differnet::Error naming the call,
// the file and the line. Include only from .cu files or code guarded by
// DIFFERNET_WITH_CUDA.
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>
#include <curand.h>

#include <string>

#include "autograd/error.h"

namespace differnet::cuda {

[[noreturn]] void throw_cuda_error(const char* library, const std::string& what, const char* call,
                                   const char* file, int line);
const char* cublas_status_name(cublasStatus_t s);
// The product no longer calls cuRAND (random numbers are our own counter-hash
// kernel, kernels/random_math.h); CURAND_CHECK stays for the SIMT emulator's
// cuRAND tests (tests/simt/test_simt_curand.cpp) while its cuRAND stand-in does.
const char* curand_status_name(curandStatus_t s);

}  // namespace differnet::cuda

#define CUDA_CHECK(call)                                                                        \
  do {                                                                                          \
    cudaError_t err_ = (call);                                                                  \
    if (err_ != cudaSuccess) {                                                                  \
      ::differnet::cuda::throw_cuda_error("CUDA", cudaGetErrorString(err_), #call, __FILE__, __LINE__); \
    }                                                                                           \
  } while (0)

#define CUBLAS_CHECK(call)                                                                     \
  do {                                                                                         \
    cublasStatus_t st_ = (call);                                                               \
    if (st_ != CUBLAS_STATUS_SUCCESS) {                                                        \
      ::differnet::cuda::throw_cuda_error("cuBLAS", ::differnet::cuda::cublas_status_name(st_), #call, \
                                          __FILE__, __LINE__);                                 \
    }                                                                                          \
  } while (0)

#define CUDNN_CHECK(call)                                                                       \
  do {                                                                                          \
    cudnnStatus_t st_ = (call);                                                                 \
    if (st_ != CUDNN_STATUS_SUCCESS) {                                                          \
      ::differnet::cuda::throw_cuda_error("cuDNN", cudnnGetErrorString(st_), #call, __FILE__, __LINE__); \
    }                                                                                           \
  } while (0)

#define CURAND_CHECK(call)                                                                     \
  do {                                                                                         \
    curandStatus_t st_ = (call);                                                               \
    if (st_ != CURAND_STATUS_SUCCESS) {                                                        \
      ::differnet::cuda::throw_cuda_error("cuRAND", ::differnet::cuda::curand_status_name(st_), #call, \
                                          __FILE__, __LINE__);                                 \
    }                                                                                          \
  } while (0)

// After a kernel launch: launch-configuration errors surface here, with the kernel named.
#define CUDA_CHECK_LAUNCH(kernel_name)                                                         \
  do {                                                                                         \
    cudaError_t err_ = cudaGetLastError();                                                     \
    if (err_ != cudaSuccess) {                                                                 \
      ::differnet::cuda::throw_cuda_error("CUDA", cudaGetErrorString(err_), "launch of " kernel_name, \
                                          __FILE__, __LINE__);                                 \
    }                                                                                          \
  } while (0)
