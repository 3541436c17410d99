#!/bin/bash
# SpotTune on the benchmark task (issue #7): the demo's resnet18 source fine-tuned on the
# glyph task with plain SpotTune and Global-k for several K, against full fine-tuning, with
# routing statistics (mean tuned blocks per image, per-block tuned-path usage), and an HTML
# report (aft report) whose per-block usage chart is the routing picture, also drawn alone as
# usage.svg.
# Usage: bench/spottune_bench.sh [AFT_BINARY] ; env: DEMO=bench-out/transfer/seed0 EPOCHS=5 KS="2 4 6"
#        GK_WEIGHTS="0.1 1" (one Global-k run per K and weight) OUT=bench-out/spottune
source "$(dirname "$0")/lib.sh" "$@"
require_demo
epochs="${EPOCHS:-5}"
out="${OUT:-$here/../bench-out/spottune}"
mkdir -p "$out"
common=(--weights "$demo/runs/source" --data "$demo/data/glyphs" --epochs "$epochs" --lr 0.05 --batch-size 64
        --schedule cosine --quiet --overwrite)
"$aft" finetune --method full --out "$out/full" "${common[@]}" > "$out/full.log" 2>&1
"$aft" finetune --method spottune --out "$out/spottune" "${common[@]}" > "$out/spottune.log" 2>&1
runs=("$out/full" "$out/spottune")
for w in ${GK_WEIGHTS:-0.1 1}; do
  for k in ${KS:-2 4 6}; do
    name="global-k$k"
    [ "$w" = "0.1" ] || name="global-k$k-w$w"  # 0.1 is the default weight
    "$aft" finetune --method spottune --global-k "$k" --global-k-weight "$w" --out "$out/$name" "${common[@]}" \
      > "$out/$name.log" 2>&1
    runs+=("$out/$name")
  done
done
"$aft" report "${runs[@]}" --out "$out/report.html" > /dev/null
# The routing picture as a standalone SVG (docs/spottune_usage.svg is this file from the last run).
/usr/bin/python3 "$here/usage_svg.py" "$out/usage.svg" "${runs[@]}"
/usr/bin/python3 - "${runs[@]}" <<'PY'
import json, os, sys
print("| run | test acc | val acc | mean tuned blocks / image | per-block tuned-path usage (test) | seconds |")
print("|---|---|---|---|---|---|")
for run in sys.argv[1:]:
    s = json.load(open(os.path.join(run, "summary.json")))
    r = s.get("method_report", {})
    usage = r.get("tuned_fraction", "")
    if isinstance(usage, dict):
        usage = " ".join("%.2f" % v for v in usage.values())
    elif isinstance(usage, list):
        usage = " ".join("%.2f" % (v if isinstance(v, (int, float)) else v.get("tuned_fraction", 0)) for v in usage)
    mean = r.get("mean_tuned_blocks", "")
    print("| %s | %.4f | %.4f | %s | %s | %.1f |" % (os.path.basename(run), s["test_accuracy"], s["best_val_accuracy"],
          "%.2f" % mean if isinstance(mean, (int, float)) else "-", usage or "-", s["seconds"]))
# Per class (SpotTune runs): the classes that use the fewest and the most tuned blocks.
names = None
for run in sys.argv[1:]:
    rows = json.load(open(os.path.join(run, "summary.json"))).get("method_report", {}).get("by_class")
    if not rows:
        continue
    names = json.load(open(os.path.join(run, "config.json"))).get("classes", [])
    rows = sorted(rows, key=lambda r: r["mean_tuned_blocks"])
    label = lambda r: "%s %.2f" % (names[r["class"]] if r["class"] < len(names) else r["class"], r["mean_tuned_blocks"])
    print("%s per class: fewest %s; most %s" % (os.path.basename(run), ", ".join(label(r) for r in rows[:3]),
          ", ".join(label(r) for r in rows[-3:])))
PY
