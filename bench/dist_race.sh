#!/bin/bash
# The auto race over processes: wall time of the same `--method auto` race with 1 and with 2
# processes on loopback (Gloo), each process training its steps alone with --threads THREADS.
# The two races rank alike (every step is trained by one process either way), so the script
# also checks that their steps' validation accuracies and their winners are the same.
# Usage: bench/dist_race.sh [AFT_BINARY] ; env: THREADS=1 REPEATS=3 BUDGET=3 EPOCHS=40
#   SOURCE=zoo/resnet18w25-chars.safetensors, the target: 10 Fashion-MNIST images per class
source "$(dirname "$0")/lib.sh" "$@"
threads="${THREADS:-1}"
repeats="${REPEATS:-3}"
source_weights="${SOURCE:-$here/../zoo/resnet18w25-chars.safetensors}"
work="${TMPDIR:-/tmp}/aft_dist_race_bench"
rm -rf "$work" && mkdir -p "$work"

"$aft" data fashion-mnist --size 32 --out "$work/fm" --per-class 10 --test-per-class 50 > /dev/null
args=(finetune --method auto --budget "${BUDGET:-3}" --weights "$source_weights" --data "$work/fm"
      --epochs "${EPOCHS:-40}" --lr 0.05 --schedule cosine --batch-size 32 --threads "$threads" --workers 1 --quiet)

race_seconds() { /usr/bin/python3 -c 'import json,sys; print("%.1f" % json.load(open(sys.argv[1]))["seconds"])' "$1/summary.json"; }

for i in $(seq "$repeats"); do
  "$aft" "${args[@]}" --out "$work/p1-$i" > /dev/null
  on_ranks 2 "${args[@]}" --out "$work/p2-$i"
  same=$(/usr/bin/python3 - "$work/p1-$i" "$work/p2-$i" <<'PY'
import json, sys
def race(run):
    steps = json.load(open(run + "/race.json"))["steps"]
    return {k: v["best_val_accuracy"] for k, v in steps.items()}, json.load(open(run + "/summary.json"))["chosen"]
print("same steps and winner" if race(sys.argv[1]) == race(sys.argv[2]) else "DIFFERENT")
PY
)
  t1=$(race_seconds "$work/p1-$i")
  t2=$(race_seconds "$work/p2-$i")
  echo "dist_race $i: $(nproc) cores, --threads $threads: 1 process ${t1} s, 2 processes ${t2} s" \
       "(speed-up $(/usr/bin/python3 -c "print('%.2f' % ($t1 / $t2))")x), $same"
done
