#include "apps/common/blas_setup.h"

#include <cblas.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace differnet::app {

namespace {
// OpenBLAS's generic fallback kernels on this CPU, or nullptr when it detected the CPU.
const char* better_coretype() {
  const char* core = openblas_get_corename();
  static const char* const generic[] = {"Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Atom", "Unknown"};
  bool fallback = false;
  for (const char* g : generic) fallback = fallback || (core && std::strcmp(core, g) == 0);
  if (!fallback) return nullptr;
  const char* better = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") ? "SkylakeX"
                       : __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")      ? "Haswell"
                                                                                               : nullptr;
  if (better)
    std::fprintf(stderr, "(OpenBLAS chose its generic '%s' kernels on this CPU; restarting with OPENBLAS_CORETYPE=%s. "
                         "Set OPENBLAS_CORETYPE yourself to choose.)\n", core, better);
  return better;
}
}  // namespace

void use_fast_blas_kernels(int argc, char** argv) {
  (void)argc;
  bool restart = false;
  if (std::getenv("OPENBLAS_CORETYPE") == nullptr) {
    if (const char* better = better_coretype()) {
      setenv("OPENBLAS_CORETYPE", better, 1);
      restart = true;
    }
  }
  if (std::getenv("OMP_WAIT_POLICY") == nullptr) {
    setenv("OMP_WAIT_POLICY", "passive", 1);
    restart = true;
  }
  if (restart) execv("/proc/self/exe", argv);
  // No restart needed, or execv failed: carry on as we are.
}

}  // namespace differnet::app
