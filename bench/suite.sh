#!/bin/bash
# docs/benchmarks.md §3, the transfer suite's runner (issue 20): every method on every target, over
# seeds, from each source, with the same recipe and maximum budget (--epochs with early stopping
# on validation), then the table (`aft report --suite`). Finished runs are kept, so a rerun
# resumes where the last one stopped; an interrupted run resumes from its checkpoint.
#   bench/suite.sh [AFT_BINARY]
# env (defaults in brackets):
#   SOURCES   NAME=WEIGHTS ... [every zoo/*.safetensors of a ResNet, else defaults=bench-out/defaults/source]
#   DATA      the targets' root [bench-out/suite/data]      TARGETS  [every NAME-10 folder in DATA]
#   METHODS   [every entry of the table below]             SEEDS    [0 1 2]
#   EPOCHS [40]  PATIENCE [10]  MIN_EPOCHS [20]  JOBS: runs at once, one thread each [2]
#   OUT [bench-out/suite]
#   MARKDOWN=1: print the tables as Markdown (for docs/benchmarks.md)
source "$(dirname "$0")/lib.sh" "$@"
out="${OUT:-$here/../bench-out/suite}"
# The suite runs a copy of the binary it started with: a rebuild during the hour it takes
# must not swap (or, while linking, remove) the program under the runs.
mkdir -p "$out"
cp "$aft" "$out/aft.$$" && aft="$out/aft.$$"
trap 'rm -f "$aft"' EXIT
data="${DATA:-$here/../bench-out/suite/data}"
# 10-shot targets give 3 steps an epoch: 40 epochs is ~120 steps, where full fine-tuning's
# validation accuracy has levelled off; no early stop before epoch 20 (a 20-image validation
# split sits at chance for the first epochs, and a patience of 5 stopped runs there).
epochs="${EPOCHS:-40}"
patience="${PATIENCE:-10}"
min_epochs="${MIN_EPOCHS:-20}"
seeds="${SEEDS:-0 1 2}"
jobs="${JOBS:-2}"

# Each method: a name and the flags that make it. One recipe for all (SGD 0.05, cosine, batch 32);
# the linear probe's head starts from nothing, so it gets 3x the rate (as auto's linear@3). LoRA
# keeps 0.05 (at 0.15 its convolution pairs diverged on mnist-10); OFT takes 0.01 (mnist-10,
# seed 0: 0.05 diverges, 0.01 reaches 0.54, 0.002 0.31).
declare -A method_args method_lr method_val
method_args[linear]="--method linear"; method_lr[linear]=0.15
method_args[full]="--method full"
method_args[l2sp]="--method l2sp"
method_args[auto-rgn]="--method auto-rgn"
method_args[lp-ft]="--method lp-ft"
method_args[delta]="--method delta"
method_args[bss]="--method bss"
method_args[lora]="--method lora"
method_args[oft]="--method oft"; method_lr[oft]=0.01
method_args[partial-last-half]="--method partial --strategy last-half"
method_args[partial-angle]="--method partial --select angle --k auto --pick auto"
method_args[spottune]="--method spottune"
method_args[spottune-gk]="--method spottune --global-k 4"
method_args[contribution]="--method contribution --search-preset fast"
method_args[multisource]="--method multisource --search-preset fast"  # the first two sources
method_args[auto]="--method auto --budget 3"
method_args[auto-b6]="--method auto --budget 6"  # not in the default list: does a larger budget choose better?
# Not in the default list: the lp-ft probe rates measured side by side (0.001 is the default
# since 2026-12-01; the suite's lp-ft rows before that ran at 0.1).
method_args[lp-ft-p001]="--method lp-ft --probe-lr 0.001"
method_args[lp-ft-p1]="--method lp-ft --probe-lr 0.1"
# auto retrains its winner on every training image (validation included); these two do the
# same with no validation split and no early stop, so that auto is compared with like.
method_args[full-all]="--method full"; method_val[full-all]=0
method_args[lp-ft-all]="--method lp-ft"; method_val[lp-ft-all]=0
method_args[soup]=""                               # greedy soup of full, l2sp, auto-rgn, partial-angle
methods_all=(linear full l2sp auto-rgn lp-ft delta bss lora oft partial-last-half partial-angle spottune spottune-gk
  contribution multisource soup auto full-all lp-ft-all)
read -r -a methods <<< "${METHODS:-${methods_all[*]}}"
for m in "${methods[@]}"; do
  [ -n "${method_args[$m]+x}" ] || { echo "suite.sh: unknown method $m (known: ${methods_all[*]})" >&2; exit 2; }
done

if [ -n "${SOURCES:-}" ]; then
  read -r -a sources <<< "$SOURCES"
else
  sources=()
  for card in "$here"/../zoo/resnet*.json; do
    [ -f "$card" ] && sources+=("$(basename "$card" .json)=$here/../zoo/$(basename "$card" .json).safetensors")
  done
  [ ${#sources[@]} -gt 0 ] || sources=("defaults=$here/../bench-out/defaults/source")
fi
if [ -n "${TARGETS:-}" ]; then
  read -r -a targets <<< "$TARGETS"
else
  targets=()
  for d in "$data"/*-10; do [ -d "$d/train" ] && targets+=("$(basename "$d")"); done
fi
[ ${#targets[@]} -gt 0 ] || { echo "suite.sh: no targets in $data (bench/suite_data.sh makes them)" >&2; exit 1; }
for t in "${targets[@]}"; do
  [ -d "$data/$t/train" ] || { echo "suite.sh: no target $data/$t (bench/suite_data.sh makes it)" >&2; exit 1; }
done
for s in "${sources[@]}"; do
  w="${s#*=}"
  [ -e "$w" ] || { echo "suite.sh: no source weights at $w (SOURCES=NAME=WEIGHTS)" >&2; exit 1; }
done

elapsed() { awk -v a="$(date +%s.%N)" -v b="$1" 'BEGIN { printf "%.1f\n", a - b }'; }

# run SOURCE TARGET METHOD SEED: one fine-tune into $out/runs/SOURCE/TARGET/METHOD/sSEED (its log
# beside it). A finished run is skipped, a started one resumes from its checkpoint.
run() {
  local src=$1 target=$2 method=$3 seed=$4
  local name="${src%%=*}" weights="${src#*=}"
  local dir="$out/runs/$name/$target/$method/s$seed"
  [ -f "$dir/summary.json" ] && return 0
  mkdir -p "$(dirname "$dir")"
  local from=(--weights "$weights")
  if [ "$method" = multisource ]; then  # the first two sources together, listed under the first
    [ ${#sources[@]} -ge 2 ] && [ "$src" = "${sources[0]}" ] || return 0
    from=(--source "${sources[0]#*=}" --source "${sources[1]#*=}")
  fi
  local start; start=$(date +%s.%N)
  if [ -f "$dir/config.json" ]; then
    "$aft" finetune --resume "$dir" --threads 1 --quiet > "$dir.log" 2>&1
  else
    # shellcheck disable=SC2086
    local val="${method_val[$method]:-0.2}" stop=(--patience "$patience" --min-epochs "$min_epochs")
    [ "$val" = 0 ] && stop=()
    "$aft" finetune "${from[@]}" --data "$data/$target" --epochs "$epochs" "${stop[@]}" --lr "${method_lr[$method]:-0.05}" \
      --schedule cosine --val-fraction "$val" --batch-size 32 --threads 1 --seed "$seed" --quiet --out "$dir" \
      ${method_args[$method]} > "$dir.log" 2>&1
  fi || { echo "failed: $name $target $method seed $seed: $(tail -1 "$dir.log")"; return 0; }
  elapsed "$start" > "$dir.seconds"
  echo "done: $name $target $method seed $seed ($(cut -c1-6 "$dir.seconds") s)"
}

soup() {  # soup SOURCE TARGET SEED: greedy soup of the runs that share the source's start
  local name="${1%%=*}" target=$2 seed=$3
  local base="$out/runs/$name/$target" dir="$out/runs/$name/$target/soup/s$seed"
  [ -f "$dir/summary.json" ] && return 0
  local ingredients=()
  for m in full l2sp auto-rgn partial-angle; do
    [ -f "$base/$m/s$seed/summary.json" ] && ingredients+=("$base/$m/s$seed")
  done
  [ ${#ingredients[@]} -ge 2 ] || return 0
  mkdir -p "$(dirname "$dir")"
  local start; start=$(date +%s.%N)
  "$aft" soup --runs "${ingredients[@]}" --mode greedy --out "$dir" --overwrite --threads 1 --quiet > "$dir.log" 2>&1 ||
    { echo "failed: $name $target soup seed $seed: $(tail -1 "$dir.log")"; return 0; }
  elapsed "$start" > "$dir.seconds"
}

# A pool of $jobs runs at a time; every run uses one thread (small models scale better by runs
# than by threads on a few cores).
running=0
for seed in $seeds; do
  for src in "${sources[@]}"; do
    for target in "${targets[@]}"; do
      for method in "${methods[@]}"; do
        [ "$method" = soup ] && continue
        run "$src" "$target" "$method" "$seed" &
        running=$((running + 1))
        if [ "$running" -ge "$jobs" ]; then wait -n || true; running=$((running - 1)); fi
      done
    done
  done
done
wait
if [[ " ${methods[*]} " == *" soup "* ]]; then
  for seed in $seeds; do
    for src in "${sources[@]}"; do
      for target in "${targets[@]}"; do soup "$src" "$target" "$seed"; done
    done
  done
fi
for src in "${sources[@]}"; do  # the table, printed and drawn in $out/report-SOURCE.html
  name="${src%%=*}"
  [ -d "$out/runs/$name" ] || continue
  echo "source $name: test accuracy, mean ± std over seeds"
  "$aft" report --suite "$out/runs/$name" --out "$out/report-$name.html" ${MARKDOWN:+--markdown}
done
