// CUDA convolution through cuDNN's convolution API (forward, backward-data,
// backward-filter) in float32 with FMA math by default (no TF32: the GPU
// agrees with the CPU reference to float32 rounding); with --tf32
// (kernels/profile.h) cuDNN may use TF32 tensor cores.
//
// A plan (descriptors and the algorithm of each direction) is made once per
// geometry and kept; the algorithm of a direction is the fastest that
// cudnnFind*AlgorithmEx reports on its first call among the deterministic ones
// (CUDNN_DETERMINISTIC: no atomics, the same result on every run), or among all
// with set_cudnn_benchmark(true) (--cudnn-benchmark); it runs with the math type
// Find timed it with. Workspaces come from the caching allocator.
#include <map>
#include <memory>
#include <mutex>
#include <tuple>

#include "kernels/conv.h"
#include "kernels/cudnn_choice.h"
#include "kernels/cuda_allocator.h"
#include "kernels/cuda_check.h"
#include "kernels/profile.h"

namespace differnet::kernels::cuda {
namespace {


cudnnHandle_t cudnn() {
  static cudnnHandle_t handle = [] {
    cudnnHandle_t h;
    CUDNN_CHECK(cudnnCreate(&h));
    return h;
  }();
  return handle;
}

using Workspace = differnet::cuda::DeviceBuffer;

struct Plan {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr, bias = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  // Held while a direction's algorithm is found and while the descriptor's math
  // type is set and used: plans are shared between threads.
  std::mutex mutex;
  Choice<cudnnConvolutionFwdAlgo_t> forward;
  Choice<cudnnConvolutionBwdDataAlgo_t> data;
  Choice<cudnnConvolutionBwdFilterAlgo_t> filter;

  Plan(const Conv2dGeometry& g, bool tf32) {
    CUDNN_CHECK(cudnnCreateTensorDescriptor(&x));
    CUDNN_CHECK(cudnnCreateTensorDescriptor(&y));
    CUDNN_CHECK(cudnnCreateTensorDescriptor(&bias));
    CUDNN_CHECK(cudnnCreateFilterDescriptor(&w));
    CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&conv));
    CUDNN_CHECK(cudnnSetTensor4dDescriptor(x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, int(g.batch), int(g.in_channels),
                                           int(g.in_h), int(g.in_w)));
    CUDNN_CHECK(cudnnSetTensor4dDescriptor(y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, int(g.batch), int(g.out_channels),
                                           int(g.out_h), int(g.out_w)));
    CUDNN_CHECK(cudnnSetTensor4dDescriptor(bias, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, int(g.out_channels), 1, 1));
    CUDNN_CHECK(cudnnSetFilter4dDescriptor(w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, int(g.out_channels),
                                           int(g.in_channels), int(g.kernel_h), int(g.kernel_w)));
    CUDNN_CHECK(cudnnSetConvolution2dDescriptor(conv, int(g.pad_h), int(g.pad_w), int(g.stride_h), int(g.stride_w), 1,
                                                1, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    CUDNN_CHECK(cudnnSetConvolutionMathType(conv, tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH));
  }
  ~Plan() {
    cudnnDestroyTensorDescriptor(x);
    cudnnDestroyTensorDescriptor(y);
    cudnnDestroyTensorDescriptor(bias);
    cudnnDestroyFilterDescriptor(w);
    cudnnDestroyConvolutionDescriptor(conv);
  }
  Plan(const Plan&) = delete;
  Plan& operator=(const Plan&) = delete;
};

using PlanKey = std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                           int64_t, bool, bool>;

// The cached plan of this geometry (made on first use). Plans live for the process.
Plan& plan_for(const Conv2dGeometry& g) {
  static std::mutex mutex;
  static std::map<PlanKey, std::unique_ptr<Plan>> plans;
  const PlanKey key{g.batch, g.in_channels, g.in_h, g.in_w, g.out_channels, g.kernel_h, g.kernel_w,
                    g.stride_h, g.stride_w, g.pad_h, g.pad_w, allow_tf32(), cudnn_benchmark()};
  std::lock_guard<std::mutex> lock(mutex);
  auto& slot = plans[key];
  if (!slot) slot = std::make_unique<Plan>(g, std::get<11>(key));
  return *slot;
}

}  // namespace

void conv2d(const Conv2dGeometry& g, const float* x, const float* weight, const float* bias, float* y) {
  if (g.batch == 0) return;
  Plan& p = plan_for(g);
  const float one = 1.f, zero = 0.f;
  std::lock_guard<std::mutex> lock(p.mutex);
  if (!p.forward.ready) {
    cudnnConvolutionFwdAlgoPerf_t results[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    int count = 0;
    Workspace search(kMaxWorkspace);
    CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithmEx(cudnn(), p.x, x, p.w, weight, p.conv, p.y, y,
                                                       CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &count, results, search.ptr,
                                                       kMaxWorkspace));
    p.forward = pick_algorithm<cudnnConvolutionFwdAlgo_t>(results, count, "forward convolution", g);
  }
  Workspace ws(p.forward.bytes);
  CUDNN_CHECK(cudnnSetConvolutionMathType(p.conv, p.forward.math));
  CUDNN_CHECK(cudnnConvolutionForward(cudnn(), &one, p.x, x, p.w, weight, p.conv, p.forward.algo, ws.ptr,
                                      p.forward.bytes, &zero, p.y, y));
  if (bias) CUDNN_CHECK(cudnnAddTensor(cudnn(), &one, p.bias, bias, &one, p.y, y));
}

void conv2d_backward_input(const Conv2dGeometry& g, const float* gy, const float* weight, float* gx) {
  if (g.batch == 0) return;
  Plan& p = plan_for(g);
  const float one = 1.f, zero = 0.f;
  std::lock_guard<std::mutex> lock(p.mutex);
  if (!p.data.ready) {
    cudnnConvolutionBwdDataAlgoPerf_t results[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    int count = 0;
    Workspace search(kMaxWorkspace);
    CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithmEx(cudnn(), p.w, weight, p.y, gy, p.conv, p.x, gx,
                                                            CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &count, results,
                                                            search.ptr, kMaxWorkspace));
    p.data = pick_algorithm<cudnnConvolutionBwdDataAlgo_t>(results, count, "backward-data convolution", g);
  }
  Workspace ws(p.data.bytes);
  CUDNN_CHECK(cudnnSetConvolutionMathType(p.conv, p.data.math));
  CUDNN_CHECK(cudnnConvolutionBackwardData(cudnn(), &one, p.w, weight, p.y, gy, p.conv, p.data.algo, ws.ptr,
                                           p.data.bytes, &zero, p.x, gx));
}

void conv2d_backward_weight(const Conv2dGeometry& g, const float* x, const float* gy, float* gweight, float* gbias) {
  if (g.batch == 0) {  // before plan_for: cuDNN refuses a descriptor with n = 0 (CUDNN_STATUS_BAD_PARAM)
    CUDA_CHECK(cudaMemsetAsync(gweight, 0, sizeof(float) * size_t(g.out_channels * g.col_rows())));
    if (gbias) CUDA_CHECK(cudaMemsetAsync(gbias, 0, sizeof(float) * size_t(g.out_channels)));
    return;
  }
  Plan& p = plan_for(g);
  const float one = 1.f, zero = 0.f;
  std::lock_guard<std::mutex> lock(p.mutex);
  if (!p.filter.ready) {
    cudnnConvolutionBwdFilterAlgoPerf_t results[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
    int count = 0;
    Workspace search(kMaxWorkspace);
    CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithmEx(cudnn(), p.x, x, p.y, gy, p.conv, p.w, gweight,
                                                              CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &count,
                                                              results, search.ptr, kMaxWorkspace));
    p.filter = pick_algorithm<cudnnConvolutionBwdFilterAlgo_t>(results, count, "backward-filter convolution", g);
  }
  Workspace ws(p.filter.bytes);
  CUDNN_CHECK(cudnnSetConvolutionMathType(p.conv, p.filter.math));
  CUDNN_CHECK(cudnnConvolutionBackwardFilter(cudnn(), &one, p.x, x, p.y, gy, p.conv, p.filter.algo, ws.ptr,
                                             p.filter.bytes, &zero, p.w, gweight));
  if (gbias) CUDNN_CHECK(cudnnConvolutionBackwardBias(cudnn(), &one, p.y, gy, &zero, p.bias, gbias));
}

}  // namespace differnet::kernels::cuda
