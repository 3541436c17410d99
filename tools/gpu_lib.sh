# shellcheck shell=bash
# Sourced by tools/gpu_build.sh and tools/gpu_time.sh, the two calls of the GPU check (issue 27):
# paths, the time limit, logging, the one-line early stop, the JSON on every exit (its fields are
# collected here and written by tools/gpu_report.py), and which Python and torch to use.
#
# Environment shared by both calls:
#   OUT                  where the JSON and logs go (default gpu-check-out/ in the repository)
#   GPU_CHECK_BUILD_DIR  the build directory (default build-gpu/; call 2 reads call 1's)
#   PYTHON               the Python whose torch is built against and timed (default python3)
#   TORCH_CMAKE_PREFIX   LibTorch's CMake prefix, if not torch.utils.cmake_prefix_path
#   GPU_CHECK_DRY_RUN=1  on a machine without a GPU: go on past the GPU check, stop where a GPU
#                        is needed; every time limit is GPU_CHECK_DRY_RUN_SLOWER (default 5) times
#                        longer, for a small, busy machine
set -euo pipefail

# gl_init NAME HARD_S: NAME prefixes the lines and names $OUT/NAME.json and NAME.log; every step
# is limited so that the script ends within HARD_S seconds of its start, JSON written.
# shellcheck disable=SC2034  # root, build, local_deps, cuda_home, torch_dir: for the scripts
gl_init() {
  gl_name="$1"
  hard="$2"
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  cd "$root"
  out="${OUT:-gpu-check-out}"
  mkdir -p "$out"
  out="$(cd "$out" && pwd)"
  log="$out/$gl_name.log"
  : >"$log"
  work="$(mktemp -d)"
  : >"$work/fields"
  build="${GPU_CHECK_BUILD_DIR:-$root/build-gpu}"
  local_deps="$root/third_party_local"
  py="${PYTHON:-python3}"
  # The reports and JSON reading need only the standard library: any python3, else $py.
  std_py="$(command -v python3 || echo "$py")"
  dry_run="${GPU_CHECK_DRY_RUN:-0}"
  slower=1
  [ "$dry_run" = 1 ] && slower="${GPU_CHECK_DRY_RUN_SLOWER:-5}"
  hard=$((hard * slower))
  cuda_home="${CUDA_HOME:-/usr/local/cuda}"
  start=$(date +%s)
  status="started"
  message=""
  exit_code=1
  trap gl_finish EXIT
  trap 'exit 143' TERM INT  # a kill between two steps still leaves the JSON (the EXIT trap runs)
  logline "$gl_name in $root, output in $out, limit ${hard}s, $(nproc) cores, dry run: $dry_run"
  [ "$hard" -lt 600 ] || [ "$dry_run" = 1 ] || logline "warning: a limit of ${hard}s is not under the device machine's 10 minutes a command"
  logline "commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$root" diff --quiet 2>/dev/null || echo ' (with local changes)')"
  logline "$(uname -a)"
  if command -v nvidia-smi >/dev/null; then run_logged "nvidia-smi" nvidia-smi -L || true; fi
}

elapsed() { echo $(($(date +%s) - start)); }
# limit CAP RESERVE: seconds a step may take: CAP at most, RESERVE kept for what follows, 10 at least.
limit() {
  local cap=$(($1 * slower)) left=$((hard - $(elapsed) - $2 * slower))
  [ "$left" -gt "$cap" ] && left=$cap
  [ "$left" -lt 10 ] && left=10
  echo "$left"
}
first_line() {  # first_line CMD...: its output's first line, "none" when it fails or says nothing
  local o
  o=$("$@" 2>/dev/null) || o=""
  o="${o%%$'\n'*}"
  echo "${o:-none}"
}
logline() { echo "[$(printf '%4d' "$(elapsed)")s] $*" >>"$log"; }
say() {  # one line for the person who ran it, also in the log
  echo "$gl_name: $*"
  logline "$*"
}
run_logged() {  # run_logged DESCRIPTION CMD...: output into the log, exit status returned
  local what="$1"
  shift
  logline "\$ $*"
  local rc=0
  "$@" >>"$log" 2>&1 || rc=$?
  logline "$what: exit $rc"
  return "$rc"
}
stop() {  # stop CODE STATUS MESSAGE: the one clear line, then the JSON
  exit_code="$1"
  status="$2"
  message="$3"
  say "$message"
  exit "$exit_code"
}

# The JSON's fields: field KEY STRING, num KEY JSON-LITERAL (a number, true, false, null); a
# dotted KEY nests ("facts.cmake"); the last value of a key wins.
field() { printf 's\t%s\t%s\n' "$1" "${2//$'\n'/ }" >>"$work/fields"; }
num() { printf 'j\t%s\t%s\n' "$1" "${2:-null}" >>"$work/fields"; }

gl_finish() {
  local rc=$?
  set +e  # whatever failed, the JSON gets written
  trap - TERM INT
  if [ "$status" = "started" ]; then
    status="aborted"
    message="stopped unexpectedly (exit $rc) after $(elapsed)s; see $gl_name.log"
    echo "$gl_name: $message"
  fi
  field status "$status"
  field message "$message"
  num exit_code "$exit_code"
  num elapsed_seconds "$(elapsed)"
  num limit_seconds "$hard"
  num dry_run "$([ "$dry_run" = 1 ] && echo true || echo false)"
  rm -f "$out/$gl_name.json"
  if command -v "$std_py" >/dev/null &&
    timeout 60 "$std_py" "$root/tools/gpu_report.py" "$gl_name" "$work" "$out" >"$work/report.txt" 2>>"$log" &&
    [ -s "$out/$gl_name.json" ]; then
    tee -a "$log" <"$work/report.txt"
  else
    # No usable Python: still a JSON that says what happened.
    local m="${message//\\/\\\\}"
    printf '{"status": "%s", "message": "%s", "exit_code": %s, "elapsed_seconds": %s}\n' "$status" \
      "${m//\"/\\\"}" "$exit_code" "$(elapsed)" >"$out/$gl_name.json"
  fi
  if declare -F gl_after_report >/dev/null; then gl_after_report; fi
  logline "finished: status $status, exit $exit_code"
  gl_cap_logs
  rm -rf "$work"
  exit "$exit_code"
}

# $OUT comes back from the device machine only in files of at most 16 MiB: a longer log keeps
# its first and last MiBs.
gl_cap_logs() {
  local f
  for f in "$out"/*.log "$out"/*.jsonl; do
    [ -f "$f" ] || continue
    if [ "$(stat -c %s "$f")" -gt $((15 * 1024 * 1024)) ]; then
      { head -c $((2 * 1024 * 1024)) "$f"; printf '\n[... cut to fit 16 MiB ...]\n'; tail -c $((10 * 1024 * 1024)) "$f"; } >"$f.cut"
      mv "$f.cut" "$f"
    fi
  done
}

# gl_torch: what $py's torch says (version, CUDA, the GPU, where LibTorch is), into
# $work/torch_info.json; tinfo KEY reads it. Stops with exit 2 without a usable torch.
gl_torch() {
  if ! command -v "$py" >/dev/null; then
    stop 2 no_cuda "no CUDA device ($py not found, so no PyTorch to ask); nothing to check"
  fi
  local rc=0
  timeout "$(limit 180 30)" "$py" "$root/tools/gpu_report.py" info >"$work/torch_info.json" 2>>"$log" || rc=$?
  if [ "$rc" != 0 ] || [ ! -s "$work/torch_info.json" ]; then
    echo '{"torch": false, "error": "'"$py"' failed (exit '"$rc"')"}' >"$work/torch_info.json"
  fi
  logline "torch: $(cat "$work/torch_info.json")"
  if [ "$(tinfo torch)" != "True" ]; then
    stop 2 no_cuda "no CUDA device ($py cannot import torch: $(tinfo error)); nothing to check"
  fi
  torch_site="$(tinfo site)"
  # shellcheck disable=SC2034
  torch_dir="$torch_site/torch"
}
tinfo() { json_get "$work/torch_info.json" "$1"; }
json_get() {  # json_get FILE KEY: a top-level value, empty when absent or null
  "$std_py" -c 'import json,sys
try: v = json.load(open(sys.argv[1])).get(sys.argv[2])
except Exception: v = None
print("" if v is None else v)' "$1" "$2"
}

# gl_require_gpu: the device line, or exit 2 (in a dry run: one line, and on).
gl_require_gpu() {
  if [ "$(tinfo cuda_available)" = "True" ]; then
    say "$(tinfo device_name) (sm $(tinfo capability), $(tinfo memory_gib) GiB), torch $(tinfo torch_version), CUDA $(tinfo cuda_version)"
  elif [ "$dry_run" = 1 ]; then
    say "dry run: no CUDA device (torch $(tinfo torch_version), CUDA $(tinfo cuda_version)); going on"
  else
    stop 2 no_cuda "no CUDA device (torch.cuda.is_available() is False, torch $(tinfo torch_version)); nothing to check"
  fi
}

# gl_runtime_libs BINARY: libraries copied into third_party_local/ that others need (FreeType's
# brotli) are not on the binaries' RUNPATH; put that folder on LD_LIBRARY_PATH when one is missing.
gl_runtime_libs() {
  local not_found
  not_found=$(ldd "$1" 2>/dev/null | grep 'not found' | tr -s ' \n\t' ' ' || true)
  if [ -n "$not_found" ]; then
    logline "missing at run time: $not_found; adding $local_deps/lib to LD_LIBRARY_PATH"
    export LD_LIBRARY_PATH="$local_deps/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  fi
}
