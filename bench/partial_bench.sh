#!/bin/bash
# Partial fine-tuning on the benchmark task (issue #6): a ViT-Tiny-like source (vit_ti_8,
# 32 px) and a small ResNet source (the demo's resnet18, width 0.25), both pretrained on
# Fashion-MNIST, fine-tuned on the glyph task with every strategy that applies, with angle
# selection (largest, smallest, auto), and as greedy and uniform soups of the partial runs,
# against full fine-tuning. Prints one table per source.
# Usage: bench/partial_bench.sh [AFT_BINARY] ; env: DEMO=bench-out/transfer/seed0 EPOCHS=3 K=1 (angle: units per group)
#        VIT_PRETRAIN_EPOCHS=10 VIT_EPOCHS=8 VIT_K=3 OUT=bench-out/partial
# (A ViT-Tiny pretrained 3 epochs on 3,000 images does not transfer at all: every fine-tune of it
# stays at chance. 10 pretraining and 8 fine-tuning epochs give a weak but usable source.)
source "$(dirname "$0")/lib.sh" "$@"
require_demo
epochs="${EPOCHS:-3}"
out="${OUT:-$here/../bench-out/partial}"
mkdir -p "$out"
train=(--lr 0.05 --batch-size 64 --schedule cosine --quiet)
if [ ! -f "$out/vit-source/summary.json" ]; then
  echo "== pretraining vit_ti_8 on Fashion-MNIST"
  "$aft" pretrain --model vit_ti_8 --data "$demo/data/fashion-mnist" --out "$out/vit-source" --overwrite \
    --epochs "${VIT_PRETRAIN_EPOCHS:-10}" --preset vit-adamw --batch-size 64 --quiet > "$out/vit-source.log" 2>&1
fi
vit_train=(--preset vit-adamw --batch-size 64 --quiet)
one() {  # one(family, name, args...)
  local family=$1 name=$2; shift 2
  local weights="$demo/runs/source" extra=("${train[@]}") n="$epochs"
  if [ "$family" = vit ]; then weights="$out/vit-source"; extra=("${vit_train[@]}"); n="${VIT_EPOCHS:-8}"; fi
  echo "== $family $name"
  "$aft" finetune --weights "$weights" --data "$demo/data/glyphs" --epochs "$n" --out "$out/$family/$name" \
    --overwrite "${extra[@]}" "$@" > "$out/$family-$name.log" 2>&1 || { tail -3 "$out/$family-$name.log"; exit 1; }
}
for family in resnet vit; do
  one "$family" full --method full
  strategies="first-half last-half alternate norm-bias"
  [ "$family" = vit ] && strategies="attn ffn first-half last-half attn-last-half ffn-last-half alternate norm-bias"
  for s in $strategies; do one "$family" "$s" --method partial --strategy "$s"; done
  k="${K:-1}"; [ "$family" = vit ] && k="${VIT_K:-3}"
  for p in largest smallest auto; do one "$family" "angle-$p" --method partial --select angle --pick "$p" --k "$k"; done
  partials=()
  for d in "$out/$family"/*; do [ "$(basename "$d")" != full ] && [[ "$(basename "$d")" != soup-* ]] && partials+=("$d"); done
  bn=(); [ "$family" = resnet ] && bn=(--recalibrate-bn)
  for mode in greedy uniform; do
    "$aft" soup --runs "${partials[@]}" --mode "$mode" --out "$out/$family/soup-$mode" --overwrite "${bn[@]}" \
      > "$out/$family-soup-$mode.log" 2>&1 || { tail -3 "$out/$family-soup-$mode.log"; exit 1; }
  done
done
/usr/bin/python3 - "$out" <<'PY'
import json, os, sys
out = sys.argv[1]
for family in ("resnet", "vit"):
    print("\n%s source:\n" % family)
    print("| run | test acc | val acc | trainable params | seconds | tuned units / kept |")
    print("|---|---|---|---|---|---|")
    for name in sorted(os.listdir(os.path.join(out, family))):
        path = os.path.join(out, family, name, "summary.json")
        if not os.path.exists(path):
            continue
        s = json.load(open(path))
        r = s.get("method_report", {})
        extra = r.get("trainable_units", "")
        if name.startswith("soup"):
            extra = "kept " + " ".join(os.path.basename(k) for k in r.get("kept", []))
        if isinstance(extra, list):
            extra = " ".join(extra) if len(extra) <= 6 else "%d units" % len(extra)
        print("| %s | %.4f | %.4f | %s | %s | %s |" % (name, s.get("test_accuracy", -1), s.get("best_val_accuracy", s.get("val_accuracy", -1)),
              s.get("trainable_params", "-"), "%.1f" % s["seconds"] if "seconds" in s else "-", extra))
PY
