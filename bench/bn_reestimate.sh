#!/bin/bash
# Issue 29, batch-norm statistics that match the weights: full fine-tuning from the zoo's
# Fashion-MNIST source (resnet18w25-fmnist-16ep) on the suite's Fashion targets with the suite's
# recipe (SGD 0.05, cosine, batch 32, 20 % validation) and no early stop, at 3, 6 and 15 epochs,
# with --bn-reestimate off and on, over seeds; then the table (test accuracy mean +- std over
# seeds, the re-estimation's seconds, the run's seconds) for docs/benchmarks.md.
#   bench/bn_reestimate.sh [AFT_BINARY]
# env: TARGETS [fashion-10 fashion-50]  EPOCHS [3 6 15]  SEEDS [0 1 2]  MODES [off on]  JOBS [2]
#      DATA [bench-out/suite/data; a missing fashion-K target is made as bench/suite_data.sh does]
#      OUT [bench-out/bn_reestimate]  SOURCE [zoo/resnet18w25-fmnist-16ep.safetensors]
# Finished runs are kept: a rerun only adds what is missing.
source "$(dirname "$0")/lib.sh" "$@"
out="${OUT:-$here/../bench-out/bn_reestimate}"
data="${DATA:-$here/../bench-out/suite/data}"
source_weights="${SOURCE:-$here/../zoo/resnet18w25-fmnist-16ep.safetensors}"
read -r -a targets <<< "${TARGETS:-fashion-10 fashion-50}"
read -r -a epoch_list <<< "${EPOCHS:-3 6 15}"
read -r -a seeds <<< "${SEEDS:-0 1 2}"
read -r -a modes <<< "${MODES:-off on}"
jobs="${JOBS:-2}"
[ -f "$source_weights" ] || { echo "bn_reestimate.sh: no source weights at $source_weights" >&2; exit 1; }
mkdir -p "$out" "$data"
# A copy of the binary: a rebuild during the runs must not swap the program under them.
cp "$aft" "$out/aft.$$" && aft="$out/aft.$$"
trap 'rm -f "$aft"' EXIT

for t in "${targets[@]}"; do
  if [ ! -d "$data/$t/train" ]; then
    case "$t" in
      fashion-*) "$aft" data fashion-mnist --per-class "${t#fashion-}" --out "$data/$t" --overwrite | grep '^wrote' ;;
      *) echo "bn_reestimate.sh: no target $data/$t (bench/suite_data.sh makes it)" >&2; exit 1 ;;
    esac
  fi
done

run() {  # run TARGET EPOCHS SEED MODE
  local dir="$out/runs/$1/e$2/$4/s$3"
  [ -f "$dir/summary.json" ] && return 0
  mkdir -p "$(dirname "$dir")"
  nice -n 10 "$aft" finetune --weights "$source_weights" --data "$data/$1" --method full --epochs "$2" --lr 0.05 \
    --schedule cosine --val-fraction 0.2 --batch-size 32 --threads 1 --seed "$3" --bn-reestimate "$4" --quiet \
    --out "$dir" --overwrite > "$dir.log" 2>&1 || { echo "failed: $dir: $(tail -1 "$dir.log")"; return 0; }
  echo "done: $1 $2 epochs seed $3 $4"
}

start=$(date +%s)
for t in "${targets[@]}"; do
  for e in "${epoch_list[@]}"; do
    for s in "${seeds[@]}"; do
      for m in "${modes[@]}"; do
        while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n; done
        run "$t" "$e" "$s" "$m" &
      done
    done
  done
done
wait
echo "runs took $(( $(date +%s) - start )) s"

python3 - "$out/runs" <<'EOF'
import json, math, os, sys
root = sys.argv[1]
def stats(xs):
    if not xs: return float("nan"), float("nan")
    m = sum(xs) / len(xs)
    sd = math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1)) if len(xs) > 1 else 0.0
    return m, sd
rows = {}
for target in sorted(os.listdir(root)):
    for e in os.listdir(os.path.join(root, target)):
        for mode in os.listdir(os.path.join(root, target, e)):
            d = os.path.join(root, target, e, mode)
            for s in sorted(os.listdir(d)):
                p = os.path.join(d, s)
                if not os.path.isfile(os.path.join(p, "summary.json")): continue
                summ = json.load(open(os.path.join(p, "summary.json")))
                bn = 0.0
                vals = []
                for line in open(os.path.join(p, "metrics.jsonl")):
                    r = json.loads(line)
                    bn += r.get("bn_reestimate_seconds", 0.0)
                    vals.append(r.get("val_accuracy", -1))
                key = (target, int(e[1:]), mode)
                rows.setdefault(key, []).append((summ["test_accuracy"], bn, summ["train_seconds"], summ["best_val_accuracy"], vals))
print("| target | epochs | bn re-estimation | seeds | test accuracy | best val | re-estimation s | run s |")
print("|---|---|---|---|---|---|---|---|")
for key in sorted(rows, key=lambda k: (k[0], k[1], k[2] != "off")):
    r = rows[key]
    t = stats([x[0] for x in r]); v = stats([x[3] for x in r])
    print(f"| {key[0]} | {key[1]} | {key[2]} | {len(r)} | {t[0]:.3f} ± {t[1]:.3f} | {v[0]:.3f} ± {v[1]:.3f} | "
          f"{stats([x[1] for x in r])[0]:.1f} | {stats([x[2] for x in r])[0]:.1f} |")
print()
print("validation accuracy by epoch, seed 0 (15 epochs):")
for key in sorted(rows):
    if key[1] == max(k[1] for k in rows):
        print(key[0], key[2], " ".join(f"{a:.2f}" for a in rows[key][0][4]))
EOF
