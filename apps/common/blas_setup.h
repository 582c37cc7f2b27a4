// Debian's OpenBLAS 0.3.21 does not recognise recent Xeons and falls back to
// its SSE3 ("Prescott") kernels, 4x slower than the AVX-512 ones on the same
// CPU. OpenBLAS reads OPENBLAS_CORETYPE only when it loads, so a program that
// wants the fast kernels must set it before it starts: this re-executes the
// program once with OPENBLAS_CORETYPE set to the best kernel family the CPU
// supports (SkylakeX with AVX-512, Haswell with AVX2), and says so on stderr.
// It does nothing when the variable is already set (the user's choice wins)
// or OpenBLAS detected the CPU.
#pragma once

namespace differnet::app {

void use_fast_blas_kernels(int argc, char** argv);

}  // namespace differnet::app
