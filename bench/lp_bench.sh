#!/bin/bash
# The linear probe on cached features (lp-ft's first stage) against the linear probe that runs
# the frozen backbone every epoch (`--method linear`), same data, epochs, batch and threads,
# alternated RUNS times. Each side's seconds are aft's own: linear's train_seconds, lp-ft's
# feature_seconds + probe_seconds (summary.json). Prints each pair, the medians and the ratio.
# Uses bench/defaults_bench.sh's source and glyph task. Usage: bench/lp_bench.sh [AFT_BINARY]
# env: EPOCHS=10 RUNS=3 OUT=bench-out/defaults
source "$(dirname "$0")/lib.sh" "$@"
out="${OUT:-$here/../bench-out/defaults}"
epochs="${EPOCHS:-10}"
runs="${RUNS:-3}"
[ -f "$out/source/summary.json" ] || { echo "run bench/defaults_bench.sh first (it makes the source and task)" >&2; exit 1; }
mkdir -p "$out/lp"
common=(--weights "$out/source" --data "$out/glyphs" --batch-size 64 --lr 0.05 --threads 1 --quiet --overwrite)
for r in $(seq "$runs"); do
  "$aft" finetune --method linear --epochs "$epochs" --out "$out/lp/linear" "${common[@]}" >/dev/null
  "$aft" finetune --method lp-ft --probe-epochs "$epochs" --epochs 1 --out "$out/lp/lp-ft" "${common[@]}" >/dev/null
  /usr/bin/python3 - "$out/lp" <<'PY'
import json, sys
lin = json.load(open(sys.argv[1] + "/linear/summary.json"))
lp = json.load(open(sys.argv[1] + "/lp-ft/summary.json"))["method_report"]
a, b = lin["train_seconds"], lp["feature_seconds"] + lp["probe_seconds"]
print("pair: linear %.2f s, cached %.2f s (features %.2f + probe %.2f), ratio %.1f, probe train acc %.3f"
      % (a, b, lp["feature_seconds"], lp["probe_seconds"], a / b, lp["probe_train_accuracy"]))
PY
done | tee "$out/lp/pairs.txt"
/usr/bin/python3 - "$out/lp/pairs.txt" <<'PY'
import re, statistics, sys
rows = [list(map(float, re.findall(r"([\d.]+) s", l)[:2])) + [float(re.search(r"ratio ([\d.]+)", l).group(1))]
        for l in open(sys.argv[1]) if l.startswith("pair")]
print("median: linear %.2f s, cached %.2f s, ratio %.1f [%.1f-%.1f]" % (
    statistics.median(r[0] for r in rows), statistics.median(r[1] for r in rows),
    statistics.median(r[2] for r in rows), min(r[2] for r in rows), max(r[2] for r in rows)))
PY
