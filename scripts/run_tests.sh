#!/usr/bin/env bash
# The test command: installs what is missing, configures, builds and runs every
# test with CTest. Exits non-zero on any failure. CUDA kernels are compiled
# when nvcc is found; their tests (label `gpu`) are reported as skipped, with
# the reason, where no CUDA device exists. The `slurm` tests start their own
# one-node Slurm cluster (munged, slurmctld, slurmd; needs root, as CI runs).
#
# Environment: BUILD_DIR (default build), JOBS (default: all cores),
#   DIFFERNET_CUDA=AUTO|ON|OFF, CUDA_ARCHS (e.g. 90; default: the CMake default list).
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
cd "$BUILD_DIR"
ctest --output-on-failure -j "$JOBS" --timeout 1800
