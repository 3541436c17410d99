#!/bin/bash
# Issue 26's first measurement: does an early rung's fitness rank the race's candidates as their
# fitness after the whole schedule does? One race with --first-rung EPOCHS (every candidate
# trains the whole schedule on every fold: the ground truth), then, from each step's per-epoch
# validation history in race.json, the fitness a race would have seen at rungs of 1, 2 and 4
# epochs (the best validation accuracy so far, mean over the folds; a rung continues the full
# schedule, so these are exactly a normal race's rung fitnesses) against the fitness at EPOCHS,
# and Kendall's tau-b between the two orders. With BN=off and BN=auto it shows what batch-norm
# re-estimation at every validation does to the early rungs.
#   bench/race_tau.sh [AFT_BINARY]
# env: WEIGHTS [zoo/resnet18w25-chars.safetensors]  DATA [bench-out/suite/data/fashion-10]
#      EPOCHS [40]  SEEDS [0]  BN [auto off]  RUNGS [1 2 4]  OUT [bench-out/race_tau]
# A finished race is kept: a rerun only adds what is missing, and prints the table again.
source "$(dirname "$0")/lib.sh" "$@"
out="${OUT:-$here/../bench-out/race_tau}"
weights="${WEIGHTS:-$here/../zoo/resnet18w25-chars.safetensors}"
data="${DATA:-$here/../bench-out/suite/data/fashion-10}"
epochs="${EPOCHS:-40}"
read -r -a seeds <<< "${SEEDS:-0}"
read -r -a bns <<< "${BN:-auto off}"
rungs="${RUNGS:-1 2 4}"
[ -f "$weights" ] || { echo "race_tau.sh: no source weights at $weights" >&2; exit 1; }
if [ ! -d "$data/train" ]; then
  case "$(basename "$data")" in
    fashion-*) "$aft" data fashion-mnist --per-class "${data##*fashion-}" --out "$data" | grep '^wrote' ;;
    *) echo "race_tau.sh: no target at $data (bench/suite_data.sh makes the suite's)" >&2; exit 1 ;;
  esac
fi
mkdir -p "$out"
cp "$aft" "$out/aft.$$" && aft="$out/aft.$$"  # a rebuild during the races must not swap the binary
trap 'rm -f "$aft"' EXIT
name="$(basename "$weights" .safetensors)-$(basename "$data")"
for bn in "${bns[@]}"; do
  for seed in "${seeds[@]}"; do
    dir="$out/$name/bn-$bn/s$seed"
    [ -f "$dir/summary.json" ] && continue
    mkdir -p "$(dirname "$dir")"
    start=$(date +%s)
    # The suite's recipe; no hedge and a budget that cuts nothing: every candidate runs to the end.
    args=(finetune --method auto --first-rung "$epochs" --budget 1000 --hedge none --weights "$weights" --data "$data"
          --epochs "$epochs" --lr 0.05 --schedule cosine --val-fraction 0.2 --batch-size 32 --seed "$seed"
          --bn-reestimate "$bn" --threads 2 --quiet --out "$dir")
    if [ -f "$dir/config.json" ]; then args=(finetune --resume "$dir" --quiet); fi
    nice -n 10 "$aft" "${args[@]}" > "$dir.log" 2>&1 || { echo "failed: $dir: $(tail -1 "$dir.log")"; continue; }
    echo "done: $name bn $bn seed $seed in $(( $(date +%s) - start )) s"
  done
done

python3 - "$out/$name" "$epochs" $rungs <<'EOF'
import json, os, sys
root, epochs, rungs = sys.argv[1], int(sys.argv[2]), [int(r) for r in sys.argv[3:]]

def tau_b(x, y):
    # Kendall's tau-b over pairs, ties counted as neither concordant nor discordant.
    n = len(x); c = d = tx = ty = 0
    for i in range(n):
        for j in range(i + 1, n):
            a, b = x[i] - x[j], y[i] - y[j]
            if a == 0 and b == 0: continue
            if a == 0: tx += 1; continue
            if b == 0: ty += 1; continue
            if a * b > 0: c += 1
            else: d += 1
    denom = ((c + d + tx) * (c + d + ty)) ** 0.5
    return (c - d) / denom if denom else float("nan")

print(f"| source-target | bn | seed | candidates | " + " | ".join(f"tau, rung {r}" for r in rungs) +
      f" | best at {epochs} | leader at rung {rungs[0]} |")
print("|---|---|---|---|" + "---|" * (len(rungs) + 2))
for bn in sorted(os.listdir(root)):
    for s in sorted(os.listdir(os.path.join(root, bn))):
        race = os.path.join(root, bn, s, "race.json")
        if not os.path.isfile(race) or not os.path.isfile(os.path.join(root, bn, s, "summary.json")): continue
        steps = json.load(open(race))["steps"]
        fit = {}  # label -> {epoch: mean over folds of best val so far}
        for key, step in steps.items():
            label = key.rsplit("/fold", 1)[0]
            best, curve = -1.0, {}
            for row in step.get("history", []):
                best = max(best, row.get("val_accuracy", -1.0))
                curve[row["epoch"]] = best
            fit.setdefault(label, []).append(curve)
        labels = sorted(fit)
        def at(label, e):
            vals = [c.get(e, max(c.values())) for c in fit[label]]
            return sum(vals) / len(vals)
        final = [at(l, epochs) for l in labels]
        taus = [tau_b([at(l, r) for l in labels], final) for r in rungs]
        best = max(labels, key=lambda l: at(l, epochs))
        lead = max(labels, key=lambda l: at(l, rungs[0]))
        print(f"| {os.path.basename(root)} | {bn[3:]} | {s[1:]} | {len(labels)} | " +
              " | ".join(f"{t:+.2f}" for t in taus) + f" | {best} {at(best, epochs):.3f} | {lead} {at(lead, rungs[0]):.3f} |")
EOF
