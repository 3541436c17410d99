#!/bin/bash
# --method auto against the single methods it races (issue 17), on few-shot suite targets:
# the same source, data, epochs and seeds; auto with --budget 3 and its default candidates.
# Prints mean ± std test accuracy per method and target, and auto's picks and spend.
# Source: bench/defaults_bench.sh's width-0.25 ResNet-18 (6,000 Fashion-MNIST images, 0.858);
# targets: bench/suite_data.sh's 10-shot mnist, print-fonts and georgian.
# Usage: bench/auto_bench.sh [AFT_BINARY] ; env: SEEDS="0 1 2" EPOCHS=15 TARGETS="..." OUT=bench-out/auto
source "$(dirname "$0")/lib.sh" "$@"
out="${OUT:-$here/../bench-out/auto}"
data="${DATA:-$here/../bench-out/suite/data}"
source_run="${SOURCE:-$here/../bench-out/defaults/source}"
epochs="${EPOCHS:-15}"
seeds="${SEEDS:-0 1 2}"
targets="${TARGETS:-mnist-10 print-fonts-10 georgian-10}"
[ -f "$source_run/model.safetensors" ] || { echo "auto_bench.sh: no source at $source_run (bench/defaults_bench.sh)" >&2; exit 1; }
mkdir -p "$out/runs"
run() {  # run TARGET METHOD SEED ARGS... (a finished run is kept: the bench resumes where it stopped)
  local target=$1 name=$2 seed=$3; shift 3
  local dir="$out/runs/$target-$name-s$seed"
  [ -f "$dir/summary.json" ] && return 0
  local resume=(--out "$dir" --overwrite)
  [ -f "$dir/config.json" ] && resume=(--resume "$dir")
  local lr=0.05
  [ "$name" = linear ] && lr=0.15  # the probe's head starts from nothing: 3x, as auto's linear@3
  "$aft" finetune --weights "$source_run" --data "$data/$target" --epochs "$epochs" --lr "$lr" --schedule cosine \
    --val-fraction 0.2 --batch-size 32 --threads 1 --seed "$seed" --quiet "${resume[@]}" "$@" > "$dir.log" 2>&1 ||
    { echo "failed: $target $name seed $seed"; tail -2 "$dir.log"; }
}
for s in $seeds; do
  for t in $targets; do
    run "$t" full "$s" --method full
    run "$t" linear "$s" --method linear
    run "$t" lp-ft "$s" --method lp-ft
    run "$t" l2sp "$s" --method l2sp
    run "$t" auto "$s" --method auto --budget 3
  done
done
/usr/bin/python3 - "$out/runs" <<'PY'
import json, os, re, statistics, sys
root = sys.argv[1]
rows, picks = {}, {}
for d in sorted(os.listdir(root)):
    f = os.path.join(root, d, "summary.json")
    if not os.path.exists(f):
        continue
    m = re.match(r"(.+)-(full|linear|lp-ft|l2sp|auto)-s(\d+)$", d)
    s = json.load(open(f))
    rows.setdefault((m.group(1), m.group(2)), []).append(s["test_accuracy"])
    if m.group(2) == "auto":
        picks.setdefault(m.group(1), []).append("%s (spent %.2f)" % (s["chosen"], s["budget_spent"]))
for (target, method), v in sorted(rows.items()):
    sd = statistics.stdev(v) if len(v) > 1 else 0.0
    print("%-16s %-8s %.3f ± %.3f  (n=%d)" % (target, method, statistics.mean(v), sd, len(v)))
for target, p in sorted(picks.items()):
    print("%-16s auto chose: %s" % (target, ", ".join(p)))
PY
