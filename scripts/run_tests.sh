#!/usr/bin/env bash
# The test command: installs what is missing, configures, builds and runs every
# test with CTest. Exits non-zero on any failure. CUDA kernels are compiled
# when nvcc is found; their tests (label `gpu`) are reported as skipped, with
# the reason, where no CUDA device exists. On AVX-512 CPUs the CPU kernel and
# flow tests run twice more: all GEMMs on our AVX-512 kernel, and no AVX-512 code.
#
# Environment: BUILD_DIR (default build), JOBS (default: all cores),
#   DIFFERNET_CUDA=AUTO|ON|OFF, CUDA_ARCHS (e.g. 90; default: the CMake default list).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
differnet_install_packages

BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc)}
args=(-DCMAKE_BUILD_TYPE=Release -DDIFFERNET_CUDA="${DIFFERNET_CUDA:-AUTO}")
[ -n "${CUDA_ARCHS:-}" ] && args+=(-DCMAKE_CUDA_ARCHITECTURES="$CUDA_ARCHS")
cuda_args=$(differnet_cuda_args)
[ -n "$cuda_args" ] && args+=("$cuda_args")

cmake -S . -B "$BUILD_DIR" "${args[@]}"
cmake --build "$BUILD_DIR" -j "$JOBS"
cd "$BUILD_DIR"
ctest --output-on-failure -j "$JOBS" --timeout 1800
# On AVX-512 CPUs: the CPU kernel and flow tests once more with every GEMM on
# our AVX-512 kernel (the choice of CPUs with full-width 512-bit units whose
# BLAS runs AVX2 kernels), and once without any of our AVX-512 code (the path
# of an AVX2-only CPU).
if grep -qw avx512f /proc/cpuinfo; then
  tests='^test_(ops|adam|autograd|conv_ops|flow|backbone)$'
  DIFFERNET_FAST_GEMM=1 ctest --output-on-failure -j "$JOBS" --timeout 1800 -R "$tests"
  DIFFERNET_NO_AVX512=1 ctest --output-on-failure -j "$JOBS" --timeout 1800 -R "$tests"
fi
