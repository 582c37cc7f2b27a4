#include "apps/common/blas_setup.h"

#include <cblas.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace differnet::app {

void use_fast_blas_kernels(int argc, char** argv) {
  (void)argc;
  if (std::getenv("OPENBLAS_CORETYPE") != nullptr) return;
  const char* core = openblas_get_corename();
  static const char* const generic[] = {"Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Atom", "Unknown"};
  bool fallback = false;
  for (const char* g : generic) fallback = fallback || (core && std::strcmp(core, g) == 0);
  if (!fallback) return;
  const char* better = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") ? "SkylakeX"
                       : __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")      ? "Haswell"
                                                                                               : nullptr;
  if (!better) return;
  std::fprintf(stderr, "(OpenBLAS chose its generic '%s' kernels on this CPU; restarting with OPENBLAS_CORETYPE=%s. "
                       "Set OPENBLAS_CORETYPE yourself to choose.)\n", core, better);
  setenv("OPENBLAS_CORETYPE", better, 1);
  execv("/proc/self/exe", argv);
  // execv failed: carry on with the slow kernels.
}

}  // namespace differnet::app
