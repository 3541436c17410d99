#!/bin/bash
# docs/benchmarks.md §4: search cost — the paper preset against aft's fast settings, for the
# contribution and the multi-source searches, on the demo's glyph task and sources (made by
# bench/transfer_bench.sh or `aft demo --dir DEMO`). Prints proxy epochs run, search and total
# wall time, and test accuracy per (method, preset).
# Usage: bench/search_bench.sh [AFT_BINARY] ; env: DEMO=bench-out/transfer/seed0 PRESETS="fast paper"
#        EPOCHS=3 SHOTS=0 (training images per class for every run, search and final; 0: all)
#        METHODS="contribution multisource" FINAL_EPOCHS=15 OUT=bench-out/search
# Each searched result (ratios, frozen counts) is also trained again for FINAL_EPOCHS, next to
# full fine-tuning and the linear probe on the same data: a few final epochs on few images
# would hide any difference between the searches.
source "$(dirname "$0")/lib.sh" "$@"
require_demo
presets="${PRESETS:-fast paper}"
methods="${METHODS:-contribution multisource}"
epochs="${EPOCHS:-3}"
shots="${SHOTS:-0}"
out="${OUT:-$here/../bench-out/search}"
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
final=(--data "$demo/data/glyphs" --epochs "${FINAL_EPOCHS:-15}" --shots "$shots" --lr 0.05 --batch-size 64
       --schedule cosine --quiet --overwrite)
for m in full linear; do
  "$aft" finetune --method "$m" --weights "$demo/runs/source" --out "$out/final-$m" "${final[@]}" > "$out/final-$m.log" 2>&1
done
for p in $presets; do
  for m in $methods; do
    if [ "$m" = multisource ]; then
      k=$(/usr/bin/python3 -c "import json,sys; print(','.join(map(str, json.load(open(sys.argv[1]))['method_report']['search']['gbest_frozen'])))" "$out/$m-$p/summary.json")
      "$aft" finetune --method multisource --source "$demo/runs/source" --source "$demo/runs/source-glyphs" --frozen "$k" \
        --out "$out/final-$m-$p" "${final[@]}" > "$out/final-$m-$p.log" 2>&1
    else
      "$aft" finetune --method contribution --weights "$demo/runs/source" --ratios "$out/$m-$p/summary.json" \
        --search-preset none --out "$out/final-$m-$p" "${final[@]}" > "$out/final-$m-$p.log" 2>&1
    fi
  done
done
/usr/bin/python3 - "$out" $presets <<'PY'
import json, os, sys
out, presets = sys.argv[1], sys.argv[2:]
def final(name):
    path = os.path.join(out, "final-" + name, "summary.json")
    return "%.4f" % json.load(open(path))["test_accuracy"] if os.path.exists(path) else "-"
print("| method | preset | evaluations | proxy epochs | search s | total s | test acc | test acc, final retrained |")
print("|---|---|---|---|---|---|---|---|")
for m in os.environ.get("METHODS", "contribution multisource").split():
    for p in presets:
        if not os.path.exists(os.path.join(out, "%s-%s" % (m, p), "summary.json")):
            continue
        s = json.load(open(os.path.join(out, "%s-%s" % (m, p), "summary.json")))
        r = s["method_report"]["search"]
        print("| %s | %s | %d | %d | %.0f | %.0f | %.4f | %s |" % (m, p, r["evaluations_run"], r["proxy_epochs_run"],
              r["seconds"], s["seconds"], s["test_accuracy"], final("%s-%s" % (m, p))))
for m in ("full", "linear"):
    print("| %s | - | - | - | - | - | - | %s |" % (m, final(m)))
PY
