// Debian's OpenBLAS 0.3.21 does not recognise recent Xeons and falls back to
// its SSE3 ("Prescott") kernels, 4x slower than the AVX-512 ones on the same
// CPU. OpenBLAS reads OPENBLAS_CORETYPE only when it loads, so a program that
// wants the fast kernels must set it before it starts: this re-executes the
// program once with OPENBLAS_CORETYPE set to the best kernel family the CPU
// supports (SkylakeX with AVX-512, Haswell with AVX2), and says so on stderr.
// It does nothing when the variable is already set (the user's choice wins)
// or OpenBLAS detected the CPU.
//
// It also sets OMP_WAIT_POLICY=passive (unless set), which libgomp likewise
// reads only when it loads: OpenMP threads that wait at a barrier sleep
// instead of spinning. On a machine shared with other processes a spinning
// thread burns the time slices of the thread it waits for (the flow's training
// step here, 2 cores and ~8 runnable processes: median 4.3 s spinning, 2.5 s
// passive; docs/performance.md). One restart does both.
#pragma once

namespace differnet::app {

void use_fast_blas_kernels(int argc, char** argv);

}  // namespace differnet::app
