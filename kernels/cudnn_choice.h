// How the cuDNN convolution picks an algorithm from what cudnnFind*AlgorithmEx
// reports (kernels/conv_cudnn.cu); a header so that the gpu tests can give it
// made-up results. Include only from CUDA code (it needs cudnn.h).
#pragma once
#include <cudnn.h>

#include <cstddef>
#include <cstdio>

#include "autograd/error.h"
#include "kernels/conv.h"
#include "kernels/profile.h"

namespace differnet::kernels::cuda {

// Largest workspace an algorithm may ask for.
constexpr size_t kMaxWorkspace = size_t(512) << 20;

// The algorithm of one direction, its workspace size and its math type.
template <class Algo>
struct Choice {
  bool ready = false;
  Algo algo{};
  size_t bytes = 0;
  cudnnMathType_t math = CUDNN_FMA_MATH;
};

// The fastest successful algorithm among `count` results (cuDNN sorts them by
// time) that needs at most kMaxWorkspace bytes and, unless cudnn_benchmark(),
// is deterministic. Logged when log_conv_algorithms() (--profile).
template <class Algo, class Perf>
inline Choice<Algo> pick_algorithm(const Perf* results, int count, const char* what, const Conv2dGeometry& g) {
  for (int i = 0; i < count; ++i) {
    const Perf& r = results[i];
    if (r.status != CUDNN_STATUS_SUCCESS || r.memory > kMaxWorkspace) continue;
    if (!cudnn_benchmark() && r.determinism != CUDNN_DETERMINISTIC) continue;
    if (log_conv_algorithms())
      std::fprintf(stderr, "cuDNN %s %lldx%lldx%lldx%lld -> %lld (k%lld s%lld): algorithm %d, %.3f ms, %zu bytes, %s%s\n",
                   what, (long long)g.batch, (long long)g.in_channels, (long long)g.in_h, (long long)g.in_w,
                   (long long)g.out_channels, (long long)g.kernel_h, (long long)g.stride_h, int(r.algo), double(r.time),
                   r.memory, r.mathType == CUDNN_FMA_MATH ? "FMA math" : "tensor-op math",
                   r.determinism == CUDNN_DETERMINISTIC ? "" : ", non-deterministic");
    return {true, r.algo, r.memory, r.mathType};
  }
  throw Error(detail::concat("cuDNN found no usable ", what, " algorithm",
                             cudnn_benchmark() ? "" : " among the deterministic ones"));
}

}  // namespace differnet::kernels::cuda
