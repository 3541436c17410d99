#!/usr/bin/env bash
# Both calls of the GPU check in one (issue 27): tools/gpu_build.sh (facts, build, CUDA tests),
# then, if aft_step_bench built, tools/gpu_time.sh (docs/benchmarks.md section 5), with the same
# OUT, PYTHON, GPU_CHECK_* settings. Together they can take up to GPU_BUILD_HARD_S +
# GPU_TIME_HARD_S (480 + 420 s), over the device machine's 10 minutes a command: there, run the
# two as two calls (docs/build.md, "GPU check"). Exit: call 1's, unless it is 0 or 6 (aft built),
# then call 2's when it fails, else call 1's.
set -uo pipefail
dir="$(dirname "$0")"
"$dir/gpu_build.sh"
build_rc=$?
case "$build_rc" in 0 | 6) ;; *) exit "$build_rc" ;; esac
"$dir/gpu_time.sh"
time_rc=$?
[ "$time_rc" != 0 ] && exit "$time_rc"
exit "$build_rc"
