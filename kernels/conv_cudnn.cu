// CUDA convolution through cuDNN's convolution API (forward, backward-data,
// backward-filter) in float32 with FMA math by default (no TF32: the GPU
// agrees with the CPU reference to float32 rounding); with --tf32
// (kernels/profile.h) cuDNN may use TF32 tensor cores.
//
// A plan (descriptors and the algorithm of each direction) is made once per
// geometry and kept; the algorithms are the fastest cudnnFind*AlgorithmEx
// reports on the first call, with workspaces from the caching allocator.
#include <map>
#include <memory>
#include <mutex>
#include <tuple>

#include "kernels/conv.h"
#include "kernels/cuda_allocator.h"
#include "kernels/cuda_check.h"
#include "kernels/profile.h"

namespace differnet::kernels::cuda {
namespace {

// Largest workspace an algorithm may ask for.
constexpr size_t kMaxWorkspace = size_t(512) << 20;

cudnnHandle_t cudnn() {
  static cudnnHandle_t handle = [] {
    cudnnHandle_t h;
    CUDNN_CHECK(cudnnCreate(&h));
    return h;
  }();
  return handle;
}

// A workspace block from the caching allocator, given back on scope exit.
struct Workspace {
  void* ptr = nullptr;
  explicit Workspace(size_t bytes) : ptr(bytes ? differnet::cuda::device_alloc(bytes) : nullptr) {}
  ~Workspace() { differnet::cuda::device_free(ptr); }
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;
};

struct Plan {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr, bias = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  bool have_forward = false, have_data = false, have_filter = false;
  cudnnConvolutionFwdAlgo_t forward_algo{};
  cudnnConvolutionBwdDataAlgo_t data_algo{};
  cudnnConvolutionBwdFilterAlgo_t filter_algo{};
  size_t forward_bytes = 0, data_bytes = 0, filter_bytes = 0;

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
                           int64_t, bool>;

// The cached plan of this geometry (made on first use). Plans live for the process.
Plan& plan_for(const Conv2dGeometry& g) {
  static std::mutex mutex;
  static std::map<PlanKey, std::unique_ptr<Plan>> plans;
  const PlanKey key{g.batch, g.in_channels, g.in_h, g.in_w, g.out_channels, g.kernel_h, g.kernel_w,
                    g.stride_h, g.stride_w, g.pad_h, g.pad_w, allow_tf32()};
  std::lock_guard<std::mutex> lock(mutex);
  auto& slot = plans[key];
  if (!slot) slot = std::make_unique<Plan>(g, std::get<11>(key));
  return *slot;
}

// The fastest successful algorithm among `count` results (cuDNN sorts them by time)
// that needs at most kMaxWorkspace bytes.
template <class Perf>
const Perf& pick(const Perf* results, int count, const char* what) {
  for (int i = 0; i < count; ++i)
    if (results[i].status == CUDNN_STATUS_SUCCESS && results[i].memory <= kMaxWorkspace) return results[i];
  throw Error(detail::concat("cuDNN found no usable ", what, " algorithm"));
}

}  // namespace

void conv2d(const Conv2dGeometry& g, const float* x, const float* weight, const float* bias, float* y) {
  if (g.batch == 0) return;
  Plan& p = plan_for(g);
  const float one = 1.f, zero = 0.f;
  if (!p.have_forward) {
    cudnnConvolutionFwdAlgoPerf_t results[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    int count = 0;
    Workspace search(kMaxWorkspace);
    CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithmEx(cudnn(), p.x, x, p.w, weight, p.conv, p.y, y,
                                                       CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &count, results, search.ptr,
                                                       kMaxWorkspace));
    const auto& best = pick(results, count, "forward convolution");
    p.forward_algo = best.algo;
    p.forward_bytes = best.memory;
    p.have_forward = true;
  }
  Workspace ws(p.forward_bytes);
  CUDNN_CHECK(cudnnConvolutionForward(cudnn(), &one, p.x, x, p.w, weight, p.conv, p.forward_algo, ws.ptr,
                                      p.forward_bytes, &zero, p.y, y));
  if (bias) CUDNN_CHECK(cudnnAddTensor(cudnn(), &one, p.bias, bias, &one, p.y, y));
}

void conv2d_backward_input(const Conv2dGeometry& g, const float* gy, const float* weight, float* gx) {
  if (g.batch == 0) return;
  Plan& p = plan_for(g);
  const float one = 1.f, zero = 0.f;
  if (!p.have_data) {
    cudnnConvolutionBwdDataAlgoPerf_t results[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    int count = 0;
    Workspace search(kMaxWorkspace);
    CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithmEx(cudnn(), p.w, weight, p.y, gy, p.conv, p.x, gx,
                                                            CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &count, results,
                                                            search.ptr, kMaxWorkspace));
    const auto& best = pick(results, count, "backward-data convolution");
    p.data_algo = best.algo;
    p.data_bytes = best.memory;
    p.have_data = true;
  }
  Workspace ws(p.data_bytes);
  CUDNN_CHECK(cudnnConvolutionBackwardData(cudnn(), &one, p.w, weight, p.y, gy, p.conv, p.data_algo, ws.ptr,
                                           p.data_bytes, &zero, p.x, gx));
}

void conv2d_backward_weight(const Conv2dGeometry& g, const float* x, const float* gy, float* gweight, float* gbias) {
  Plan& p = plan_for(g);
  const float one = 1.f, zero = 0.f;
  if (g.batch == 0) {
    CUDA_CHECK(cudaMemsetAsync(gweight, 0, sizeof(float) * size_t(g.out_channels * g.col_rows())));
    if (gbias) CUDA_CHECK(cudaMemsetAsync(gbias, 0, sizeof(float) * size_t(g.out_channels)));
    return;
  }
  if (!p.have_filter) {
    cudnnConvolutionBwdFilterAlgoPerf_t results[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
    int count = 0;
    Workspace search(kMaxWorkspace);
    CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithmEx(cudnn(), p.x, x, p.y, gy, p.conv, p.w, gweight,
                                                              CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &count,
                                                              results, search.ptr, kMaxWorkspace));
    const auto& best = pick(results, count, "backward-filter convolution");
    p.filter_algo = best.algo;
    p.filter_bytes = best.memory;
    p.have_filter = true;
  }
  Workspace ws(p.filter_bytes);
  CUDNN_CHECK(cudnnConvolutionBackwardFilter(cudnn(), &one, p.x, x, p.y, gy, p.conv, p.filter_algo, ws.ptr,
                                             p.filter_bytes, &zero, p.w, gweight));
  if (gbias) CUDNN_CHECK(cudnnConvolutionBackwardBias(cudnn(), &one, p.y, gy, &zero, p.bias, gbias));
}

}  // namespace differnet::kernels::cuda
