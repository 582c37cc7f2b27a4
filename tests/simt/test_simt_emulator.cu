// The SIMT emulator's bug detectors, each shown firing on a deliberately
// broken kernel or call (docs/core.md, "The SIMT emulator"). Compiled only in
// the emulation build (DIFFERNET_CUDA=EMULATE), as C++ with the emulator's prelude.
#define BOOST_TEST_MODULE simt_emulator
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/cuda_allocator.h"
#include "kernels/cuda_check.h"
#include "kernels/cuda_launch.h"
#include "tests/test_support.h"

using namespace differnet;
using differnet::kernels::cuda::launch;

namespace {

constexpr int kThreads = 128;

// A block sum through shared memory; `synced` false drops the barriers, the bug
// a thread schedule exposes.
__global__ void block_sum_kernel(const float* x, float* out, bool synced) {
  __shared__ float partial[kThreads];
  partial[threadIdx.x] = x[blockIdx.x * blockDim.x + threadIdx.x];
  if (synced) __syncthreads();
  for (int s = kThreads / 2; s > 0; s /= 2) {
    if (int(threadIdx.x) < s) partial[threadIdx.x] += partial[threadIdx.x + s];
    if (synced) __syncthreads();
  }
  if (threadIdx.x == 0) out[blockIdx.x] = partial[0];
}

// Threads below `leave` return before the barrier the others wait at.
__global__ void early_exit_kernel(float* out, int leave) {
  if (int(threadIdx.x) < leave) return;
  __syncthreads();
  out[threadIdx.x] = 1.f;
}

__global__ void shuffle_kernel(float* out, unsigned mask) {
  const float v = __shfl_down_sync(mask, float(threadIdx.x), 1);
  out[threadIdx.x] = v;
}

__global__ void ballot_kernel(unsigned* out) { out[threadIdx.x] = __ballot_sync(0xffffffffu, threadIdx.x % 3 == 0); }

// __shared__ in a device helper; block 0 writes it, every block reads it.
__device__ float* helper_storage() {
  __shared__ float slot[1];
  return slot;
}
__global__ void stale_shared_kernel(float* out) {
  float* slot = helper_storage();
  if (blockIdx.x == 0 && threadIdx.x == 0) slot[0] = 42.f;
  __syncthreads();
  if (threadIdx.x == 0) out[blockIdx.x] = slot[0];
}

__global__ void count_kernel(unsigned long long* counter) { atomicAdd(counter, 1ull); }

__global__ void write_kernel(float* out, int n) {
  for (int i = int(blockIdx.x * blockDim.x + threadIdx.x); i < n; i += int(gridDim.x * blockDim.x)) out[i] = float(i);
}

float* device_floats(size_t n) { return static_cast<float*>(cuda::device_alloc(n * sizeof(float))); }

std::vector<float> to_host(const float* d, size_t n) {
  std::vector<float> h(n);
  CUDA_CHECK(cudaMemcpy(h.data(), d, n * sizeof(float), cudaMemcpyDeviceToHost));
  return h;
}

float run_block_sum(bool synced, const std::string& schedule) {
  simt::set_schedule(schedule);
  std::vector<float> host(kThreads);
  for (int i = 0; i < kThreads; ++i) host[size_t(i)] = float(i + 1);
  float* x = device_floats(kThreads);
  float* out = device_floats(1);
  CUDA_CHECK(cudaMemcpy(x, host.data(), sizeof(float) * kThreads, cudaMemcpyHostToDevice));
  launch(block_sum_kernel, 1, kThreads)(x, out, synced);
  CUDA_CHECK_LAUNCH("block_sum_kernel");
  const float r = to_host(out, 1)[0];
  cuda::device_free(x);
  cuda::device_free(out);
  simt::set_schedule("forward");
  return r;
}

// The message of the Error that `f` throws ("" if none).
template <class F>
std::string error_of(F f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string& s, const std::string& part) {
  const bool found = s.find(part) != std::string::npos;
  if (!found) BOOST_TEST_MESSAGE("'" << part << "' not in: " << s);
  return found;
}

}  // namespace

BOOST_AUTO_TEST_CASE(schedules_expose_a_missing_syncthreads) {
  const float exact = kThreads * (kThreads + 1) / 2.f;
  for (const char* schedule : {"forward", "reverse", "random:1", "random:2"})
    BOOST_TEST_CONTEXT(schedule) { BOOST_CHECK_EQUAL(run_block_sum(true, schedule), exact); }
  // Without the barriers, thread 0 runs first under `forward` and reads
  // partial[64] before thread 64 wrote it: the NaN poison shows.
  BOOST_CHECK(std::isnan(run_block_sum(false, "forward")));
  BOOST_CHECK_NE(run_block_sum(false, "random:3"), exact);
}

BOOST_AUTO_TEST_CASE(divergent_barrier_fails_the_launch) {
  float* out = device_floats(kThreads);
  // Threads 0..31 leave: the others wait at __syncthreads in vain.
  for (bool fast : {true, false}) {
    simt::set_fast_path(fast);
    const std::string msg = error_of([&] {
      launch(early_exit_kernel, 1, kThreads)(out, 32);
      CUDA_CHECK_LAUNCH("early_exit_kernel");
    });
    BOOST_TEST_CONTEXT("fast path " << fast) {
      BOOST_CHECK(contains(msg, "divergent barrier"));
      BOOST_CHECK(contains(msg, "launch of early_exit_kernel"));
      BOOST_CHECK(contains(msg, "test_simt_emulator.cu:"));
    }
  }
  simt::set_fast_path(true);
  // The reverse schedule runs thread 127 first, which waits: the barrier is found on the fibers.
  simt::set_schedule("reverse");
  BOOST_CHECK(contains(error_of([&] {
                         launch(early_exit_kernel, 1, kThreads)(out, 32);
                         CUDA_CHECK_LAUNCH("early_exit_kernel");
                       }),
                       "ended without reaching it"));
  simt::set_schedule("forward");
  // Every thread reaches it: fine.
  launch(early_exit_kernel, 1, kThreads)(out, 0);
  CUDA_CHECK_LAUNCH("early_exit_kernel");
  BOOST_CHECK_EQUAL(cudaGetLastError(), cudaSuccess);
  cuda::device_free(out);
}

BOOST_AUTO_TEST_CASE(warp_shuffles_ballots_and_their_masks) {
  float* out = device_floats(64);
  launch(shuffle_kernel, 1, 64)(out, 0xffffffffu);
  CUDA_CHECK_LAUNCH("shuffle_kernel");
  const std::vector<float> v = to_host(out, 64);
  for (int i = 0; i < 64; ++i) BOOST_CHECK_EQUAL(v[size_t(i)], float(i % 32 == 31 ? i : i + 1));
  // A block of 16 threads: lanes 16..31 of the full mask do not exist.
  BOOST_CHECK(contains(error_of([&] {
                         launch(shuffle_kernel, 1, 16)(out, 0xffffffffu);
                         CUDA_CHECK_LAUNCH("shuffle_kernel");
                       }),
                       "names lane 16, but its warp has 16 threads"));
  // A mask that leaves out the lane a thread reads from.
  BOOST_CHECK(contains(error_of([&] {
                         launch(shuffle_kernel, 1, 16)(out, 0xffffu & ~2u);
                         CUDA_CHECK_LAUNCH("shuffle_kernel");
                       }),
                       "does not name its own lane"));
  unsigned* ballots = static_cast<unsigned*>(cuda::device_alloc(32 * sizeof(unsigned)));
  launch(ballot_kernel, 1, 32)(ballots);
  CUDA_CHECK_LAUNCH("ballot_kernel");
  std::vector<unsigned> b(32);
  CUDA_CHECK(cudaMemcpy(b.data(), ballots, sizeof(unsigned) * 32, cudaMemcpyDeviceToHost));
  unsigned expected = 0;
  for (int l = 0; l < 32; l += 3) expected |= 1u << l;
  BOOST_CHECK_EQUAL(b[5], expected);
  cuda::device_free(ballots);
  cuda::device_free(out);
}

BOOST_AUTO_TEST_CASE(shared_memory_is_per_block_and_poisoned) {
  float* out = device_floats(3);
  launch(stale_shared_kernel, 3, 32)(out);
  CUDA_CHECK_LAUNCH("stale_shared_kernel");
  const std::vector<float> v = to_host(out, 3);
  BOOST_CHECK_EQUAL(v[0], 42.f);
  BOOST_CHECK(std::isnan(v[1]));  // block 1 never wrote its own slot
  BOOST_CHECK(std::isnan(v[2]));
  cuda::device_free(out);
}

BOOST_AUTO_TEST_CASE(atomics_count_every_thread) {
  auto* counter = static_cast<unsigned long long*>(cuda::device_alloc(sizeof(unsigned long long)));
  CUDA_CHECK(cudaMemset(counter, 0, sizeof(unsigned long long)));
  launch(count_kernel, dim3(3, 2), dim3(32, 4))(counter);
  CUDA_CHECK_LAUNCH("count_kernel");
  unsigned long long n = 0;
  CUDA_CHECK(cudaMemcpy(&n, counter, sizeof n, cudaMemcpyDeviceToHost));
  BOOST_CHECK_EQUAL(n, 6u * 128u);
  cuda::device_free(counter);
}

BOOST_AUTO_TEST_CASE(launch_geometry_is_checked) {
  float* out = device_floats(16);
  for (const auto& [grid, block] : {std::pair<dim3, dim3>{1, 1025}, {1, dim3(32, 32, 2)}, {0, 32}, {dim3(1, 0), 32},
                                    {dim3(1, 65536), 32}, {1, 0}}) {
    const std::string msg = error_of([&] {
      launch(write_kernel, grid, block)(out, 16);
      CUDA_CHECK_LAUNCH("write_kernel");
    });
    BOOST_CHECK(contains(msg, "invalid configuration argument"));
  }
  BOOST_CHECK(contains(error_of([&] {
                         launch(write_kernel, 1, 32, 1024)(out, 16);
                         CUDA_CHECK_LAUNCH("write_kernel");
                       }),
                       "dynamic shared memory"));
  cuda::device_free(out);
}

BOOST_AUTO_TEST_CASE(pointer_arguments_must_be_live_device_memory) {
  std::vector<float> host(16);
  BOOST_CHECK(contains(error_of([&] {
                         launch(write_kernel, 1, 32)(host.data(), 16);
                         CUDA_CHECK_LAUNCH("write_kernel");
                       }),
                       "pointer argument 1"));
  float* freed = nullptr;
  CUDA_CHECK(cudaMalloc(&freed, 64 * sizeof(float)));
  CUDA_CHECK(cudaFree(freed));
  BOOST_CHECK(contains(error_of([&] {
                         launch(write_kernel, 1, 32)(freed, 16);
                         CUDA_CHECK_LAUNCH("write_kernel");
                       }),
                       "not inside a live device allocation"));
  BOOST_CHECK_EQUAL(cudaFree(freed), cudaErrorInvalidValue);  // freed twice
  cudaGetLastError();
}

BOOST_AUTO_TEST_CASE(fresh_device_memory_is_nan) {
  float* d = nullptr;
  CUDA_CHECK(cudaMalloc(&d, 5 * sizeof(float)));
  for (float v : to_host(d, 5)) BOOST_CHECK(std::isnan(v));
  CUDA_CHECK(cudaFree(d));
}

BOOST_AUTO_TEST_CASE(copies_check_direction_and_bounds) {
  float* d = nullptr;
  CUDA_CHECK(cudaMalloc(&d, 8 * sizeof(float)));
  std::vector<float> h(16, 1.f);
  const std::string direction = error_of([&] { CUDA_CHECK(cudaMemcpy(d, h.data(), 32, cudaMemcpyDeviceToHost)); });
  BOOST_CHECK(contains(direction, "the destination"));
  BOOST_CHECK(contains(direction, "is device memory"));
  BOOST_CHECK(contains(direction, "cudaMemcpy(d, h.data(), 32, cudaMemcpyDeviceToHost)"));  // CUDA_CHECK names the call
  BOOST_CHECK(contains(error_of([&] { CUDA_CHECK(cudaMemcpy(d, h.data(), 64, cudaMemcpyHostToDevice)); }),
                       "runs past the end of its 256-byte allocation") ==
              false);  // 64 bytes fit the 256-byte rounded block
  BOOST_CHECK(contains(error_of([&] { CUDA_CHECK(cudaMemcpy(d + 60, h.data(), 64, cudaMemcpyHostToDevice)); }),
                       "runs past the end"));
  BOOST_CHECK(contains(error_of([&] { CUDA_CHECK(cudaMemsetAsync(d + 1, 0, 256)); }), "runs past the end"));
  BOOST_CHECK(contains(error_of([&] { CUDA_CHECK(cudaMemcpy(h.data(), h.data() + 8, 16, cudaMemcpyDeviceToDevice)); }),
                       "is host memory"));
  BOOST_CHECK(contains(error_of([&] {
                         CUDA_CHECK(cudaMemcpy2DAsync(d, 16, h.data(), 16, 16, 17, cudaMemcpyHostToDevice, 0));
                       }),
                       "runs past the end"));
  CUDA_CHECK(cudaFree(d));
}

BOOST_AUTO_TEST_CASE(library_calls_check_their_operands) {
  cublasHandle_t handle;
  BOOST_REQUIRE_EQUAL(cublasCreate(&handle), CUBLAS_STATUS_SUCCESS);
  float* a = device_floats(4);
  std::vector<float> host_b(4, 1.f);
  const float one = 1.f, zero = 0.f;
  BOOST_CHECK_EQUAL(cublasSgemm(handle, CUBLAS_OP_N, CUBLAS_OP_N, 2, 2, 2, &one, a, 2, host_b.data(), 2, &zero, a, 2),
                    CUBLAS_STATUS_EXECUTION_FAILED);
  BOOST_CHECK_EQUAL(cublasSgemm(handle, CUBLAS_OP_N, CUBLAS_OP_N, 2, 2, 2, &one, a, 1, a, 2, &zero, a, 2),
                    CUBLAS_STATUS_INVALID_VALUE);  // lda < m
  cublasDestroy(handle);

  // cuDNN: the algorithm Find reports needs a workspace; passing less, or host memory, is an error.
  cudnnHandle_t dnn;
  BOOST_REQUIRE_EQUAL(cudnnCreate(&dnn), CUDNN_STATUS_SUCCESS);
  cudnnTensorDescriptor_t xd, yd;
  cudnnFilterDescriptor_t wd;
  cudnnConvolutionDescriptor_t cd;
  cudnnCreateTensorDescriptor(&xd);
  cudnnCreateTensorDescriptor(&yd);
  cudnnCreateFilterDescriptor(&wd);
  cudnnCreateConvolutionDescriptor(&cd);
  cudnnSetTensor4dDescriptor(xd, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, 1, 4, 4);
  cudnnSetTensor4dDescriptor(yd, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, 1, 2, 2);
  cudnnSetFilter4dDescriptor(wd, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, 1, 1, 3, 3);
  cudnnSetConvolution2dDescriptor(cd, 0, 0, 1, 1, 1, 1, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT);
  float *x = device_floats(16), *w = device_floats(9), *y = device_floats(4), *ws = device_floats(1024);
  cudnnConvolutionFwdAlgoPerf_t perf[2];
  int count = 0;
  BOOST_REQUIRE_EQUAL(cudnnFindConvolutionForwardAlgorithmEx(dnn, xd, x, wd, w, cd, yd, y, 2, &count, perf, ws, 4096),
                      CUDNN_STATUS_SUCCESS);
  BOOST_REQUIRE_EQUAL(count, 2);
  BOOST_CHECK_GT(perf[0].memory, 0u);
  BOOST_CHECK_EQUAL(cudnnConvolutionForward(dnn, &one, xd, x, wd, w, cd, perf[0].algo, ws, perf[0].memory - 4, &zero,
                                            yd, y),
                    CUDNN_STATUS_BAD_PARAM);
  std::vector<float> host_ws(1024);
  BOOST_CHECK_EQUAL(cudnnConvolutionForward(dnn, &one, xd, x, wd, w, cd, perf[0].algo, host_ws.data(), perf[0].memory,
                                            &zero, yd, y),
                    CUDNN_STATUS_EXECUTION_FAILED);
  BOOST_CHECK_EQUAL(cudnnConvolutionForward(dnn, &one, xd, x, wd, w, cd, perf[0].algo, ws, perf[0].memory, &zero, yd, y),
                    CUDNN_STATUS_SUCCESS);
  for (float* p : {x, w, y, ws}) cuda::device_free(p);
  cudnnDestroyTensorDescriptor(xd);
  cudnnDestroyTensorDescriptor(yd);
  cudnnDestroyFilterDescriptor(wd);
  cudnnDestroyConvolutionDescriptor(cd);
  cudnnDestroy(dnn);
  cuda::device_free(a);
}

// Host code reading device memory dies with a message naming it; the test
// runs this program again to watch it happen (the --touch-device-memory mode below).
BOOST_AUTO_TEST_CASE(host_access_to_device_memory_is_reported) {
  const auto [status, output] = testing::run_command("/proc/" + std::to_string(getpid()) + "/exe -- --touch-device-memory");
  BOOST_TEST_MESSAGE(output);
  BOOST_CHECK_NE(status, 0);
  BOOST_CHECK(contains(output, "host code accessed device memory"));
  BOOST_CHECK(!contains(output, "the host read"));
}

// The deliberate bug of the test above: a host read of a device pointer.
struct TouchDeviceMemory {
  TouchDeviceMemory() {
    const auto& args = boost::unit_test::framework::master_test_suite();
    if (args.argc > 1 && std::strcmp(args.argv[1], "--touch-device-memory") == 0) {
      float* d = device_floats(4);
      std::printf("the host read %f\n", double(*static_cast<volatile float*>(d)));
      std::exit(0);
    }
  }
};
BOOST_TEST_GLOBAL_FIXTURE(TouchDeviceMemory);
