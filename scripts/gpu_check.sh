#!/usr/bin/env bash
# One script for a GPU machine: builds for sm_90, runs every test (the `gpu`
# ones included, and the CUDA parity tests under compute-sanitizer memcheck
# where it works), runs the benchmarks beside the PyTorch baseline, and prints
# a compact table last. Logs go to $OUT when set (else build-gpu/logs).
#
# The GPU machine has nvcc and PyTorch but no package registry and may lack the
# Boost, libpng, libjpeg-turbo and OpenBLAS headers. So, first, on a machine
# with Debian's registry:
#     scripts/gpu_check.sh --prepare      # apt-get download into .deb/ (git-ignored, ~25 MB)
# then on the GPU machine (with .deb carried along):
#     scripts/gpu_check.sh      # device tool: carry [".deb", "weights/alexnet-features.safetensors"]
# cuDNN is taken from the CUDA toolkit, or else from PyTorch's pip package.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DEB_DIR=$ROOT/.deb
PACKAGES=(libboost1.74-dev libboost-test1.74-dev libboost-test1.74.0 libboost-program-options1.74-dev
  libboost-program-options1.74.0 libpng-dev libpng16-16 zlib1g-dev libturbojpeg0-dev libturbojpeg0
  libopenblas0-pthread libopenblas-pthread-dev libgfortran5)

if [ "${1:-}" = "--prepare" ]; then
  mkdir -p "$DEB_DIR" && cd "$DEB_DIR" && apt-get download "${PACKAGES[@]}" && ls -la "$DEB_DIR"
  exit $?
fi

LOG=${OUT:-$ROOT/build-gpu/logs}
mkdir -p "$LOG"
BUILD=$ROOT/build-gpu
start=$(date +%s)
stage() { echo "== $* ($(($(date +%s) - start)) s)"; }

# ---- dependencies: system ones when present, else the unpacked .deb files ----
cmake_args=(-DCMAKE_BUILD_TYPE=Release -DDIFFERNET_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90)
[ -x /usr/local/cuda/bin/nvcc ] && cmake_args+=(-DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc)
if [ ! -f /usr/include/boost/test/unit_test.hpp ] || [ ! -f /usr/include/turbojpeg.h ]; then
  [ -d "$DEB_DIR" ] || { echo "error: no Boost/libjpeg-turbo headers here and no .deb/ folder: run scripts/gpu_check.sh --prepare on a machine with Debian's registry and carry .deb" >&2; exit 1; }
  stage "unpacking .deb dependencies"
  PREFIX=/tmp/differnet-deps
  mkdir -p "$PREFIX"
  for f in "$DEB_DIR"/*.deb; do dpkg -x "$f" "$PREFIX"; done
  LIBDIR=$PREFIX/usr/lib/x86_64-linux-gnu
  export LD_LIBRARY_PATH=$LIBDIR:$LIBDIR/openblas-pthread:${LD_LIBRARY_PATH:-}
  export CPATH=$PREFIX/usr/include:$PREFIX/usr/include/x86_64-linux-gnu:${CPATH:-}
  cmake_args+=(-DCMAKE_PREFIX_PATH="$PREFIX/usr" -DBoost_DIR="$LIBDIR/cmake/Boost-1.74.0"
    -DBLAS_LIBRARIES="$LIBDIR/openblas-pthread/libopenblas.so"
    -DCBLAS_INCLUDE_DIR="$PREFIX/usr/include/x86_64-linux-gnu/openblas-pthread"
    -DPNG_LIBRARY="$LIBDIR/libpng16.so" -DPNG_PNG_INCLUDE_DIR="$PREFIX/usr/include"
    -DZLIB_LIBRARY="$LIBDIR/libz.so" -DZLIB_INCLUDE_DIR="$PREFIX/usr/include"
    -DTURBOJPEG_LIBRARY="$LIBDIR/libturbojpeg.so" -DTURBOJPEG_INCLUDE_DIR="$PREFIX/usr/include")
fi
if [ ! -f /usr/local/cuda/include/cudnn.h ] && [ ! -f /usr/include/cudnn.h ]; then
  CUDNN_ROOT=$(python3 -c "import nvidia.cudnn, os; print(os.path.dirname(nvidia.cudnn.__file__))" 2>/dev/null ||
    python3 -c "import nvidia.cudnn; print(list(nvidia.cudnn.__path__)[0])" 2>/dev/null)
  [ -n "$CUDNN_ROOT" ] && { cmake_args+=(-DCUDNN_ROOT="$CUDNN_ROOT"); export LD_LIBRARY_PATH=$CUDNN_ROOT/lib:${LD_LIBRARY_PATH:-}; }
fi

# ---- build ----
stage "configure + build (sm_90)"
cmake -S . -B "$BUILD" "${cmake_args[@]}" > "$LOG/configure.log" 2>&1 || { tail -40 "$LOG/configure.log"; exit 1; }
cmake --build "$BUILD" -j "$(nproc)" > "$LOG/build.log" 2>&1 || { grep -E "error" "$LOG/build.log" | head -40; exit 1; }

# ---- tests ----
stage "ctest"
(cd "$BUILD" && ctest --output-on-failure -j 8 --timeout 600) > "$LOG/ctest.log" 2>&1
ctest_rc=$?
tail -25 "$LOG/ctest.log"

sanitizer="not run"
if command -v compute-sanitizer >/dev/null; then
  stage "compute-sanitizer memcheck on the CUDA parity tests"
  : > "$LOG/memcheck.log"
  sanitizer="clean"
  for t in "$BUILD"/tests/test_gpu_*; do
    [ -x "$t" ] || continue
    timeout 240 compute-sanitizer --tool memcheck --error-exitcode 9 "$t" >> "$LOG/memcheck.log" 2>&1
    rc=$?
    case $rc in 0) ;; 9) sanitizer="ERRORS in $(basename "$t")" ;; 124) sanitizer="timed out in $(basename "$t")" ;;
      *) [ "$sanitizer" = clean ] && sanitizer="did not run (rc $rc, see memcheck.log)" ;; esac
  done
fi

# ---- benchmarks: ours (FP32 and TF32) and PyTorch's, same machine, same session ----
stage "benchmarks"
timeout 240 "$BUILD/apps/differnet_bench" --device cuda --repeats 10 --warmup 3 > "$LOG/bench_differnet.jsonl" 2> "$LOG/bench_differnet.err"
timeout 120 "$BUILD/apps/differnet_bench" --device cuda --repeats 10 --warmup 3 --tf32 >> "$LOG/bench_differnet.jsonl" 2>> "$LOG/bench_differnet.err"
timeout 240 python3 bench/torch_baseline.py --device cuda > "$LOG/bench_torch.jsonl" 2> "$LOG/bench_torch.err"

# ---- the paper's protocol end to end on the synthetic category (FP32), timed per stage ----
stage "paper protocol on the synthetic set"
protocol="not run"
"$BUILD/apps/prepare_dataset" --synthetic --out "$BUILD/data" --seed 0 > /dev/null 2>&1 || true
if WEIGHTS_TOOL="$BUILD/apps/weights_tool" weights/fetch_alexnet.sh > "$LOG/fetch.log" 2>&1 || [ -f weights/alexnet-features.safetensors ]; then
  if timeout 300 "$BUILD/apps/train_mvtec" --data "$BUILD/data" --category synthetic --device cuda --out "$BUILD/protocol" \
      --localize-transforms 16 --profile > "$LOG/protocol.log" 2>&1; then
    protocol=$(grep -E "^synthetic " "$LOG/protocol.log" | head -1)
    protocol="$protocol | $(grep -E "^  total" "$LOG/protocol.log" | head -1)"
  else
    protocol="failed or timed out (see protocol.log)"
  fi
else
  protocol="no AlexNet weights (carry weights/alexnet-features.safetensors)"
fi

# ---- table ----
stage "done"
echo
echo "==================== DifferNet GPU check ===================="
python3 -c "import torch; print('device:', torch.cuda.get_device_name(0), '| torch', torch.__version__)" 2>/dev/null
grep -E "tests passed|tests failed" "$LOG/ctest.log" | tail -1
grep -E "Skipped|Failed|Not Run" "$LOG/ctest.log" | grep -v "^$" | head -10
echo "compute-sanitizer memcheck (gpu tests): $sanitizer"
echo "paper protocol, synthetic, FP32 (AUROC last, max, pixel | seconds): $protocol"
python3 bench/compare.py "$LOG/bench_differnet.jsonl" "$LOG/bench_torch.jsonl" 2>/dev/null || cat "$LOG/bench_differnet.jsonl"
exit $ctest_rc
