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
std::atomic<bool> g_allow_tf32{false};
}

void set_allow_tf32(bool allow) { g_allow_tf32 = allow; }
bool allow_tf32() { return g_allow_tf32; }

}  // namespace differnet::kernels
