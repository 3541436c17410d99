#!/bin/bash
# A busy machine (issue 16): while another process keeps one core busy, how fast does aft train
# with --threads 1, with --threads = every core, and with its default (one thread per idle
# core, sampled at start)? And on a quiet machine, is the default still every core? Each pair
# is timed side by side with farm-bench (A B A B ..., ratio pair by pair, medians).
# Usage: bench/busy_bench.sh [AFT_BINARY] ; env: RUNS=5
source "$(dirname "$0")/lib.sh" "$@"
runs="${RUNS:-5}"
cores=$(nproc)
work="${BENCH_OUT:-$here/../bench-out}/busy"
mkdir -p "$work"
[ -d "$work/fm/train" ] || "$aft" data fashion-mnist --out "$work/fm" --per-class 200 --test-per-class 20 >/dev/null
# One timed job: a 1-epoch pretraining into a fresh run directory, removed afterwards.
cat > "$work/job.sh" <<JOB
#!/bin/sh
out=\$(mktemp -d "$work/run.XXXXXX")
"$aft" pretrain --model resnet18 --stem small --width 0.25 --data "$work/fm" --out "\$out/run" --epochs 1 \\
  --batch-size 64 --quiet "\$@" >/dev/null 2>&1
status=\$?
rm -rf "\$out"
exit \$status
JOB
chmod +x "$work/job.sh"
pair() {  # label, A flags, B flags
  echo "== $1 (A: ${2:-default}, B: ${3:-default})"
  # shellcheck disable=SC2086
  farm-bench -n "$runs" --timeout 1800 --vs "$work/job.sh $3" -- "$work/job.sh" $2
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "-- quiet machine"
"$aft" --version | grep threads
pair "quiet: default vs --threads $cores" "" "--threads $cores"
echo "-- one other process keeps a core busy"
( while :; do :; done ) &
busy=$!
trap 'kill $busy 2>/dev/null' EXIT
sleep 1
"$aft" --version | grep threads
pair "busy: --threads $cores vs --threads 1" "--threads $cores" "--threads 1"
pair "busy: default vs --threads 1" "" "--threads 1"
# Why: OpenMP's worker threads spin while they wait for each other. With a passive wait policy
# a thread that shares its core with the busy process sleeps instead of burning that core.
echo "== busy: --threads $cores with OMP_WAIT_POLICY=PASSIVE vs without"
farm-bench -n "$runs" --timeout 1800 --vs "$work/job.sh --threads $cores" -- env OMP_WAIT_POLICY=PASSIVE "$work/job.sh" --threads "$cores"
