#include "kernels/profile.h"

#include <atomic>

#if DIFFERNET_WITH_CUDA
#include <nvtx3/nvToolsExt.h>
#endif

namespace differnet::kernels {

ProfileRange::ProfileRange(const char* name) {
#if DIFFERNET_WITH_CUDA
  nvtxRangePushA(name);
#else
  (void)name;
#endif
}

ProfileRange::~ProfileRange() {
#if DIFFERNET_WITH_CUDA
  nvtxRangePop();
#endif
}

namespace {
std::atomic<bool> g_allow_tf32{false}, g_cudnn_benchmark{false}, g_log_conv_algorithms{false};
}

void set_allow_tf32(bool allow) { g_allow_tf32 = allow; }
bool allow_tf32() { return g_allow_tf32; }
void set_cudnn_benchmark(bool all_algorithms) { g_cudnn_benchmark = all_algorithms; }
bool cudnn_benchmark() { return g_cudnn_benchmark; }
void set_log_conv_algorithms(bool log) { g_log_conv_algorithms = log; }
bool log_conv_algorithms() { return g_log_conv_algorithms; }

}  // namespace differnet::kernels
