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
#   IMAGE_SIZE [0: the transform's own]  TRANSFORM [auto]  (what a real ImageNet source needs:
#     bench/suite_lite0.sh)  AUTO_BUDGET: auto's --budget [3]
#   MULTISOURCE   the weights multisource trains together, listed under the first source
#                 [the first two SOURCES]
#   OUT [bench-out/suite]
#   RESULTS  a folder (tracked) that keeps each finished run's small files, laid out as OUT/runs:
#     RESULTS/SOURCE/TARGET/METHOD/sSEED/{summary.json,config.json,metrics.jsonl} and sSEED.seconds,
#     never weights. A run recorded there is not run again, so a suite accumulates over machines
#     that keep only RESULTS; the table is then `aft report --suite RESULTS/SOURCE`.
#   STOP_AT  seconds since the epoch (date +%s): no run starts after it
#   MARKDOWN=1: print the tables as Markdown (for docs/benchmarks.md)  REPORT=0: no table at the end
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
image_args=(--transform "${TRANSFORM:-auto}")
[ "${IMAGE_SIZE:-0}" != 0 ] && image_args+=(--image-size "$IMAGE_SIZE")
results="${RESULTS:-}"

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
method_args[auto]="--method auto --budget ${AUTO_BUDGET:-3}"  # the race needs more below ~30 epochs (it says how much)
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
if [ -n "${MULTISOURCE:-}" ]; then
  read -r -a multi <<< "$MULTISOURCE"
else
  multi=()
  for s in "${sources[@]:0:2}"; do multi+=("${s#*=}"); done
fi
for w in "${sources[@]#*=}" "${multi[@]}"; do
  [ -e "$w" ] || { echo "suite.sh: no source weights at $w (SOURCES=NAME=WEIGHTS, MULTISOURCE)" >&2; exit 1; }
done

elapsed() { awk -v a="$(date +%s.%N)" -v b="$1" 'BEGIN { printf "%.1f\n", a - b }'; }
too_late() { [ -n "${STOP_AT:-}" ] && [ "$(date +%s)" -ge "$STOP_AT" ]; }
soup_ingredients=(full l2sp auto-rgn partial-angle)
want_soup=0
[[ " ${methods[*]} " == *" soup "* ]] && want_soup=1

# recorded NAME TARGET METHOD SEED: the run's small files are in $RESULTS.
recorded() { [ -n "$results" ] && [ -f "$results/$1/$2/$3/s$4/summary.json" ]; }
# record NAME TARGET METHOD SEED: copies a finished run's small files into $RESULTS (whole, or not
# at all: written beside OUT, then moved in).
record() {
  [ -n "$results" ] || return 0
  local dir="$out/runs/$1/$2/$3/s$4" rec="$results/$1/$2/$3/s$4" tmp
  tmp="$(mktemp -d "$out/record.XXXXXX")"
  cp "$dir/summary.json" "$dir/config.json" "$tmp/"
  if [ -f "$dir/metrics.jsonl" ] && [ "$(stat -c %s "$dir/metrics.jsonl")" -le 1048576 ]; then
    cp "$dir/metrics.jsonl" "$tmp/"
  fi
  mkdir -p "$(dirname "$rec")"
  rm -rf "$rec"
  mv "$tmp" "$rec"
  chmod 755 "$rec"
  if [ -f "$dir.seconds" ]; then cp "$dir.seconds" "$rec.seconds"; fi
}

# run SOURCE TARGET METHOD SEED: one fine-tune into $out/runs/SOURCE/TARGET/METHOD/sSEED (its log
# beside it). A finished run is skipped, a started one resumes from its checkpoint.
run() {
  local src=$1 target=$2 method=$3 seed=$4
  local name="${src%%=*}" weights="${src#*=}"
  local dir="$out/runs/$name/$target/$method/s$seed"
  if [ -f "$dir/summary.json" ]; then  # finished here (before RESULTS was set, perhaps)
    recorded "$name" "$target" "$method" "$seed" || record "$name" "$target" "$method" "$seed"
    return 0
  fi
  if recorded "$name" "$target" "$method" "$seed"; then
    # A soup still to be made needs its ingredients' weights, which RESULTS does not keep.
    [ "$want_soup" = 1 ] && [[ " ${soup_ingredients[*]} " == *" $method "* ]] &&
      ! recorded "$name" "$target" soup "$seed" || return 0
  fi
  too_late && return 0
  mkdir -p "$(dirname "$dir")"
  local from=(--weights "$weights") w
  if [ "$method" = multisource ]; then  # the MULTISOURCE weights together, listed under the first source
    [ ${#multi[@]} -ge 2 ] && [ "$src" = "${sources[0]}" ] || return 0
    from=()
    for w in "${multi[@]}"; do from+=(--source "$w"); done
  fi
  local start; start=$(date +%s.%N)
  if [ -f "$dir/config.json" ]; then
    "$aft" finetune --resume "$dir" --threads 1 --quiet > "$dir.log" 2>&1
  else
    # shellcheck disable=SC2086
    local val="${method_val[$method]:-0.2}" stop=(--patience "$patience" --min-epochs "$min_epochs")
    [ "$val" = 0 ] && stop=()
    "$aft" finetune "${from[@]}" --data "$data/$target" --epochs "$epochs" "${stop[@]}" --lr "${method_lr[$method]:-0.05}" \
      --schedule cosine --val-fraction "$val" --batch-size 32 "${image_args[@]}" --threads 1 --seed "$seed" --quiet \
      --out "$dir" ${method_args[$method]} > "$dir.log" 2>&1
  fi || { echo "failed: $name $target $method seed $seed: $(tail -1 "$dir.log")"; return 0; }
  elapsed "$start" > "$dir.seconds"
  record "$name" "$target" "$method" "$seed"
  echo "done: $name $target $method seed $seed ($(cut -c1-6 "$dir.seconds") s)"
}

soup() {  # soup SOURCE TARGET SEED: greedy soup of the runs that share the source's start
  local name="${1%%=*}" target=$2 seed=$3
  local base="$out/runs/$name/$target" dir="$out/runs/$name/$target/soup/s$seed"
  if [ -f "$dir/summary.json" ]; then
    recorded "$name" "$target" soup "$seed" || record "$name" "$target" soup "$seed"
    return 0
  fi
  recorded "$name" "$target" soup "$seed" && return 0
  too_late && return 0
  local ingredients=()
  for m in "${soup_ingredients[@]}"; do
    [ -f "$base/$m/s$seed/model.safetensors" ] && ingredients+=("$base/$m/s$seed")
  done
  [ ${#ingredients[@]} -ge 2 ] || return 0
  mkdir -p "$(dirname "$dir")"
  local start; start=$(date +%s.%N)
  "$aft" soup --runs "${ingredients[@]}" --mode greedy --out "$dir" --overwrite --threads 1 --quiet > "$dir.log" 2>&1 ||
    { echo "failed: $name $target soup seed $seed: $(tail -1 "$dir.log")"; return 0; }
  elapsed "$start" > "$dir.seconds"
  record "$name" "$target" soup "$seed"
  echo "done: $name $target soup seed $seed ($(cut -c1-6 "$dir.seconds") s)"
}

# A pool of $jobs runs at a time; every run uses one thread (small models scale better by runs
# than by threads on a few cores). The soup of a target and seed is made as soon as that target's
# runs are done (the pool drains first), while its ingredients' weights are still there.
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
      if [ "$want_soup" = 1 ]; then
        wait
        running=0
        soup "$src" "$target" "$seed"
      fi
    done
  done
done
wait
[ "${REPORT:-1}" = 0 ] && exit 0
for src in "${sources[@]}"; do  # the table, printed and drawn in $out/report-SOURCE.html
  name="${src%%=*}"
  root="$out/runs/$name"
  [ -n "$results" ] && root="$results/$name"  # every recorded run, this machine's and earlier ones
  [ -d "$root" ] || continue
  echo "source $name: test accuracy, mean ± std over seeds"
  "$aft" report --suite "$root" --out "$out/report-$name.html" ${MARKDOWN:+--markdown} || true
done
