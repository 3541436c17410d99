# Sourced by the bench scripts (`source "$(dirname "$0")/lib.sh" "$@"`): strict mode, the
# bench directory, the aft binary (the script's first argument, else build/aft), and the
# demo directory that the transfer benches build on.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
aft="${1:-$here/../build/aft}"
[ -x "$aft" ] || { echo "$(basename "$0"): no aft binary at $aft (tools/build.sh builds it)" >&2; exit 1; }

# Sets $demo to bench/transfer_bench.sh's seed-0 directory (or $DEMO): its Fashion-MNIST
# source model and glyph task.
require_demo() {
  demo="${DEMO:-$here/../bench-out/transfer/seed0}"
  [ -f "$demo/runs/source/model.safetensors" ] || {
    echo "$(basename "$0"): no demo at $demo (run bench/transfer_bench.sh or aft demo --dir $demo)" >&2
    exit 1
  }
}

# Runs `aft ARGS...` as N processes on loopback, as torchrun would (RANK, WORLD_SIZE, ...), and
# waits for them: for the benches of the multi-process paths.
#   on_ranks N ARGS...
on_ranks() {
  local n=$1 port=$(( 29000 + RANDOM % 1000 )) r
  shift
  for r in $(seq 0 $((n - 1))); do
    RANK=$r WORLD_SIZE=$n LOCAL_RANK=$r MASTER_ADDR=127.0.0.1 MASTER_PORT=$port "$aft" "$@" > /dev/null &
  done
  wait
}
