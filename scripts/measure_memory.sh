#!/bin/bash
# Peak memory and time split of train_mvtec on the CPU (issue 16): a synthetic
# MVTec-layout category of 200 training and 83 test images, the paper's model
# at 448 px (3 scales, 8 blocks, hidden 2048), 3 meta x 2 sub epochs, 8 test
# transforms, no defect maps, 2 threads, under /usr/bin/time -v. Prints the
# peak resident set, the --profile tables (seconds per stage, memory) and the
# share of the wall time spent outside training and evaluation.
#   scripts/measure_memory.sh [BUILD_DIR] [WORK_DIR]     (about 10 minutes on 2 quiet cores)
set -euo pipefail
build=${1:-build}
work=${2:-/tmp/differnet-measure-memory}
for tool in train_mvtec prepare_dataset; do
  [ -x "$build/apps/$tool" ] || { echo "measure_memory: $build/apps/$tool is missing (build it first)" >&2; exit 2; }
done
[ -x /usr/bin/time ] || { echo "measure_memory: /usr/bin/time is missing (apt-get install time)" >&2; exit 2; }
mkdir -p "$work"
[ -d "$work/data/synthetic" ] ||
  "$build/apps/prepare_dataset" --synthetic --out "$work/data" --size 512 --train 200 --test-good 23 --test-defect 60
export OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2
/usr/bin/time -v "$build/apps/train_mvtec" --data "$work/data" --category synthetic --device cpu \
  --image-size 448 --scales 3 --hidden 2048 --meta-epochs 3 --sub-epochs 2 --test-transforms 8 --localize none \
  --profile --out "$work/run" 2>&1 | tee "$work/log.txt" | grep -v "\[#*\.*\]"
wall=$(grep "Elapsed (wall clock)" "$work/log.txt" | awk '{print $NF}' | awk -F: '{s=0; for (i=1;i<=NF;i++) s=s*60+$i; print s}')
/usr/bin/python3 - "$work/run/results.json" "$wall" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); wall = float(sys.argv[2]); st = r["seconds_per_stage"]
work = sum(st.get(k, 0) for k in ("features", "flow", "evaluation"))
print(f"peak resident set: {r['memory_bytes']['peak resident set (getrusage)'] / 1e9:.2f} GB")
print(f"wall {wall:.0f} s; training + evaluation {work:.0f} s; outside them (start-up, data, checkpoints, "
      f"threshold, outputs) {wall - work:.0f} s = {100 * (wall - work) / wall:.1f} %")
print("threshold:", r["threshold_source"])
PY
