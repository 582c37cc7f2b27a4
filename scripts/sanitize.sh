#!/usr/bin/env bash
# The CPU test suite under AddressSanitizer + UndefinedBehaviorSanitizer:
# configures build-asan/ (g++, CUDA off, -O1 -g -fno-omit-frame-pointer,
# and without oneDNN: CI's build of the reference convolutions only),
# builds every test and runs CTest. Exits non-zero on any failing test, and a
# sanitizer report fails its test (UBSan halts on the first error, ASan checks
# for leaks at exit).
#
# Environment: BUILD_DIR (default build-asan), JOBS (default 2), CTEST_ARGS
#   (extra ctest arguments, e.g. "-R test_weights").
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
differnet_install_packages

BUILD_DIR=${BUILD_DIR:-build-asan}
JOBS=${JOBS:-2}
flags="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined"

cmake -S . -B "$BUILD_DIR" -DDIFFERNET_CUDA=OFF -DDIFFERNET_ONEDNN=OFF -DCMAKE_BUILD_TYPE=Sanitize \
  -DCMAKE_CXX_COMPILER=g++ -DCMAKE_C_COMPILER=gcc \
  -DCMAKE_CXX_FLAGS_SANITIZE="$flags" -DCMAKE_C_FLAGS_SANITIZE="$flags" \
  -DCMAKE_EXE_LINKER_FLAGS_SANITIZE="-fsanitize=address,undefined"
cmake --build "$BUILD_DIR" -j "$JOBS"

export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:strict_string_checks=1
cd "$BUILD_DIR"
# Sanitized code runs several times slower: a longer timeout than run_tests.sh.
# The Slurm tests (they start daemons) run once, in run_tests.sh; differnet_sweep's
# code is under the sanitizers through test_app_sweep.
# shellcheck disable=SC2086
ctest --output-on-failure -j "$JOBS" --timeout 3600 -LE "gpu|slurm" ${CTEST_ARGS:-}
