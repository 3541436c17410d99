#!/bin/bash
# BENCHMARKS.md §4: search cost — the paper preset against aft's fast settings, for the
# contribution and the multi-source searches, on the demo's glyph task and sources (made by
# bench/transfer_bench.sh or `aft demo --dir DEMO`). Prints proxy epochs run, search and total
# wall time, and test accuracy per (method, preset).
# Usage: bench/search_bench.sh [AFT_BINARY] ; env: DEMO=bench-out/transfer/seed0 PRESETS="fast paper"
#        EPOCHS=3 SHOTS=0 (training images per class for every run, search and final; 0: all)
#        METHODS="contribution multisource" OUT=bench-out/search
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
aft="${1:-$here/../build/aft}"
demo="${DEMO:-$here/../bench-out/transfer/seed0}"
presets="${PRESETS:-fast paper}"
methods="${METHODS:-contribution multisource}"
epochs="${EPOCHS:-3}"
shots="${SHOTS:-0}"
out="${OUT:-$here/../bench-out/search}"
[ -f "$demo/runs/source/model.safetensors" ] || { echo "no demo at $demo (run bench/transfer_bench.sh or aft demo --dir $demo)"; exit 1; }
mkdir -p "$out"
common=(--data "$demo/data/glyphs" --epochs "$epochs" --shots "$shots" --lr 0.05 --batch-size 64 --schedule cosine --quiet --overwrite)
for p in $presets; do
  for m in $methods; do
    if [ "$m" = multisource ]; then
      src=(--source "$demo/runs/source" --source "$demo/runs/source-glyphs")
    else
      src=(--weights "$demo/runs/source")
    fi
    echo "== $m --search-preset $p"
    "$aft" finetune --method "$m" --search-preset "$p" "${src[@]}" --out "$out/$m-$p" "${common[@]}" \
      > "$out/$m-$p.log" 2>&1 || { tail -3 "$out/$m-$p.log"; exit 1; }
  done
done
/usr/bin/python3 - "$out" $presets <<'PY'
import json, os, sys
out, presets = sys.argv[1], sys.argv[2:]
print("| method | preset | evaluations | proxy epochs | search s | total s | test acc |")
print("|---|---|---|---|---|---|---|")
for m in os.environ.get("METHODS", "contribution multisource").split():
    for p in presets:
        if not os.path.exists(os.path.join(out, "%s-%s" % (m, p), "summary.json")):
            continue
        s = json.load(open(os.path.join(out, "%s-%s" % (m, p), "summary.json")))
        r = s["method_report"]["search"]
        print("| %s | %s | %d | %d | %.0f | %.0f | %.4f |" % (m, p, r["evaluations_run"], r["proxy_epochs_run"],
              r["seconds"], s["seconds"], s["test_accuracy"]))
PY
