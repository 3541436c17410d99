#!/usr/bin/env bash
# Call 2 of the GPU check (issue 27): docs/benchmarks.md section 5, on the machine where
# tools/gpu_build.sh (call 1) has just built (a device machine kept warm between the two calls;
# a fresh one starts bare). It
#   1. checks its inputs, each failure one line and exit 3: call 1's build directory and its
#      gpu_build.json, aft_step_bench built there, the same torch as call 1's, torchvision;
#      a GPU (exit 2 without one);
#   2. measures the GPU's bf16 matmul rate (8192^3, CUDA events), the reference for "% of peak";
#   3. times ResNet-50 (224 px, batch 128, bf16 autocast, channels-last) and ViT-B/16 (224 px,
#      batch 128, bf16 autocast) training steps, aft (aft_step_bench) against the same step in
#      PyTorch eager (bench/step/step_torch.py), interleaved, up to GPU_TIME_ROUNDS (3) rounds;
#      each run capped at GPU_TIME_RUN_CAP_S (100) seconds; images/s from the median step, and
#      each run's peak GPU memory (nvidia-smi every 100 ms, less what was in use before it);
#   4. counts the step FLOPs per image (step_torch.py --flops), if time is left;
#   5. writes gpu_time.json, gpu_time.log and bench.jsonl into $OUT and prints the section 5 table.
# Rounds stop early rather than overrun: everything ends within GPU_TIME_HARD_S (default 420)
# seconds, and the JSON says how many rounds ran. GPU_TIME_SECONDS (3): timed seconds a run.
# GPU_CHECK_DRY_RUN=1 (no GPU): checks the inputs (call 1's dry run leaves no binaries, which it
# notes and passes), counts the FLOPs and times one tiny PyTorch-eager case on the CPU (batch 2),
# then stops where the GPU is needed. Other settings: gpu_lib.sh.
# Exit: 0 every case measured on both sides (dry run: got as far as the GPU); 2 no CUDA; 3 an
# input missing; 7 a case has no aft/PyTorch pair (every run of a side failed or none fitted).
# shellcheck source=tools/gpu_lib.sh
source "$(dirname "$0")/gpu_lib.sh"
gl_init gpu_time "${GPU_TIME_HARD_S:-420}"
rounds="${GPU_TIME_ROUNDS:-3}"
run_cap="${GPU_TIME_RUN_CAP_S:-100}"
bench="$out/bench.jsonl"
: >"$bench"
cases=(resnet50_224 vit_b16_224)
flags_for() {  # section 5: bf16 autocast for both; channels-last for the convolutional network
  if [ "$1" = resnet50_224 ]; then echo "--amp bf16 --channels-last"; else echo "--amp bf16"; fi
}

# ---- 1. inputs ---------------------------------------------------------------------------------
stamp="$build/gpu_build.json"
if [ ! -f "$stamp" ]; then
  stop 3 no_build "no build from tools/gpu_build.sh in $build (run call 1 first, on this same warm machine: a fresh one starts bare)"
fi
gl_torch
field build.status "$(json_get "$stamp" status)"
field build.torch_version "$(json_get "$stamp" torch_version)"
field build.device_name "$(json_get "$stamp" device_name)"
logline "call 1: $(json_get "$stamp" status): $(json_get "$stamp" message)"
bench_bin="$build/aft_step_bench"
if [ ! -x "$bench_bin" ]; then
  if [ "$dry_run" = 1 ]; then
    say "dry run: $bench_bin not built (call 1 said: $(json_get "$stamp" message)); going on"
  else
    stop 3 no_build "$bench_bin was not built (call 1 said: $(json_get "$stamp" status): $(json_get "$stamp" message))"
  fi
fi
if [ "$(json_get "$stamp" torch_version)" != "$(tinfo torch_version)" ]; then
  what="call 1 built against torch $(json_get "$stamp" torch_version), $py has $(tinfo torch_version)"
  [ "$dry_run" = 1 ] || stop 3 torch_mismatch "$what (same PYTHON for both calls)"
  say "dry run: $what; going on"
fi
if [ -z "$(tinfo torchvision_version)" ]; then
  stop 3 no_torchvision "$py cannot import torchvision, which bench/step/step_torch.py needs: $(tinfo torchvision_error)"
fi
gl_require_gpu
[ -x "$bench_bin" ] && gl_runtime_libs "$bench_bin"

if [ "$dry_run" = 1 ] && [ "$(tinfo cuda_available)" != "True" ]; then
  # What can run without a GPU: the Python side, on the CPU, as small as it goes.
  tiny=(--device cpu --batch 2 --warmup 1 --seconds 0 --min-steps 2)
  for c in "${cases[@]}"; do
    say "dry run: step_torch.py --flops $c and one tiny PyTorch-eager timing on the CPU ($(flags_for "$c"), batch 2)"
    timeout "$(limit 120 20)" "$py" "$root/bench/step/step_torch.py" --flops "$c" --device cpu --batch 2 >>"$bench" 2>>"$log" ||
      logline "FLOP count of $c failed"
    # shellcheck disable=SC2046
    timeout "$(limit 180 20)" "$py" "$root/bench/step/step_torch.py" --case "$c" $(flags_for "$c") "${tiny[@]}" \
      >"$work/run.json" 2>>"$log" || logline "tiny $c failed"
    "$std_py" "$root/tools/gpu_report.py" run "$work/run.json" "$c" torch 0 0 0 "" "" >>"$bench"
  done
  exit_code=0
  stop 0 dry_run "dry run: inputs checked, the Python side ran on the CPU; stopping where the GPU is needed (matmul peak, aft_step_bench and step_torch.py --device cuda)"
fi

# ---- 2. the bf16 peak ----------------------------------------------------------------------------
say "bf16 matmul peak (8192^3, CUDA events)"
timeout "$(limit 90 30)" "$py" "$root/tools/gpu_report.py" matmul >>"$bench" 2>>"$log" || logline "matmul measurement failed"

# ---- 3. section 5: the training step against PyTorch eager ---------------------------------------
smi=""
command -v nvidia-smi >/dev/null && smi=nvidia-smi
gpu_used() { [ -n "$smi" ] && nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -i 0 2>/dev/null | head -1 | tr -dc 0-9; }
timing=(--device cuda --warmup 5 --seconds "${GPU_TIME_SECONDS:-3}" --min-steps 10)
longest_run=25  # seconds of the longest run so far (a guess before the first), for the round check
run_side() {  # run_side aft|torch CASE ROUND
  local side="$1" c="$2" r="$3" t rc=0 before="" peak="" sampler=""
  before=$(gpu_used || true)
  if [ -n "$smi" ]; then
    nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -i 0 -lms 100 >"$work/mem.txt" 2>/dev/null &
    sampler=$!
  fi
  t=$(date +%s)
  # shellcheck disable=SC2046
  if [ "$side" = aft ]; then
    timeout "$(limit "$run_cap" 20)" "$bench_bin" --case "$c" $(flags_for "$c") "${timing[@]}" >"$work/run.json" 2>"$work/run.json.err" || rc=$?
  else
    timeout "$(limit "$run_cap" 20)" "$py" "$root/bench/step/step_torch.py" --case "$c" $(flags_for "$c") "${timing[@]}" \
      >"$work/run.json" 2>"$work/run.json.err" || rc=$?
  fi
  cat "$work/run.json.err" >>"$log"
  t=$(($(date +%s) - t))
  if [ -n "$sampler" ]; then
    kill "$sampler" 2>/dev/null || true
    wait "$sampler" 2>/dev/null || true
    peak=$(tr -dc '0-9\n' <"$work/mem.txt" | sort -n | tail -1)
  fi
  "$std_py" "$root/tools/gpu_report.py" run "$work/run.json" "$c" "$side" "$r" "$rc" "$t" "$peak" "$before" >>"$bench"
  [ "$t" -gt "$longest_run" ] && longest_run=$t
  logline "$side $c round $r: exit $rc in ${t}s, GPU memory ${before:-?} -> ${peak:-?} MiB"
  if [ "$rc" != 0 ]; then say "$side $c (round $r) failed: exit $rc$([ "$rc" = 124 ] && echo ", over its ${run_cap}s cap"); see gpu_time.log"; fi
}
rounds_done=0
say "section 5: ${cases[*]}, aft and PyTorch interleaved, up to $rounds rounds (each run at most ${run_cap}s)"
for r in $(seq 1 "$rounds"); do
  # A round is four runs; start it only if it fits in what is left (the FLOP count may give way).
  if [ $(($(elapsed) + 4 * longest_run + 20)) -gt "$hard" ]; then
    say "stopping after $rounds_done rounds: the ${hard}s limit is near"
    break
  fi
  for c in "${cases[@]}"; do
    # Alternate which side goes first, so that a drift (clocks, temperature) favours neither.
    if [ $((r % 2)) -eq 1 ]; then run_side aft "$c" "$r"; run_side torch "$c" "$r"; else run_side torch "$c" "$r"; run_side aft "$c" "$r"; fi
  done
  rounds_done=$r
  num rounds_done "$rounds_done"
done
num rounds_done "$rounds_done"

# ---- 4. FLOPs per image (they do not depend on the batch; a small one is quick) --------------------
for c in "${cases[@]}"; do
  if [ $(($(elapsed) + 40)) -gt "$hard" ]; then
    logline "no time left to count the FLOPs of $c: the JSON uses the estimate"
    continue
  fi
  timeout "$(limit 60 15)" "$py" "$root/bench/step/step_torch.py" --flops "$c" --device cuda --batch 8 >>"$bench" 2>>"$log" ||
    logline "FLOP count of $c failed"
done

# ---- 5. verdict -------------------------------------------------------------------------------------
paired=$("$std_py" "$root/tools/gpu_report.py" pairs "$bench" || echo 0)
if [ "$paired" -lt ${#cases[@]} ]; then
  stop 7 incomplete "section 5 incomplete: $paired of ${#cases[@]} cases measured on both sides in $rounds_done rounds (see gpu_time.log, bench.jsonl)"
fi
exit_code=0
stop 0 ok "section 5 measured in $rounds_done rounds ($(elapsed)s); results in $out/gpu_time.json"
