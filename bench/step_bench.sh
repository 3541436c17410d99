#!/bin/bash
# Training-step throughput, aft (C++) vs the same model and step in PyTorch Python
# (docs/benchmarks.md section 1). Every case runs interleaved — aft, torch, then torch, aft on the
# next round — RUNS times; the table gives each side's median images/s, the median and the
# spread (min..max) of the per-round ratios aft/torch, and each side's model FLOP rate as a
# fraction of the machine's float32 matrix-multiply peak (best of a 2048^2 GEMM through
# LibTorch, C++ and Python alike, measured at the start).
# Usage: bench/step_bench.sh ; env: THREADS=<cores> RUNS=5 SECONDS_PER_RUN=3 WARMUP=1 MIN_STEPS=2
#   CASES="r18_32 vit_ti4 ..." (default: all)  BUILD_DIR=build  OUT=<dir for the raw JSON lines>
#   PYTHON=/usr/bin/python3 (the PyTorch compared with; BUILD_DIR and PYTHON of the same version)
#   INFERENCE=1: time the eval-mode forward pass (no gradient) instead of the training step; the
#   FLOP columns then count the forward pass as a third of the step's (convolutions and matrix
#   products: the backward pass costs two forwards)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
build="${BUILD_DIR:-$root/build}"
bin="$build/aft_step_bench"
py="${PYTHON:-/usr/bin/python3}"  # PYTHON: another PyTorch, e.g. leg 3's venv (docs/build.md)
threads="${THREADS:-$(nproc)}"
# Both pools the same size on both sides: LibTorch's OpenMP pool (convolutions; --threads,
# torch.set_num_threads) and OpenBLAS's own pthread pool (linear layers, the GEMM peak), which
# neither call sizes.
export OMP_NUM_THREADS="$threads" OPENBLAS_NUM_THREADS="$threads"
runs="${RUNS:-5}"
secs="${SECONDS_PER_RUN:-3}"
warmup="${WARMUP:-1}"
min_steps="${MIN_STEPS:-2}"
out="${OUT:-${TMPDIR:-/tmp}/aft_step_bench.$$}"
mkdir -p "$out"

if [ ! -x "$bin" ] || [ -n "${REBUILD:-}" ]; then
  echo "building aft_step_bench in $build"
  [ -f "$build/build.ninja" ] || cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  ninja -C "$build" -j"${JOBS:-1}" aft_step_bench >/dev/null
fi
cases="${CASES:-$("$bin" --list | tr '\n' ' ')}"

echo "threads $threads, $runs rounds, >= $secs s and >= $min_steps timed steps per run (after $warmup warm-up steps)"
echo "raw results: $out/results.jsonl"
: >"$out/results.jsonl"
for r in 1 2 3; do
  "$bin" --gemm --threads "$threads" >>"$out/results.jsonl"
  "$py" "$here/step/step_torch.py" --gemm --threads "$threads" >>"$out/results.jsonl"
done
for c in $cases; do
  "$py" "$here/step/step_torch.py" --flops "$c" --threads "$threads" >>"$out/results.jsonl"
done
mode=()
[ -n "${INFERENCE:-}" ] && mode=(--inference)
run_aft() { "$bin" --case "$1" --threads "$threads" --warmup "$warmup" --seconds "$secs" --min-steps "$min_steps" "${mode[@]}" >>"$out/results.jsonl"; }
run_torch() {
  "$py" "$here/step/step_torch.py" --case "$1" --threads "$threads" --warmup "$warmup" --seconds "$secs" --min-steps "$min_steps" \
    "${mode[@]}" >>"$out/results.jsonl"
}
for r in $(seq 1 "$runs"); do
  for c in $cases; do
    # Alternate which side goes first so that a slow drift in load favours neither.
    if [ $((r % 2)) -eq 1 ]; then run_aft "$c"; run_torch "$c"; else run_torch "$c"; run_aft "$c"; fi
    echo "round $r: $c done"
  done
done

"$py" - "$out/results.jsonl" "$threads" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
peak = max(r["gflops"] for r in rows if "gflops" in r)
gemm = {s: max(r["gflops"] for r in rows if r.get("side") == s and "gflops" in r) for s in ("aft", "torch")}
flops = {r["case"]: r for r in rows if "step_flops_per_image" in r}
order = list(flops)
runs = {}
for r in rows:
    if "images_per_second" in r:
        runs.setdefault(r["case"], {}).setdefault(r["side"], []).append(r)
print("\nGEMM peak (float32 2048^2, best of 3, %s threads): aft %.1f GFLOP/s, torch %.1f GFLOP/s; peak used: %.1f"
      % (sys.argv[2], gemm["aft"], gemm["torch"], peak))
print("| case | batch | step GFLOP/img | aft img/s | torch img/s | ratio aft/torch median [min..max] | aft % peak | torch % peak |")
print("|---|---|---|---|---|---|---|---|")
below = []
for c in order:
    a, t = runs.get(c, {}).get("aft", []), runs.get(c, {}).get("torch", [])
    if not a or not t:
        continue
    ratios = sorted(x["images_per_second"] / y["images_per_second"] for x, y in zip(a, t))
    ma = statistics.median(x["images_per_second"] for x in a)
    mt = statistics.median(y["images_per_second"] for y in t)
    f = flops[c]["step_flops_per_image"] / (3 if a[0].get("mode") == "inference" else 1)
    mr = statistics.median(ratios)
    if mr < 1.0:
        below.append(c)
    note = "" if a[0].get("trainable_params") == t[0].get("trainable_params") else \
        " (trainable params differ: aft %s, torch %s)" % (a[0].get("trainable_params"), t[0].get("trainable_params"))
    print("| %s | %d | %.3f | %.1f | %.1f | %.2f [%.2f..%.2f] | %.0f%% | %.0f%% |%s"
          % (c, a[0]["batch"], f / 1e9, ma, mt, mr, ratios[0], ratios[-1], 100 * ma * f / 1e9 / peak,
             100 * mt * f / 1e9 / peak, note))
print("\ncases with a median ratio below 1.0: %s" % (", ".join(below) if below else "none"))
PY
