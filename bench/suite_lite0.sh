#!/bin/bash
# docs/benchmarks.md §3, "From EfficientNet-Lite0 (real ImageNet source)" (issue 25): the transfer
# suite from zoo/efficientnet_lite0.safetensors, on bench/suite.sh (its recipe, pool and resume):
#   10 images per class: every method once (the 14 of `aft methods`, suite.sh's flags) and the
#     greedy soup, on 8 targets (TARGETS10);
#   50 images per class: METHODS50 on the natural-colour targets.
# Images at IMAGE_SIZE px through `--transform auto` (the weights' `lite` recipe on the 128-px
# natural targets, `small-noflip:inception` on the 32-px ones, both resized to IMAGE_SIZE);
# multisource trains Lite0 and Lite1 together. Seeds outermost (all of seed 0 first, both parts),
# so a partial suite already has one seed of every cell.
# Every finished run's small files go into bench/results/suite-lite0/{10,50}/ (tracked; suite.sh's
# RESULTS), and a run recorded there is not run again: the suite accumulates over sessions that
# keep only the repository. Commit that folder at the end of a session.
#   bench/suite_lite0.sh [AFT_BINARY]
# env (defaults in brackets):
#   HOURS     start no run after this many hours (a session's time, less the last run's) [no limit]
#   SEEDS [0 1 2]  PARTS [10 50]  JOBS [2]  IMAGE_SIZE [64]
#   EPOCHS10 [40] MIN_EPOCHS10 [20] PATIENCE10 [10] AUTO_BUDGET10 [3] (suite.sh's recipe)
#   EPOCHS50 [12] MIN_EPOCHS50 [6] PATIENCE50 [3] AUTO_BUDGET50 [6] (at 12 epochs auto's cheapest race
#     costs 4.87 full fine-tunes; at 40, 2.54)
#   TARGETS10 [the 3 natural targets, then opencv-digits lfw-faces fashion georgian print-fonts, -10]
#   TARGETS50 [the 3 natural targets, -50]
#   METHODS10 [multisource contribution spottune auto oft delta lora l2sp bss full auto-rgn lp-ft
#     partial-angle linear soup; suite.sh's variants (spottune-gk, partial-last-half, full-all, lp-ft-all)
#     are left out to fit the 8 hours, and can be added: METHODS10="... full-all"]
#   METHODS50 [full linear lp-ft contribution partial-angle spottune multisource auto]
#   RESULTS [bench/results/suite-lite0]  OUT [bench-out/suite-lite0]  DATA [bench-out/suite/data]
# A missing target folder is built first (bench/suite_data.sh; the natural group fetches Debian
# packages, ~25 min cold). The tables: `aft report --suite bench/results/suite-lite0/10/lite0`
# (and .../50/lite0), printed at the end.
source "$(dirname "$0")/lib.sh" "$@"
root="$(cd "$here/.." && pwd)"
zoo="$root/zoo"
for v in 0 1; do
  [ -f "$zoo/efficientnet_lite$v.safetensors" ] ||
    { echo "suite_lite0.sh: no $zoo/efficientnet_lite$v.safetensors (tools/fetch_efficientnet_lite.sh 0 1)" >&2; exit 1; }
done
results="${RESULTS:-$root/bench/results/suite-lite0}"
out="${OUT:-$root/bench-out/suite-lite0}"
data="${DATA:-$root/bench-out/suite/data}"
natural=(cards-rank emoji-category icons-name)
targets10="${TARGETS10:-cards-rank-10 emoji-category-10 icons-name-10 opencv-digits-10 lfw-faces-10 fashion-10 georgian-10 print-fonts-10}"
targets50="${TARGETS50:-cards-rank-50 emoji-category-50 icons-name-50}"
# Longest first, so that the pool drains fast before each target's soup.
methods10="multisource contribution spottune auto oft delta lora l2sp bss full auto-rgn lp-ft partial-angle linear soup"
methods50="${METHODS50:-full linear lp-ft contribution partial-angle spottune multisource auto}"
parts="${PARTS:-10 50}"
stop_at=""
[ -n "${HOURS:-}" ] && stop_at=$(awk -v h="$HOURS" -v now="$(date +%s)" 'BEGIN { printf "%d", now + h * 3600 }')

# The targets' folders, built once per machine (bench-out is not kept).
need=() need_natural=0
for t in $targets10 $targets50; do
  [ -d "$data/$t/train" ] && continue
  base="${t%-*}"
  if [[ " ${natural[*]} " == *" $base "* ]]; then need_natural=1; else need+=("$base"); fi
done
if [ ${#need[@]} -gt 0 ] || [ "$need_natural" = 1 ]; then
  [ "$(basename "$(dirname "$data")")/$(basename "$data")" = suite/data ] ||
    { echo "suite_lite0.sh: targets missing in $data (bench/suite_data.sh builds OUT/suite/data)" >&2; exit 1; }
  if [ ${#need[@]} -eq 0 ]; then
    NATURAL=only OUT="$(dirname "$(dirname "$data")")" nice -n 19 "$here/suite_data.sh"
  else
    NATURAL="$need_natural" TARGETS="$(printf '%s\n' "${need[@]}" | sort -u | tr '\n' ' ')" \
      OUT="$(dirname "$(dirname "$data")")" nice -n 19 "$here/suite_data.sh" "$aft"
  fi
fi

# part K SEED: one seed of the K-shot part.
part() {
  local k=$1 seed=$2 targets methods epochs min patience budget
  if [ "$k" = 10 ]; then
    targets=$targets10 methods="${METHODS10:-$methods10}" epochs="${EPOCHS10:-40}" min="${MIN_EPOCHS10:-20}" patience="${PATIENCE10:-10}"
    budget="${AUTO_BUDGET10:-3}"
  else
    targets=$targets50 methods=$methods50 epochs="${EPOCHS50:-12}" min="${MIN_EPOCHS50:-6}" patience="${PATIENCE50:-3}"
    budget="${AUTO_BUDGET50:-6}"
  fi
  SOURCES="lite0=$zoo/efficientnet_lite0.safetensors" \
    MULTISOURCE="$zoo/efficientnet_lite0.safetensors $zoo/efficientnet_lite1.safetensors" \
    IMAGE_SIZE="${IMAGE_SIZE:-64}" AUTO_BUDGET="$budget" TRANSFORM=auto DATA="$data" TARGETS="$targets" METHODS="$methods" \
    SEEDS="$seed" EPOCHS="$epochs" MIN_EPOCHS="$min" PATIENCE="$patience" JOBS="${JOBS:-2}" \
    OUT="$out/$k" RESULTS="$results/$k" STOP_AT="$stop_at" REPORT=0 "$here/suite.sh" "$aft"
}
for seed in ${SEEDS:-0 1 2}; do
  for k in $parts; do part "$k" "$seed"; done
done
for k in $parts; do
  [ -d "$results/$k/lite0" ] || continue
  echo "== $k images per class: test accuracy, mean ± std over seeds (recorded runs)"
  "$aft" report --suite "$results/$k/lite0" --out "$out/report-$k.html" ${MARKDOWN:+--markdown} || true
done
