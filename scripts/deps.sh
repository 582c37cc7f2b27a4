# Sourced by the scripts: installs the Debian packages DifferNet builds with,
# only those missing, non-interactively (with sudo when not root).
# Usage: source scripts/deps.sh; differnet_install_packages [extra packages...]

# libboost-context-dev: the fibers of the SIMT emulator (DIFFERNET_CUDA=EMULATE, kernels/simt/).
# libdnnl-dev: oneDNN, the CPU convolutions where faster than im2col (kernels/conv_onednn.h;
# optional: -DDIFFERNET_ONEDNN=OFF or its absence builds the reference only).
DIFFERNET_BUILD_PACKAGES=(cmake g++ make pkg-config libboost-test-dev libboost-program-options-dev
  libpng-dev libturbojpeg0-dev libopenblas-dev nlohmann-json3-dev libboost-context-dev libdnnl-dev)
# For the tests only: a one-node Slurm cluster (tests/sweep_slurm.sh, label slurm).
DIFFERNET_TEST_PACKAGES=(slurm-wlm munge)

differnet_install_packages() {
  local wanted=("${DIFFERNET_BUILD_PACKAGES[@]}" "$@") missing=() p
  for p in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "Installing missing packages: ${missing[*]}"
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "error: need root or sudo to install: ${missing[*]}" >&2; return 1; }
    sudo="sudo"
  fi
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# CMake arguments for the CUDA toolkit in its usual place when nvcc is not on PATH.
differnet_cuda_args() {
  if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then
    echo "-DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc"
  fi
}
