#!/bin/bash
# Loader throughput, aft vs torchvision (ImageFolder + DataLoader, PIL), on photo-size
# 500x375 JPEGs with the imagenet224 training transforms and the same number of workers.
# Runs are interleaved (aft, torchvision, aft, ...) so machine load affects both alike;
# prints each ratio, then their median and spread.
# Usage: bench/data_bench.sh [AFT_BINARY] ; env: THREADS=2 RUNS=5 SECONDS_PER_RUN=10 IMAGES=400
source "$(dirname "$0")/lib.sh" "$@"
threads="${THREADS:-2}"
runs="${RUNS:-5}"
secs="${SECONDS_PER_RUN:-10}"
images="${IMAGES:-400}"
data="${BENCH_DATA:-${TMPDIR:-/tmp}/aft_bench_photos_$images}"

if [ ! -d "$data/train" ]; then
  echo "generating $images 500x375 JPEGs in $data"
  /usr/bin/python3 - "$data" "$images" <<'PY'
import os, sys
import numpy as np
from PIL import Image
root, n = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(0)
tmp = root + ".tmp"
for i in range(n):
    split = "test" if (i // 10) % 10 == 9 else "train"
    d = os.path.join(tmp, split, "class%d" % (i % 10))
    os.makedirs(d, exist_ok=True)
    # Smooth random photo: low-resolution noise upsampled bicubically, plus fine grain.
    low = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
    img = np.asarray(Image.fromarray(low).resize((500, 375), Image.BICUBIC)).astype(np.int16)
    img = (img + rng.integers(-12, 12, img.shape)).clip(0, 255).astype(np.uint8)
    Image.fromarray(img).save(os.path.join(d, "%04d.jpg" % i), quality=90)
os.rename(tmp, root)
PY
fi

ratios=()
for r in $(seq 1 "$runs"); do
  a=$("$aft" data bench "$data" --workers "$threads" --preset imagenet224 --batch-size 64 --seconds "$secs" | awk '/images_per_second/ {print $2}')
  t=$(/usr/bin/python3 "$here/data_torchvision.py" "$data" --workers "$threads" --batch-size 64 --seconds "$secs" | awk '/images_per_second/ {print $2}')
  ratio=$(awk -v a="$a" -v t="$t" 'BEGIN {printf "%.3f", a / t}')
  ratios+=("$ratio")
  echo "run $r: aft $a img/s, torchvision $t img/s, ratio $ratio"
done
printf '%s\n' "${ratios[@]}" | sort -n | awk '{v[NR] = $1} END {
  m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
  printf "ratio aft/torchvision over %d runs: median %.2f, min %.2f, max %.2f\n", NR, m, v[1], v[NR]
}'
