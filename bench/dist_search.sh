#!/bin/bash
# Parallel search: wall time of the same contribution-ratio PSO (synchronous order, so both
# runs evaluate the same particles and reach the same history) with 1 and with 2 processes
# on loopback (Gloo). Each process trains its particles alone with --threads THREADS.
# Usage: bench/dist_search.sh [AFT_BINARY] ; env: THREADS=1 PARTICLES=4 ITERATIONS=2 PROXY_EPOCHS=2
source "$(dirname "$0")/lib.sh" "$@"
threads="${THREADS:-1}"
particles="${PARTICLES:-4}"
iterations="${ITERATIONS:-2}"
proxy_epochs="${PROXY_EPOCHS:-2}"
work="${TMPDIR:-/tmp}/aft_dist_search_bench"
rm -rf "$work" && mkdir -p "$work"

"$aft" data fashion-mnist --out "$work/fm" --classes 0,1,2,3 --per-class 64 --test-per-class 8 > /dev/null
"$aft" pretrain --model resnet18 --stem small --width 0.25 --data "$work/fm" --out "$work/src" --epochs 1 \
  --batch-size 32 --threads "$threads" --quiet > /dev/null
args=(finetune --method contribution --weights "$work/src" --data "$work/fm" --search-preset fast
      --particles "$particles" --iterations "$iterations" --proxy-epochs "$proxy_epochs" --pso-order synchronous
      --epochs 1 --batch-size 16 --threads "$threads" --workers 1 --quiet)

search_seconds() { /usr/bin/python3 -c 'import json,sys; print("%.1f" % json.load(open(sys.argv[1]))["method_report"]["search"]["seconds"])' "$1/summary.json"; }

"$aft" "${args[@]}" --out "$work/p1" > /dev/null
on_ranks 2 "${args[@]}" --out "$work/p2"

same=$(/usr/bin/python3 - "$work" <<'PY'
import json, sys
def hist(run):
    s = json.load(open(sys.argv[1] + "/" + run + "/summary.json"))["method_report"]["search"]
    return [(e["ratios"], e["fitness"], e["val_curve"], e["pruned"]) for e in s["evaluations"]]
print("identical" if hist("p1") == hist("p2") else "DIFFERENT")
PY
)
t1=$(search_seconds "$work/p1")
t2=$(search_seconds "$work/p2")
evals=$(( particles * (iterations + 1) ))
echo "dist_search: $evals evaluations, $(nproc) cores, --threads $threads: 1 process ${t1} s, 2 processes ${t2} s" \
     "(speed-up $(/usr/bin/python3 -c "print('%.2f' % ($t1 / $t2))")x), histories $same"
