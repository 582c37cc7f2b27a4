#!/usr/bin/env bash
# The test command: installs what is missing, configures, builds and runs every
# test with CTest. Exits non-zero on any failure. CUDA kernels are compiled
# when nvcc is found; their tests (label `gpu`) are reported as skipped, with
# the reason, where no CUDA device exists. The `slurm` tests start their own
# one-node Slurm cluster (munged, slurmctld, slurmd; needs root, as CI runs).
# On AVX-512 CPUs the CPU kernel and flow tests run twice more: all GEMMs on
# our AVX-512 kernel, and no AVX-512 code (the path of an AVX2-only CPU;
# oneDNN then runs its AVX2 kernels). The convolution and backbone tests run
# three times more: every CPU convolution on oneDNN's direct kernels
# (DIFFERNET_CPU_CONV=onednn), on its Winograd kernels where they apply
# (=winograd), and chosen by timing (=measure); by default a fixed rule of the
# shape picks Winograd or direct. The allocator, Adam and flow tests run once
# more on transparent huge pages (DIFFERNET_HUGE_PAGES=1).
# scripts/sanitize.sh builds without oneDNN.
#
# Then the SIMT emulation build (DIFFERNET_CUDA=EMULATE, its own build folder)
# runs the same .cu files on the CPU: every `gpu` suite under two thread
# schedules (forward and random), plus the emulator's own tests (label `simt`:
# its bug detectors, cuRAND against the real library, and train_mvtec
# --device cuda against --device cpu). docs/core.md, "The SIMT emulator".
#
# Environment: BUILD_DIR (default build), JOBS (default: all cores),
#   DIFFERNET_CUDA=AUTO|ON|OFF, CUDA_ARCHS (e.g. 90; default: the CMake default list),
#   SIMT=0 skips the emulation build, SIMT_BUILD_DIR (default BUILD_DIR-simt),
#   SIMT_SEED (default 1: the random schedule random:SIMT_SEED).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
differnet_install_packages "${DIFFERNET_TEST_PACKAGES[@]}"

BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc)}
args=(-DCMAKE_BUILD_TYPE=Release -DDIFFERNET_CUDA="${DIFFERNET_CUDA:-AUTO}")
[ -n "${CUDA_ARCHS:-}" ] && args+=(-DCMAKE_CUDA_ARCHITECTURES="$CUDA_ARCHS")
cuda_args=$(differnet_cuda_args)
[ -n "$cuda_args" ] && args+=("$cuda_args")

cmake -S . -B "$BUILD_DIR" "${args[@]}"
cmake --build "$BUILD_DIR" -j "$JOBS"
(cd "$BUILD_DIR" && ctest --output-on-failure -j "$JOBS" --timeout 1800)

# The host allocator's opt-in transparent huge pages (kernels/host_allocator.h):
# the allocator's tests and the flow's, which run on those blocks.
(cd "$BUILD_DIR" && DIFFERNET_HUGE_PAGES=1 ctest --output-on-failure -j "$JOBS" --timeout 1800 \
  -R '^test_(autograd|adam|flow)$')

for conv in onednn winograd measure; do
  (cd "$BUILD_DIR" && DIFFERNET_CPU_CONV=$conv ctest --output-on-failure -j "$JOBS" --timeout 1800 \
    -R '^test_(conv_ops|backbone)$')
done

# On AVX-512 CPUs: the CPU kernel and flow tests once more with every GEMM on
# our AVX-512 kernel (the choice of CPUs with full-width 512-bit units whose
# BLAS runs AVX2 kernels), and once without any of our AVX-512 code.
if grep -qw avx512f /proc/cpuinfo; then
  tests='^test_(ops|adam|autograd|conv_ops|flow|backbone)$'
  (cd "$BUILD_DIR" && DIFFERNET_FAST_GEMM=1 ctest --output-on-failure -j "$JOBS" --timeout 1800 -R "$tests")
  (cd "$BUILD_DIR" && DIFFERNET_NO_AVX512=1 ctest --output-on-failure -j "$JOBS" --timeout 1800 -R "$tests")
  (cd "$BUILD_DIR" && DIFFERNET_NO_AVX512=1 DIFFERNET_CPU_CONV=onednn ctest --output-on-failure -j "$JOBS" \
    --timeout 1800 -R '^test_(conv_ops|backbone)$')
fi

if [ "${SIMT:-1}" != 0 ]; then
  SIMT_BUILD_DIR=${SIMT_BUILD_DIR:-$BUILD_DIR-simt}
  cmake -S . -B "$SIMT_BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DDIFFERNET_CUDA=EMULATE
  cmake --build "$SIMT_BUILD_DIR" -j "$JOBS" --target gpu_tests
  cd "$SIMT_BUILD_DIR"
  start=$SECONDS
  DIFFERNET_SIMT_SCHEDULE=forward ctest --output-on-failure -j "$JOBS" --timeout 1800 -L 'gpu|simt'
  echo "SIMT emulator, schedule forward: $((SECONDS - start)) s"
  start=$SECONDS
  DIFFERNET_SIMT_SCHEDULE=random:${SIMT_SEED:-1} ctest --output-on-failure -j "$JOBS" --timeout 1800 -L gpu
  echo "SIMT emulator, schedule random:${SIMT_SEED:-1}: $((SECONDS - start)) s"
fi
