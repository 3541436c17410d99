#!/bin/bash
# The ablation the AMCF paper makes, on the benchmark task (issue #8), per seed of
# bench/transfer_bench.sh: AMCF (the demo's multisource run: searched k, lambda 0.2) against
# the same sources and k with lambda = 0 (no collaboration), and each source fine-tuned alone
# (full fine-tuning; the Fashion-MNIST source alone is the demo's `full` run).
# Usage: bench/multisource_ablation.sh [AFT_BINARY] ; env: SEEDS="0 1 2" EPOCHS=3 THREADS=0
#        TRANSFER=bench-out/transfer
source "$(dirname "$0")/lib.sh" "$@"
seeds="${SEEDS:-0 1 2}"
transfer="${TRANSFER:-$here/../bench-out/transfer}"
for s in $seeds; do
  r="$transfer/seed$s/runs"
  [ -f "$r/multisource/summary.json" ] || { echo "no $r/multisource (run bench/transfer_bench.sh)"; exit 1; }
  k=$(/usr/bin/python3 -c "import json,sys; print(','.join(str(x['frozen']) for x in json.load(open(sys.argv[1]))['method_report']['sources']))" "$r/multisource/summary.json")
  common=(--data "$transfer/seed$s/data/glyphs" --epochs "${EPOCHS:-3}" --lr 0.05 --batch-size 64 --schedule cosine
          --seed "$s" --threads "${THREADS:-0}" --quiet --overwrite)
  "$aft" finetune --method multisource --source "$r/source" --source "$r/source-glyphs" --frozen "$k" \
    --collab-weight 0 --out "$r/multisource-lambda0" "${common[@]}" > /dev/null
  "$aft" finetune --method full --weights "$r/source-glyphs" --out "$r/full-source-glyphs" "${common[@]}" > /dev/null
done
/usr/bin/python3 - "$transfer" $seeds <<'PY'
import json, os, statistics, sys
root, seeds = sys.argv[1], sys.argv[2:]
rows = [("AMCF (lambda 0.2, searched k)", "multisource"), ("same k, lambda 0", "multisource-lambda0"),
        ("Fashion-MNIST source alone (full)", "full"), ("glyph source alone (full)", "full-source-glyphs")]
print("| run | test acc (mean ± std, %d seeds) | per seed |" % len(seeds))
print("|---|---|---|")
for label, name in rows:
    acc = [json.load(open(os.path.join(root, "seed" + s, "runs", name, "summary.json")))["test_accuracy"] for s in seeds]
    sd = statistics.stdev(acc) if len(acc) > 1 else 0
    print("| %s | %.3f ± %.3f | %s |" % (label, statistics.mean(acc), sd, " ".join("%.3f" % a for a in acc)))
PY
