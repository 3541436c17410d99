#!/bin/bash
# Runs every benchmark under bench/ in turn (BENCHMARKS.md): each prints its own table.
# Usage: bench/run_all.sh ; env: BUILD_DIR=build (built here if the binaries are missing),
#   THREADS=<cores>, RUNS=5, and each benchmark's own variables (see their headers).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
export BUILD_DIR="${BUILD_DIR:-$root/build}"
if [ ! -x "$BUILD_DIR/aft" ] || [ ! -x "$BUILD_DIR/aft_step_bench" ]; then
  echo "building aft and aft_step_bench in $BUILD_DIR"
  [ -f "$BUILD_DIR/build.ninja" ] || cmake -S "$root" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  ninja -C "$BUILD_DIR" -j"${JOBS:-1}" aft aft_step_bench >/dev/null
fi
echo "== commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown), $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo; echo "== §1 training step vs PyTorch (bench/step_bench.sh)"
"$here/step_bench.sh"
echo; echo "== §2 data pipeline vs torchvision (bench/data_bench.sh)"
"$here/data_bench.sh" "$BUILD_DIR/aft"
