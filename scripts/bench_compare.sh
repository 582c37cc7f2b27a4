#!/usr/bin/env bash
# Runs differnet_bench and the PyTorch baseline (bench/torch_baseline.py) on the
# same device in one go and prints the two side by side with ratios.
#   scripts/bench_compare.sh [--device cpu|cuda] [--filter SUBSTRING] [--quick] [--repeats N] [--rounds R]
# With --rounds R (default 1) the two run R times in turn, the order swapped
# every round (ours first, then PyTorch first, ...), and the ratio printed is
# the median of the R per-round ratios: a shared host's speed drifts by tens
# of percent within minutes, and a ratio of two runs minutes apart carries
# that drift; one of two runs seconds apart mostly does not.
# Needs a build (BUILD_DIR, default build) and, for the baseline, a python3
# with torch (Debian: python3-torch python3-torchvision). Logs: runs/bench/.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
device="" filter="" quick="" repeats=5 rounds=1
while [ $# -gt 0 ]; do
  case "$1" in
    --device) device=$2; shift 2 ;;
    --filter) filter=$2; shift 2 ;;
    --quick) quick=--quick; shift ;;
    --repeats) repeats=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    *) echo "usage: $0 [--device cpu|cuda] [--filter SUBSTRING] [--quick] [--repeats N] [--rounds R]" >&2; exit 2 ;;
  esac
done
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || { echo "error: --rounds wants a positive whole number, got '$rounds'" >&2; exit 2; }
[ -x "$BUILD_DIR/apps/differnet_bench" ] || { echo "error: build first ($BUILD_DIR/apps/differnet_bench is missing)" >&2; exit 1; }
device=${device:-$(nvidia-smi -L >/dev/null 2>&1 && echo cuda || echo cpu)}
# Both sides on the same OpenBLAS kernels: the choice differnet's programs make
# for themselves (apps/common/blas_setup.h), made here for PyTorch too.
if [ -z "${OPENBLAS_CORETYPE:-}" ]; then
  if grep -qw avx512bw /proc/cpuinfo; then export OPENBLAS_CORETYPE=SkylakeX
  elif grep -qw avx2 /proc/cpuinfo; then export OPENBLAS_CORETYPE=Haswell; fi
fi
# The same OpenMP wait policy as differnet's programs choose (blas_setup.h).
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
mkdir -p runs/bench
ours=runs/bench/differnet-$device.jsonl theirs=runs/bench/torch-$device.jsonl
: > "$ours"
: > "$theirs"
PY=$(command -v python3)
[ -x /usr/bin/python3 ] && /usr/bin/python3 -c "import torch" 2>/dev/null && PY=/usr/bin/python3
have_torch=1
"$PY" -c "import torch" 2>/dev/null || { have_torch=0; echo "(no PyTorch for $PY: baseline skipped)" >&2; }
run_ours() {
  "$BUILD_DIR/apps/differnet_bench" --device "$device" --filter "$filter" --repeats "$repeats" $quick | tee -a "$ours"
}
run_theirs() {
  [ "$have_torch" = 1 ] || return 0
  # torch may default to 1 thread on VMs: give it every core, as OpenMP gives ours
  "$PY" bench/torch_baseline.py --device "$device" --filter "$filter" --repeats "$repeats" --threads "$(nproc)" $quick |
    tee -a "$theirs"
}
for ((round = 1; round <= rounds; ++round)); do
  [ "$rounds" = 1 ] || echo "--- round $round of $rounds" >&2
  if ((round % 2)); then run_ours; run_theirs; else run_theirs; run_ours; fi
done
echo
python3 bench/compare.py "$ours" "$theirs"
