#!/usr/bin/env bash
# libFuzzer on the readers of untrusted input (tests/fuzz/, docs/robustness.md).
#   scripts/fuzz.sh --list              the targets
#   scripts/fuzz.sh TARGET SECONDS      build TARGET and fuzz it for SECONDS
# Builds with clang, -fsanitize=fuzzer,address,undefined, CUDA off, in build-fuzz/.
# The committed seeds (tests/fuzz/corpus/TARGET/) are copied into a scratch
# corpus build-fuzz/corpus/TARGET/ that grows across runs; the repository is not
# touched. A crash (sanitizer report, abort, an escaped non-differnet
# exception, timeout, out of memory) stops the run, is saved under
# build-fuzz/artifacts/TARGET/ and makes the script exit 1; replay it with
#   build-fuzz/tests/fuzz/fuzz_TARGET build-fuzz/artifacts/TARGET/crash-...
# Environment: BUILD_DIR (default build-fuzz), JOBS (build jobs, default 1),
#   FUZZ_ARGS (extra libFuzzer flags).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

targets() { for f in "$ROOT"/tests/fuzz/fuzz_*.cpp; do basename "$f" .cpp | sed 's/^fuzz_//'; done; }
usage() { echo "usage: scripts/fuzz.sh --list | TARGET SECONDS   (targets: $(targets | tr '\n' ' '))" >&2; exit 2; }

if [ "${1:-}" = "--list" ]; then targets; exit 0; fi
[ $# -eq 2 ] || usage
TARGET=${1#fuzz_}
SECONDS_TO_RUN=$2
targets | grep -x "$TARGET" >/dev/null || { echo "error: unknown target '$1'" >&2; usage; }
[[ "$SECONDS_TO_RUN" =~ ^[0-9]+$ ]] || { echo "error: SECONDS must be a whole number, got '$2'" >&2; usage; }

# ---- clang with libFuzzer and the sanitizer runtimes --------------------------
source scripts/deps.sh
differnet_install_packages clang libomp-dev
fuzzer_works() {
  printf 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }\n' |
    clang++ -x c++ -fsanitize=fuzzer,address,undefined -o /dev/null - 2>/dev/null
}
if ! fuzzer_works; then
  # libFuzzer is in Debian's libclang-rt-N-dev (Ubuntu: libclang-rt-N-dev or libfuzzer-N-dev).
  v=$(clang++ -dumpversion | cut -d. -f1)
  differnet_install_packages "libclang-rt-$v-dev" || differnet_install_packages "libfuzzer-$v-dev"
  fuzzer_works || { echo "error: clang++ cannot link -fsanitize=fuzzer" >&2; exit 1; }
fi

# ---- build -------------------------------------------------------------------
BUILD_DIR=${BUILD_DIR:-build-fuzz}
flags="-O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined"
cmake -S . -B "$BUILD_DIR" -DDIFFERNET_FUZZ=ON -DDIFFERNET_BUILD_TESTS=OFF -DDIFFERNET_CUDA=OFF \
  -DCMAKE_BUILD_TYPE=Fuzz -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang \
  -DCMAKE_CXX_FLAGS_FUZZ="$flags" -DCMAKE_C_FLAGS_FUZZ="$flags" \
  -DCMAKE_EXE_LINKER_FLAGS_FUZZ="-fsanitize=address,undefined" >/dev/null
cmake --build "$BUILD_DIR" --target "fuzz_$TARGET" -j "${JOBS:-1}"

# ---- run ---------------------------------------------------------------------
corpus=$BUILD_DIR/corpus/$TARGET
artifacts=$BUILD_DIR/artifacts/$TARGET
mkdir -p "$corpus" "$artifacts"
cp -n "$ROOT/tests/fuzz/corpus/$TARGET"/* "$corpus"/ 2>/dev/null || true
before=$(find "$artifacts" -type f | wc -l)
log=$BUILD_DIR/fuzz_$TARGET.log
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export ASAN_OPTIONS=detect_leaks=1
export OMP_NUM_THREADS=1
echo "fuzzing $TARGET for $SECONDS_TO_RUN s (corpus $corpus, log $log)"
set +e
# shellcheck disable=SC2086
"$BUILD_DIR/tests/fuzz/fuzz_$TARGET" "$corpus" -max_total_time="$SECONDS_TO_RUN" -print_final_stats=1 \
  -timeout=25 -rss_limit_mb=4096 -artifact_prefix="$artifacts/" ${FUZZ_ARGS:-} >"$log" 2>&1
rc=$?
set -e
execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
crashes=$(($(find "$artifacts" -type f | wc -l) - before))
echo "target $TARGET: executions ${execs:-unknown}, crashes found $crashes, corpus $(find "$corpus" -type f | wc -l) inputs"
if [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ]; then
  grep -E 'ERROR|SUMMARY|runtime error|escaped|Test unit written' "$log" | head -20
  echo "fuzzing $TARGET FAILED (exit $rc): see $log" >&2
  exit 1
fi
