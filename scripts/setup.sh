#!/usr/bin/env bash
# Installs segtransfer's Debian dependencies (if missing) and builds it in Release
# into build/. Idempotent: a second run only rebuilds what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config
  libtorch-dev            # LibTorch 1.13 (C++ frontend, TorchScript, c10d)
  libopenblas0-openmp     # fast BLAS for LibTorch's matmuls (the reference BLAS is ~50x slower)
  libopencv-dev           # images, augmentation, DNN
  libyaml-cpp-dev libcli11-dev libspdlog-dev libfmt-dev nlohmann-json3-dev
  libgtest-dev libgmock-dev libbenchmark-dev libcpp-httplib-dev libgloo-dev
  zlib1g-dev              # deflate + CRC-32 of the prediction store
  libonnx-dev libprotobuf-dev  # ONNX export (segtransfer export -o x.onnx)
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

BUILD_DIR=${BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release
# Two compile jobs: each torch translation unit needs ~1.5 GB of memory.
cmake --build "$BUILD_DIR" -j "${JOBS:-$(nproc)}"
echo "setup: built $BUILD_DIR/segtransfer"
