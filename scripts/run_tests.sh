#!/usr/bin/env bash
# The test command: installs what is missing, configures, builds and runs every
# test with CTest. Exits non-zero on any failure. CUDA kernels are compiled
# when nvcc is found; their tests (label `gpu`) are reported as skipped, with
# the reason, where no CUDA device exists. On AVX-512 CPUs the CPU kernel and
# flow tests run a second time with DIFFERNET_NO_AVX512=1 (the AVX2 / BLAS path).
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
# On AVX-512 CPUs the tests above ran our AVX-512 GEMM and Adam; run the CPU
# kernel and flow tests once more on the path an AVX2-only CPU takes (the BLAS).
if grep -qw avx512f /proc/cpuinfo; then
  DIFFERNET_NO_AVX512=1 ctest --output-on-failure -j "$JOBS" --timeout 1800 -R '^test_(ops|adam|autograd|conv_ops|flow|backbone)$'
fi
