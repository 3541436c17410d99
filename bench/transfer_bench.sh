#!/bin/bash
# docs/benchmarks.md §3: transfer accuracy of every method on the glyph task from a Fashion-MNIST
# source (multisource adds a glyph-pretrained second source), several seeds. Each seed is one
# `aft demo` (its data split, source pretraining and every method seeded alike) plus a greedy
# soup of the runs that share the source and head (full, l2sp, auto-rgn, partial). Prints
# mean ± std of test accuracy, trainable parameters and wall time per method.
# Usage: bench/transfer_bench.sh [AFT_BINARY] ; env: SEEDS="0 1 2" EPOCHS=3 OUT=bench-out/transfer
source "$(dirname "$0")/lib.sh" "$@"
seeds="${SEEDS:-0 1 2}"
epochs="${EPOCHS:-3}"
out="${OUT:-$here/../bench-out/transfer}"
mkdir -p "$out"
for s in $seeds; do
  dir="$out/seed$s"
  echo "== seed $s: $aft demo --dir $dir --seed $s --epochs $epochs"
  "$aft" demo --dir "$dir" --seed "$s" --epochs "$epochs" > "$dir.log" 2>&1 || { tail -5 "$dir.log"; exit 1; }
  r="$dir/runs"
  "$aft" soup --runs "$r/full" "$r/l2sp" "$r/auto-rgn" "$r/partial" --mode greedy --out "$r/soup" --overwrite \
    >> "$dir.log" 2>&1 || { tail -5 "$dir.log"; exit 1; }
done
/usr/bin/python3 "$here/transfer_table.py" "$out" $seeds
