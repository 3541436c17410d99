#!/bin/bash
# The references' defaults, side by side (issue 20): each changed default against the old one,
# same source, target, budget and seeds. Prints mean ± std test accuracy per setting.
#   partial: frozen units' batch-norm statistics follow the target (new) vs --freeze-bn-stats (old)
#   spottune: --frozen-bn train (new) vs freeze (old); policy at the reference's width (new) vs
#             the backbone's --width (old); --preset spottune (0.1/0.01, drops at 40/60/80 of 110
#             scaled) vs the common recipe; Global-k (compact global policy) for K = 2, 4, 6
# Source: a width-0.25 small-stem ResNet-18 pretrained on 6,000 Fashion-MNIST images; target:
# 26 printed letters in fonts held out from training (4 test fonts x 6 samples = 624 images).
# Usage: bench/defaults_bench.sh [AFT_BINARY] ; env: SEEDS="0 1 2" EPOCHS=5 OUT=bench-out/defaults
source "$(dirname "$0")/lib.sh" "$@"
out="${OUT:-$here/../bench-out/defaults}"
epochs="${EPOCHS:-5}"
seeds="${SEEDS:-0 1 2}"
mkdir -p "$out"
[ -d "$out/fm/train" ] || "$aft" data fashion-mnist --out "$out/fm" --per-class 600 --test-per-class 100 >/dev/null
[ -d "$out/glyphs/train" ] || "$aft" data glyphs --out "$out/glyphs" --per-font 6 --seed 1 >/dev/null
[ -f "$out/source/summary.json" ] || "$aft" pretrain --model resnet18 --stem small --width 0.25 --data "$out/fm" \
  --out "$out/source" --epochs 6 --lr 0.05 --batch-size 64 --quiet --overwrite
# Every run: these plus its own flags; the common recipe adds --lr 0.05 and a cosine schedule,
# except for the preset run, whose recipe is the preset's.
base=(--weights "$out/source" --data "$out/glyphs" --epochs "$epochs" --batch-size 64 --threads 1 --quiet --overwrite)
recipe=(--lr 0.05 --schedule cosine)
run() {  # run NAME SEED ARGS... (a finished run is kept: the bench resumes where it stopped)
  local name=$1 seed=$2; shift 2
  [ -f "$out/runs/$name-s$seed/summary.json" ] && return 0
  local extra=("${recipe[@]}")
  [[ " $* " == *" --preset "* ]] && extra=()
  "$aft" finetune "${base[@]}" "${extra[@]}" --seed "$seed" --out "$out/runs/$name-s$seed" "$@" \
    > "$out/runs-$name-s$seed.log" 2>&1 || { echo "failed: $name seed $seed"; tail -2 "$out/runs-$name-s$seed.log"; }
}
mkdir -p "$out/runs"
for s in $seeds; do
  run full "$s" --method full
  for strategy in first-half last-half; do
    run "partial-$strategy" "$s" --method partial --strategy "$strategy"
    run "partial-$strategy-freeze-bn-stats" "$s" --method partial --strategy "$strategy" --freeze-bn-stats
  done
  run spottune "$s" --method spottune
  run spottune-frozen-bn-freeze "$s" --method spottune --frozen-bn freeze
  run spottune-policy-width-0.25 "$s" --method spottune --policy-width 0.25
  run spottune-preset "$s" --method spottune --preset spottune
done
for k in 2 4 6; do run "spottune-global-k$k" 0 --method spottune --global-k "$k" --global-k-weight 1; done
/usr/bin/python3 - "$out/runs" <<'PY'
import json, os, re, statistics, sys
root = sys.argv[1]
rows = {}
for d in sorted(os.listdir(root)):
    f = os.path.join(root, d, "summary.json")
    if not os.path.exists(f):
        continue
    s = json.load(open(f))
    name = re.sub(r"-s\d+$", "", d)
    rows.setdefault(name, []).append(s)
print("| setting | seeds | test acc (mean ± std) | best val | notes |")
print("|---|---|---|---|---|")
for name, runs in rows.items():
    acc = [r["test_accuracy"] for r in runs]
    val = [r["best_val_accuracy"] for r in runs]
    sd = statistics.stdev(acc) if len(acc) > 1 else 0.0
    note = ""
    gk = runs[0].get("method_report", {}).get("global_k")
    if isinstance(gk, dict):
        note = "route: %d blocks tuned for all (sum v = %.2f)" % (len(gk["tuned_blocks"]), gk["sum_v_last_epoch"])
    elif "mean_tuned_blocks" in runs[0].get("method_report", {}):
        note = "mean tuned blocks %.2f" % statistics.mean(r["method_report"]["mean_tuned_blocks"] for r in runs)
    print("| %s | %d | %.3f ± %.3f | %.3f | %s |" % (name, len(runs), statistics.mean(acc), sd, statistics.mean(val), note))
PY
