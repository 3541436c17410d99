#!/usr/bin/env bash
# Installs every Debian package aft needs to build, test, and run its demo.
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
  python3 python3-torch python3-torchvision python3-numpy python3-pil
  dataset-fashion-mnist
  fonts-dejavu-core fonts-liberation fonts-freefont-ttf fonts-noto-mono
  libprotobuf-dev libboost-dev libjs-chart.js
  chromium
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
