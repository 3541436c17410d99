#!/bin/bash
# Runs the benchmarks of docs/benchmarks.md in turn, each printing its own table.
# Usage: bench/run_all.sh ; env: SECTIONS="1 2 3 4 methods" (default: all), BUILD_DIR=build (built
#   here if the binaries are missing), THREADS=<cores>, RUNS=5, and each benchmark's own variables
#   (see their headers). §3 and later take about an hour and a half on 2 cores; §1 and §2 a quarter.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
export BUILD_DIR="${BUILD_DIR:-$root/build}"
sections="${SECTIONS:-1 2 3 4 methods}"
if [ ! -x "$BUILD_DIR/aft" ] || [ ! -x "$BUILD_DIR/aft_step_bench" ]; then
  echo "building aft and aft_step_bench in $BUILD_DIR"
  [ -f "$BUILD_DIR/build.ninja" ] || cmake -S "$root" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  ninja -C "$BUILD_DIR" -j"${JOBS:-1}" aft aft_step_bench >/dev/null
fi
aft="$BUILD_DIR/aft"
echo "== commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown), $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
for s in $sections; do
  case "$s" in
    1) echo; echo "== §1 training step vs PyTorch (bench/step_bench.sh)"; "$here/step_bench.sh" ;;
    2) echo; echo "== §2 data pipeline vs torchvision (bench/data_bench.sh)"; "$here/data_bench.sh" "$aft" ;;
    3) echo; echo "== §3 transfer accuracy, every method, 3 seeds (bench/transfer_bench.sh)"
       "$here/transfer_bench.sh" "$aft" ;;
    4) echo; echo "== §4 search cost, paper preset vs fast (bench/search_bench.sh, 16 shots per class)"
       PRESETS="fast paper" SHOTS="${SHOTS:-16}" "$here/search_bench.sh" "$aft" ;;
    methods)
       echo; echo "== SpotTune and Global-k (bench/spottune_bench.sh)"; "$here/spottune_bench.sh" "$aft"
       echo; echo "== AMCF ablation (bench/multisource_ablation.sh)"; "$here/multisource_ablation.sh" "$aft"
       echo; echo "== partial fine-tuning and soups (bench/partial_bench.sh)"; "$here/partial_bench.sh" "$aft" ;;
    *) echo "unknown section '$s' (valid: 1 2 3 4 methods)" >&2; exit 2 ;;
  esac
done
