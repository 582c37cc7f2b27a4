#!/usr/bin/env bash
# The check of a GPU machine, in stages that each fit well inside one
# 10-minute call (a borrowed GPU machine is often held only briefly):
#
#   scripts/gpu_check.sh --prepare              # once, where Debian's registry and PyPI are reachable
#   scripts/gpu_check.sh --stage build,test     # call 1: build for sm_90, the GPU tests, memcheck
#   scripts/gpu_check.sh --stage bench,protocol # call 2: benchmarks beside PyTorch, the paper's protocol
#   scripts/gpu_check.sh                        # every stage in one go
#
# Stages: build | test | bench | protocol (comma-separated or repeated
# --stage). Each stage builds the targets it needs first: a no-op when
# build-gpu/ is still there from the previous call (the machine stayed warm),
# else only those targets. Every stage prints its rows of the table as it
# goes; logs go to $OUT when set (else build-gpu/logs). Every long step has a
# time limit, and none starts past the call's budget (GPU_CHECK_BUDGET seconds,
# default 540): a step cut short says so in the table instead of running the
# call past its 10 minutes.
#
# Before any stage: nvidia-smi, the driver's CUDA version and the toolkit's,
# and a stop with a clear message when the driver is too old for the toolkit.
# DIFFERNET_REQUIRE_GPU=1 is set, so a GPU test that cannot start the CUDA
# runtime fails instead of reporting "skipped".
#
# The GPU machine has nvcc and PyTorch but no package registry and may lack the
# Boost, libpng, libjpeg-turbo and OpenBLAS headers, and the toolkit there has
# no compute-sanitizer. `--prepare` downloads both into .deb/ (git-ignored,
# ~40 MB): Debian 12's packages (apt-get download) and PyPI's
# nvidia-cuda-sanitizer-api wheel (compute-sanitizer). Carry .deb (and
# weights/alexnet-features.safetensors for the protocol) to the GPU machine.
# The unpacked Debian 12 libraries need of that host: glibc >= 2.34 and a
# libstdc++ with GLIBCXX_3.4.29 (GCC 11 or newer), and libz.so.1 (any zlib;
# Debian's libz.so is a link to an absolute path, so the build links the
# host's libz.so.1). libgfortran5 and libquadmath0 are carried.
# cuDNN is taken from the CUDA toolkit, or else from PyTorch's pip package.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DEB_DIR=$ROOT/.deb
PACKAGES=(libboost1.74-dev libboost-test1.74-dev libboost-test1.74.0 libboost-program-options1.74-dev
  libboost-program-options1.74.0 libpng-dev libpng16-16 zlib1g-dev libturbojpeg0-dev libturbojpeg0
  libopenblas0-pthread libopenblas-pthread-dev libgfortran5 libquadmath0)
NVCC=nvcc
[ -x /usr/local/cuda/bin/nvcc ] && NVCC=/usr/local/cuda/bin/nvcc
toolkit_version() { "$NVCC" --version 2>/dev/null | grep -o "release [0-9]*\.[0-9]*" | cut -d' ' -f2; }

if [ "${1:-}" = "--prepare" ]; then
  mkdir -p "$DEB_DIR" && cd "$DEB_DIR" || exit 1
  apt-get download "${PACKAGES[@]}" || exit 1
  # compute-sanitizer of the toolkit's major.minor (13.0 when no nvcc here).
  tk=$(toolkit_version)
  python3 -m pip download --no-deps -d "$DEB_DIR" "nvidia-cuda-sanitizer-api==${tk:-13.0}.*" || exit 1
  ls -la "$DEB_DIR"
  exit 0
fi

STAGES=()
while [ $# -gt 0 ]; do
  case "$1" in
    --stage) IFS=, read -r -a more <<< "${2:-}"; STAGES+=("${more[@]}"); shift 2 ;;
    --stage=*) IFS=, read -r -a more <<< "${1#--stage=}"; STAGES+=("${more[@]}"); shift ;;
    *) echo "usage: scripts/gpu_check.sh [--prepare | --stage build|test|bench|protocol[,...]]" >&2; exit 2 ;;
  esac
done
[ ${#STAGES[@]} -eq 0 ] && STAGES=(build test bench protocol)
for s in "${STAGES[@]}"; do
  case "$s" in build|test|bench|protocol) ;; *) echo "error: unknown stage '$s' (build, test, bench, protocol)" >&2; exit 2 ;; esac
done

BUILD=$ROOT/build-gpu
LOG=${OUT:-$BUILD/logs}
mkdir -p "$LOG"
start=$(date +%s)
BUDGET=${GPU_CHECK_BUDGET:-540}
elapsed() { echo $(($(date +%s) - start)); }
# The time limit of a step: its own cap, or what is left of the budget when less.
limit() { local left=$((BUDGET - $(elapsed))); echo $((left < $1 ? left : $1)); }
row() { printf '| %-9s | %-72s | %4s s |\n' "$1" "$2" "$(elapsed)"; }

# ---- preflight: the driver must be able to run this toolkit's code ----
echo "== nvidia-smi"
if ! nvidia-smi; then
  echo "error: nvidia-smi failed: no usable NVIDIA driver on this machine; the GPU check cannot run" >&2
  exit 1
fi
driver_cuda=$(nvidia-smi | grep -o "CUDA Version: *[0-9]*\.[0-9]*" | grep -o "[0-9]*\.[0-9]*")
toolkit=$(toolkit_version)
echo "driver $(nvidia-smi --query-gpu=driver_version --format=csv,noheader | head -1) (CUDA ${driver_cuda:-?}) | toolkit (nvcc) ${toolkit:-none}"
python3 -c "import torch; print('PyTorch', torch.__version__, '| its CUDA runtime', torch.version.cuda, '|', torch.cuda.get_device_name(0))" 2>/dev/null
[ -n "$toolkit" ] || { echo "error: no nvcc (looked on PATH and in /usr/local/cuda/bin)" >&2; exit 1; }
if [ -n "$driver_cuda" ] && [ "${driver_cuda%%.*}" -lt "${toolkit%%.*}" ]; then
  echo "error: the driver supports CUDA $driver_cuda, older than the toolkit's CUDA $toolkit: every CUDA call would fail (cudaErrorInsufficientDriver). Use a toolkit of CUDA ${driver_cuda%%.*} or a newer driver." >&2
  exit 1
fi
export DIFFERNET_REQUIRE_GPU=1

# ---- dependencies: system ones when present, else the unpacked .deb files ----
cmake_args=(-DCMAKE_BUILD_TYPE=Release -DDIFFERNET_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 -DCMAKE_CUDA_COMPILER="$(command -v "$NVCC")")
if [ ! -f /usr/include/boost/test/unit_test.hpp ] || [ ! -f /usr/include/turbojpeg.h ]; then
  ls "$DEB_DIR"/*.deb > /dev/null 2>&1 || { echo "error: no Boost/libjpeg-turbo headers here and no .deb files in .deb/: run scripts/gpu_check.sh --prepare on a machine with Debian's registry and carry .deb" >&2; exit 1; }
  PREFIX=/tmp/differnet-deps
  if [ ! -f "$PREFIX/.unpacked" ]; then
    mkdir -p "$PREFIX"
    for f in "$DEB_DIR"/*.deb; do dpkg -x "$f" "$PREFIX"; done
    touch "$PREFIX/.unpacked"
  fi
  LIBDIR=$PREFIX/usr/lib/x86_64-linux-gnu
  host_libz=$(ldconfig -p | grep -o "/[^ ]*/libz\.so\.1$" | head -1)
  [ -n "$host_libz" ] || { echo "error: this host has no libz.so.1 (zlib), which libpng needs" >&2; exit 1; }
  export LD_LIBRARY_PATH=$LIBDIR:$LIBDIR/openblas-pthread:${LD_LIBRARY_PATH:-}
  export CPATH=$PREFIX/usr/include:$PREFIX/usr/include/x86_64-linux-gnu:${CPATH:-}
  cmake_args+=(-DCMAKE_PREFIX_PATH="$PREFIX/usr" -DBoost_DIR="$LIBDIR/cmake/Boost-1.74.0"
    -DBLAS_LIBRARIES="$LIBDIR/openblas-pthread/libopenblas.so"
    -DCBLAS_INCLUDE_DIR="$PREFIX/usr/include/x86_64-linux-gnu/openblas-pthread"
    -DPNG_LIBRARY="$LIBDIR/libpng16.so" -DPNG_PNG_INCLUDE_DIR="$PREFIX/usr/include"
    -DZLIB_LIBRARY="$host_libz" -DZLIB_INCLUDE_DIR="$PREFIX/usr/include"
    -DTURBOJPEG_LIBRARY="$LIBDIR/libturbojpeg.so" -DTURBOJPEG_INCLUDE_DIR="$PREFIX/usr/include")
fi
if [ ! -f /usr/local/cuda/include/cudnn.h ] && [ ! -f /usr/include/cudnn.h ]; then
  CUDNN_ROOT=$(python3 -c "import nvidia.cudnn, os; print(os.path.dirname(nvidia.cudnn.__file__))" 2>/dev/null ||
    python3 -c "import nvidia.cudnn; print(list(nvidia.cudnn.__path__)[0])" 2>/dev/null)
  [ -n "$CUDNN_ROOT" ] && { cmake_args+=(-DCUDNN_ROOT="$CUDNN_ROOT"); export LD_LIBRARY_PATH=$CUDNN_ROOT/lib:${LD_LIBRARY_PATH:-}; }
fi

# Configures once, then builds the given targets (all when none): incremental.
ensure_built() {
  if [ ! -f "$BUILD/CMakeCache.txt" ]; then
    cmake -S . -B "$BUILD" "${cmake_args[@]}" > "$LOG/configure.log" 2>&1 || { tail -40 "$LOG/configure.log"; return 1; }
  fi
  local targets=()
  for t in "$@"; do targets+=(--target "$t"); done
  cmake --build "$BUILD" -j "$(nproc)" "${targets[@]}" >> "$LOG/build.log" 2>&1 || { grep -E "error" "$LOG/build.log" | head -40; return 1; }
}

# compute-sanitizer: the toolkit's, or the one of the PyPI wheel carried in .deb/.
find_sanitizer() {
  if command -v compute-sanitizer > /dev/null; then command -v compute-sanitizer; return; fi
  [ -x /usr/local/cuda/bin/compute-sanitizer ] && { echo /usr/local/cuda/bin/compute-sanitizer; return; }
  local wheel dir=/tmp/differnet-sanitizer
  wheel=$(ls "$DEB_DIR"/nvidia_cuda_sanitizer_api-*.whl 2>/dev/null | head -1)
  [ -n "$wheel" ] || return
  if [ ! -d "$dir" ]; then python3 -m zipfile -e "$wheel" "$dir" > /dev/null || return; fi
  local bin
  bin=$(find "$dir" -path "*/bin/compute-sanitizer" | head -1)
  [ -n "$bin" ] && chmod +x "$bin" && echo "$bin"
}

status=0
echo
echo "==================== DifferNet GPU check: ${STAGES[*]} ===================="
row "stage" "result"

stage_build() {
  if ensure_built; then row build "configured and built for sm_90 (build-gpu/)"; else row build "FAILED (see $LOG/build.log)"; status=1; fi
}

stage_test() {
  ensure_built || { row test "build FAILED (see $LOG/build.log)"; status=1; return; }
  local lim
  lim=$(limit 240)
  [ "$lim" -ge 60 ] || { row test "not run, out of this call's time (run --stage test in the next call)"; return; }
  (cd "$BUILD" && timeout "$lim" ctest --output-on-failure -j 4 --timeout 200 -L gpu) > "$LOG/ctest_gpu.log" 2>&1
  local rc=$?
  row test "ctest -L gpu: $(grep -E "tests passed" "$LOG/ctest_gpu.log" | tail -1)"
  grep -E "\((Failed|Skipped|Not Run|Timeout)\)" "$LOG/ctest_gpu.log" | sed 's/^/      /'
  [ $rc -eq 0 ] || status=1
  (cd "$BUILD" && ctest --output-on-failure -R "test_require_gpu") > "$LOG/ctest_require.log" 2>&1 || status=1
  row test "DIFFERNET_REQUIRE_GPU gate: $(grep -E "tests passed" "$LOG/ctest_require.log" | tail -1)"
  local sanitizer
  sanitizer=$(find_sanitizer)
  if [ -z "$sanitizer" ]; then row memcheck "not run: no compute-sanitizer (scripts/gpu_check.sh --prepare carries it)"; return; fi
  : > "$LOG/memcheck.log"
  for t in "$BUILD"/tests/test_gpu_*; do
    [ -x "$t" ] || continue
    lim=$(limit 90)
    [ "$lim" -ge 30 ] || { row memcheck "$(basename "$t"): not run, out of this call's time"; continue; }
    # Exact-size, no-reuse allocations: memcheck then sees accesses into the
    # rounding slack and into freed tensors (kernels/cuda_allocator.h).
    DIFFERNET_CUDA_ALLOC_EXACT=1 timeout "$lim" "$sanitizer" --tool memcheck --error-exitcode 9 "$t" >> "$LOG/memcheck.log" 2>&1
    case $? in
      0) row memcheck "$(basename "$t"): clean" ;;
      9) row memcheck "$(basename "$t"): ERRORS (see memcheck.log)"; status=1 ;;
      124) row memcheck "$(basename "$t"): timed out after $lim s (no error until then)" ;;
      *) row memcheck "$(basename "$t"): did not run or failed (see memcheck.log)"; status=1 ;;
    esac
  done
}

# bench_step NAME CAP JSONL COMMAND...: runs a benchmark program within its limit, appending its rows.
bench_step() {
  local name=$1 lim jsonl=$3
  lim=$(limit "$2")
  shift 3
  [ "$lim" -ge 30 ] || { row bench "$name: not run, out of this call's time"; return; }
  timeout "$lim" "$@" >> "$jsonl" 2>> "${jsonl%.jsonl}.err"
  local rc=$?
  row bench "$name: $([ $rc -eq 124 ] && echo "cut at $lim s" || echo "rc $rc"), $(grep -c '^{' "$jsonl") rows so far"
}

stage_bench() {
  ensure_built differnet_bench || { row bench "build FAILED (see $LOG/build.log)"; status=1; return; }
  : > "$LOG/bench_differnet.jsonl"
  : > "$LOG/bench_torch.jsonl"
  bench_step "differnet_bench FP32" 150 "$LOG/bench_differnet.jsonl" "$BUILD/apps/differnet_bench" --device cuda --repeats 10 --warmup 3
  bench_step "differnet_bench TF32" 60 "$LOG/bench_differnet.jsonl" "$BUILD/apps/differnet_bench" --device cuda --repeats 10 --warmup 3 --tf32
  bench_step "PyTorch baseline" 150 "$LOG/bench_torch.jsonl" python3 bench/torch_baseline.py --device cuda
  python3 bench/compare.py "$LOG/bench_differnet.jsonl" "$LOG/bench_torch.jsonl" 2>/dev/null || cat "$LOG/bench_differnet.jsonl"
}

stage_protocol() {
  ensure_built prepare_dataset train_mvtec weights_tool || { row protocol "build FAILED (see $LOG/build.log)"; status=1; return; }
  "$BUILD/apps/prepare_dataset" --synthetic --out "$BUILD/data" --seed 0 > /dev/null 2>&1 || true
  if ! WEIGHTS_TOOL="$BUILD/apps/weights_tool" weights/fetch_alexnet.sh > "$LOG/fetch.log" 2>&1 && [ ! -f weights/alexnet-features.safetensors ]; then
    row protocol "not run: no AlexNet weights (carry weights/alexnet-features.safetensors)"
    return
  fi
  local lim
  lim=$(limit 300)
  [ "$lim" -ge 60 ] || { row protocol "not run, out of this call's time (run --stage protocol in the next call)"; return; }
  timeout "$lim" "$BUILD/apps/train_mvtec" --data "$BUILD/data" --category synthetic --device cuda --out "$BUILD/protocol" \
    --localize-transforms 16 --profile > "$LOG/protocol.log" 2>&1
  local rc=$?
  if [ $rc -eq 0 ]; then
    row protocol "AUROC last, max, pixel: $(grep -E "^synthetic " "$LOG/protocol.log" | head -1)"
    row protocol "$(grep -E "^  total" "$LOG/protocol.log" | head -1)"
    grep -E "^cuDNN " "$LOG/protocol.log" | sed 's/^/      /'
  else
    row protocol "$([ $rc -eq 124 ] && echo "timed out after $lim s" || echo "FAILED (rc $rc)"): $(tail -1 "$LOG/protocol.log" | cut -c1-50)"
    status=1
  fi
}

for s in "${STAGES[@]}"; do "stage_$s"; done
row done "exit status $status (logs: $LOG)"
exit $status
