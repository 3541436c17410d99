#!/usr/bin/env bash
# The CUDA path in one call (issue 19): on a machine with an NVIDIA GPU, CUDA and a pip PyTorch
# 2.x (no package registry needed), it
#   1. checks that python3's torch sees a GPU, else stops with one line (exit 2);
#   2. builds aft, aft_step_bench and aft_cuda_tests into build-gpu/ against the LibTorch inside
#      that PyTorch, with NCCL; what the machine lacks comes from third_party_local/, made on a
#      Debian machine by tools/vendor_headers.sh and carried along (it is git-ignored);
#   3. runs the CUDA tests (tests/cuda/);
#   4. measures docs/benchmarks.md section 5: ResNet-50 (224 px, batch 128, bf16 autocast,
#      channels-last) and ViT-B/16 (224 px, batch 128, bf16 autocast) training steps, aft against
#      the same step in PyTorch eager, interleaved, plus the bf16 matmul peak measured here;
#   5. writes gpu_check.json and gpu_check.log (and build.log, cuda_tests.json/.log,
#      bench.jsonl) into $OUT (default gpu-check-out/).
# It aims at GPU_CHECK_BUDGET_S seconds (default 470): the benchmark rounds stop early rather
# than overrun, and the JSON says how many ran. Every step also has a time limit, all within
# GPU_CHECK_HARD_S (default budget + 90), so that a hung step still leaves the JSON behind
# before a caller's own limit (10 minutes on the device machines here) kills the script.
# GPU_CHECK_DRY_RUN=1 checks the script itself on a machine without a GPU: it goes on past
# step 1 and stops once CMake has configured (GPU_CHECK_BUILD_DIR, TORCH_CMAKE_PREFIX and
# PYTHON point it elsewhere).
# Exit: 0 all passed; 2 no CUDA; 3 a build dependency missing; 4 configure failed; 5 build of
# aft failed; 6 a CUDA test failed or its binary did not build or run.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
out="${OUT:-gpu-check-out}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
log="$out/gpu_check.log"
: >"$log"
work="$(mktemp -d)"
build="${GPU_CHECK_BUILD_DIR:-$root/build-gpu}"
local_deps="$root/third_party_local"
py="${PYTHON:-python3}"
budget="${GPU_CHECK_BUDGET_S:-470}"
hard="${GPU_CHECK_HARD_S:-$((budget + 90))}"
rounds="${GPU_CHECK_ROUNDS:-3}"
start=$(date +%s)

# What the JSON reports; finish() writes it on every exit, early ones included.
status="started"
message=""
exit_code=1
build_ok=false
tests_built=false
tests_rc=""
bench_rounds_done=0
configure_seconds=""
build_seconds=""
tests_seconds=""
deps_report=""
cxx_std=""

elapsed() { echo $(($(date +%s) - start)); }
limit() {  # limit CAP RESERVE: seconds a step may take, CAP at most, RESERVE kept for what follows
  local left=$((hard - $(elapsed) - $2))
  [ "$left" -gt "$1" ] && left=$1
  [ "$left" -lt 10 ] && left=10
  echo "$left"
}
logline() { echo "[$(printf '%4d' "$(elapsed)")s] $*" >>"$log"; }
say() {  # one line for the person who ran it, also in the log
  echo "gpu_check: $*"
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

finish() {
  local rc=$?
  set +e  # whatever failed, the JSON gets written
  if [ "$status" = "started" ]; then
    status="aborted"
    message="stopped unexpectedly (exit $rc) after $(elapsed)s; see gpu_check.log"
    echo "gpu_check: $message"
  fi
  local seconds
  seconds=$(elapsed)
  export GC_STATUS="$status" GC_MESSAGE="$message" GC_EXIT="$exit_code" GC_BUILD_OK="$build_ok" \
    GC_TESTS_BUILT="$tests_built" GC_TESTS_RC="$tests_rc" GC_ROUNDS="$bench_rounds_done" GC_ELAPSED="$seconds" \
    GC_OUT="$out" GC_WORK="$work" GC_CONFIGURE_S="$configure_seconds" GC_BUILD_S="$build_seconds" \
    GC_TESTS_S="$tests_seconds" GC_DEPS="$deps_report" GC_CXX_STD="$cxx_std"
  write_report >"$work/report.py"
  if "$py" "$work/report.py" >"$work/report.txt" 2>>"$log"; then
    tee -a "$log" <"$work/report.txt"
  else
    # No usable Python: still leave a JSON that says what happened.
    printf '{"status": "%s", "message": "%s", "exit_code": %s, "elapsed_seconds": %s}\n' "$status" \
      "${message//\"/\'}" "$exit_code" "$(elapsed)" >"$out/gpu_check.json"
  fi
  logline "finished: status $status, exit $exit_code"
  rm -rf "$work"
  exit "$exit_code"
}

# gpu_check.json from what the steps left in $GC_WORK and $GC_OUT; prints the section 5 table
# when there is one (nothing on an early stop, whose one line is already said).
write_report() {
  cat <<'PY'
import json, os, re, statistics

env = os.environ
out, work = env["GC_OUT"], env["GC_WORK"]


def load(path, default=None):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


def number(name):
    v = env.get(name, "")
    return int(v) if v.lstrip("-").isdigit() else None


torch_info = load(os.path.join(work, "torch_info.json"), {})
report = {
    "status": env["GC_STATUS"], "message": env["GC_MESSAGE"], "exit_code": number("GC_EXIT"),
    "elapsed_seconds": number("GC_ELAPSED"),
    "device_name": torch_info.get("device_name"), "device_count": torch_info.get("device_count"),
    "capability": torch_info.get("capability"), "torch_version": torch_info.get("torch_version"),
    "cuda_version": torch_info.get("cuda_version"), "nccl_version": torch_info.get("nccl_version"),
    "cuda_available": torch_info.get("cuda_available"), "torch": torch_info,
    "dependencies": dict(kv.split("=", 1) for kv in env.get("GC_DEPS", "").split()),
    "cxx_standard": env.get("GC_CXX_STD") or None,
    "build_ok": env["GC_BUILD_OK"] == "true", "cuda_tests_built": env["GC_TESTS_BUILT"] == "true",
    "seconds": {"configure": number("GC_CONFIGURE_S"), "build": number("GC_BUILD_S"), "tests": number("GC_TESTS_S")},
}

# GoogleTest's JSON: a test failed when it has failures, skipped when its result says so.
tests = load(os.path.join(out, "cuda_tests.json"))
if tests is not None:
    passed, failed, skipped = [], [], []
    for suite in tests.get("testsuites", []):
        for t in suite.get("testsuite", []):
            name = "%s.%s" % (suite["name"], t["name"])
            if t.get("failures"):
                failed.append({"test": name, "failures": [f.get("failure", "")[:600] for f in t["failures"]]})
            elif t.get("result") == "SKIPPED":
                skipped.append(name)
            else:
                passed.append(name)
    report["tests"] = {"exit_code": number("GC_TESTS_RC"), "passed": passed, "failed": failed, "skipped": skipped}
elif env.get("GC_TESTS_RC"):
    # No JSON: GoogleTest writes it at the end, so the binary crashed or was timed out. Its log
    # still names every finished test and the one that was running.
    passed, failed, skipped, running = [], [], [], None
    try:
        with open(os.path.join(out, "cuda_tests.log"), errors="replace") as f:
            for line in f:
                tag, _, rest = line.partition("] ")
                name = rest.split(" (")[0].strip()
                if not re.fullmatch(r"[A-Za-z_][\w/]*\.[\w/]+", name):
                    continue  # the summary's "1 test, listed below:" lines
                if tag == "[ RUN      ":
                    running = name
                elif tag in ("[       OK ", "[  FAILED  ", "[  SKIPPED "):
                    found = {"[       OK ": passed, "[  FAILED  ": failed, "[  SKIPPED ": skipped}[tag]
                    if name not in found:
                        found.append(name)
                    running = None if name == running else running
    except OSError:
        pass
    report["tests"] = {"exit_code": number("GC_TESTS_RC"), "error": "no cuda_tests.json: crashed or timed out",
                       "passed": passed, "failed": [{"test": t} for t in failed],
                       "skipped": skipped, "unfinished": running}

# Section 5: rows of bench.jsonl in run order; round k pairs the k-th aft run with the k-th torch run.
rows = []
try:
    with open(os.path.join(out, "bench.jsonl")) as f:
        rows = [json.loads(line) for line in f if line.strip().startswith("{")]
except OSError:
    pass
matmul = next((r["matmul"] for r in rows if "matmul" in r), None)
peak = matmul["tflops_best"] * 1e12 if matmul else None
# The convention of step_torch.py --flops: 2 FLOPs per multiply-add, training = forward + both
# gradients (about 3x forward). The published "4.1 / 17.6 GFLOPs" of ResNet-50 / ViT-B/16 count
# multiply-adds, so their FLOPs are twice that; kept beside the count as a check.
estimate = {"resnet50_224": 3 * 2 * 4.1e9, "vit_b16_224": 3 * 2 * 17.6e9}
counted = {r["case"]: r["step_flops_per_image"] for r in rows if "step_flops_per_image" in r}
cases = {}
for name in ("resnet50_224", "vit_b16_224"):
    runs = {side: [r for r in rows if r.get("case") == name and r.get("side") == side and "images_per_second" in r]
            for side in ("aft", "torch")}
    if not runs["aft"] and not runs["torch"]:
        continue
    ips = {side: [r["images_per_second"] for r in runs[side]] for side in runs}
    c = {"aft_images_per_second": ips["aft"], "torch_images_per_second": ips["torch"]}
    for side in ("aft", "torch"):
        c[side + "_median_images_per_second"] = statistics.median(ips[side]) if ips[side] else None
    if runs["aft"]:
        first = runs["aft"][0]
        c.update({k: first.get(k) for k in ("batch", "amp", "channels_last", "params")})
    ratios = [a / t for a, t in zip(ips["aft"], ips["torch"])]
    if ratios:
        c["ratio_per_round"] = ratios
        c["ratio_median"] = statistics.median(ratios)
        c["ratio_min"], c["ratio_max"] = min(ratios), max(ratios)
    flops = counted.get(name, estimate[name])
    c["step_flops_per_image"] = flops
    c["step_flops_per_image_source"] = "step_torch.py --flops" if name in counted else "estimate"
    c["step_flops_per_image_estimate"] = estimate[name]
    if peak:
        for side in ("aft", "torch"):
            m = c[side + "_median_images_per_second"]
            c[side + "_percent_of_bf16_peak"] = 100.0 * m * flops / peak if m else None
    cases[name] = c
if rows or matmul:
    report["section5"] = {"rounds": number("GC_ROUNDS"), "bf16_matmul": matmul, "cases": cases}

with open(os.path.join(out, "gpu_check.json"), "w") as f:
    json.dump(report, f, indent=2)
    f.write("\n")

if cases:
    print("\n%s, torch %s, CUDA %s; bf16 matmul peak %.0f TFLOP/s (best of 10, 8192^3)"
          % (report["device_name"], report["torch_version"], report["cuda_version"], (peak or 0) / 1e12))
    print("| case | batch | aft img/s | PyTorch img/s | aft/PyTorch median [min..max] | aft % of peak | PyTorch % of peak |")
    print("|---|---|---|---|---|---|---|")
    fmt = lambda v, f: (f % v) if v is not None else "-"
    for name, c in cases.items():
        print("| %s | %s | %s | %s | %s [%s..%s] | %s | %s |" % (
            name, c.get("batch"), fmt(c["aft_median_images_per_second"], "%.0f"),
            fmt(c["torch_median_images_per_second"], "%.0f"), fmt(c.get("ratio_median"), "%.2f"),
            fmt(c.get("ratio_min"), "%.2f"), fmt(c.get("ratio_max"), "%.2f"),
            fmt(c.get("aft_percent_of_bf16_peak"), "%.1f%%"), fmt(c.get("torch_percent_of_bf16_peak"), "%.1f%%")))
if report.get("tests", {}).get("failed"):
    print("failed CUDA tests: " + ", ".join(t["test"] for t in report["tests"]["failed"]))
PY
}
trap finish EXIT

stop() {  # stop CODE STATUS MESSAGE: the one clear line, then the JSON
  exit_code="$1"
  status="$2"
  message="$3"
  say "$message"
  exit "$exit_code"
}

logline "gpu_check in $root, output in $out, budget ${budget}s, $(nproc) cores"
logline "commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$root" diff --quiet 2>/dev/null || echo ' (with local changes)')"
logline "$(uname -a)"
logline "python: $(command -v "$py" || echo none); cmake: $(command -v cmake || echo none); ninja: $(command -v ninja || echo none); c++: $(command -v c++ || echo none)"
if command -v nvidia-smi >/dev/null; then run_logged "nvidia-smi" nvidia-smi -L || true; fi

# ---- 1. a GPU that python3's torch can use --------------------------------------------------
cat >"$work/torch_info.py" <<'PY'
import json
try:
    import torch
except Exception as e:  # noqa: BLE001 - any failure to import means "no torch" here
    print(json.dumps({"torch": False, "error": "%s: %s" % (type(e).__name__, e)}))
    raise SystemExit(0)
info = {"torch": True, "torch_version": torch.__version__, "cuda_version": torch.version.cuda,
        "cuda_available": torch.cuda.is_available(), "cmake_prefix_path": torch.utils.cmake_prefix_path,
        "cxx11_abi": bool(getattr(torch._C, "_GLIBCXX_USE_CXX11_ABI", True))}
if info["cuda_available"]:
    p = torch.cuda.get_device_properties(0)
    info.update({"device_count": torch.cuda.device_count(), "device_name": p.name,
                 "capability": "%d.%d" % (p.major, p.minor), "memory_gib": round(p.total_memory / 2**30, 1),
                 "multiprocessors": p.multi_processor_count})
    try:
        info["nccl_version"] = ".".join(map(str, torch.cuda.nccl.version()))
    except Exception:  # noqa: BLE001
        info["nccl_version"] = None
print(json.dumps(info))
PY
if ! command -v "$py" >/dev/null; then
  stop 2 no_cuda "no CUDA device ($py not found, so no PyTorch to ask); nothing to check"
fi
timeout 180 "$py" "$work/torch_info.py" >"$work/torch_info.json" 2>>"$log" || echo '{"torch": false, "error": "python3 failed"}' >"$work/torch_info.json"
logline "torch: $(cat "$work/torch_info.json")"
tinfo() { "$py" -c 'import json,sys; v=json.load(open(sys.argv[1])).get(sys.argv[2]); print("" if v is None else v)' "$work/torch_info.json" "$1"; }
if [ "$(tinfo torch)" != "True" ]; then
  stop 2 no_cuda "no CUDA device ($py cannot import torch: $(tinfo error)); nothing to check"
fi
dry_run="${GPU_CHECK_DRY_RUN:-0}"
if [ "$(tinfo cuda_available)" != "True" ]; then
  if [ "$dry_run" = 1 ]; then
    say "dry run: no CUDA device (torch $(tinfo torch_version)); going on to configure only"
  else
    stop 2 no_cuda "no CUDA device (torch.cuda.is_available() is False, torch $(tinfo torch_version)); nothing to check"
  fi
else
  say "$(tinfo device_name) (sm $(tinfo capability)), torch $(tinfo torch_version), CUDA $(tinfo cuda_version)"
fi

# ---- 2. build ---------------------------------------------------------------------------------
# Each dependency from the system, else from third_party_local/ (CMake searches in that order).
have_header() {
  local h
  for h in "$@"; do
    for d in /usr/include /usr/local/include /usr/include/x86_64-linux-gnu; do [ -e "$d/$h" ] && return 0; done
  done
  return 1
}
have_lib() {
  local n
  for n in "$@"; do
    for d in /usr/lib/x86_64-linux-gnu /usr/lib64 /usr/lib /lib/x86_64-linux-gnu /usr/local/lib; do
      compgen -G "$d/lib$n.so" >/dev/null || compgen -G "$d/lib$n.a" >/dev/null && return 0
    done
  done
  return 1
}
missing=()
vendored=()
check_dep() {  # check_dep NAME HEADERS LIBS (space-separated; LIBS may be empty)
  local name="$1" headers="$2" libs="$3"
  # shellcheck disable=SC2086
  if have_header $headers && { [ -z "$libs" ] || have_lib $libs; }; then
    deps_report+="$name=system "
    return
  fi
  local h ok=1
  for h in $headers; do [ -e "$local_deps/include/$h" ] && ok=0 && break; done
  if [ "$ok" -eq 0 ] && [ -n "$libs" ]; then
    ok=1
    for h in $libs; do [ -e "$local_deps/lib/lib$h.so" ] && ok=0 && break; done
  fi
  if [ "$ok" -eq 0 ]; then
    deps_report+="$name=vendored "
    vendored+=("$name")
  else
    deps_report+="$name=missing "
    missing+=("$name")
  fi
}
check_dep nlohmann-json nlohmann/json.hpp ""
check_dep CLI11 CLI/CLI.hpp ""
check_dep boost boost/crc.hpp ""
check_dep libjpeg jpeglib.h jpeg
check_dep libpng "png.h libpng16/png.h" "png png16"
check_dep zlib zlib.h z
check_dep freetype freetype2/ft2build.h freetype
check_dep protobuf google/protobuf/message.h protobuf
if have_header gtest/gtest.h && have_lib gtest; then
  deps_report+="googletest=system "
elif [ -e "$local_deps/googletest/CMakeLists.txt" ]; then
  deps_report+="googletest=vendored "
  vendored+=(googletest)
else
  deps_report+="googletest=missing "
  missing+=(googletest)
fi
command -v cmake >/dev/null || missing+=(cmake)
command -v c++ >/dev/null || command -v g++ >/dev/null || missing+=("a C++ compiler")
logline "dependencies: $deps_report"
[ -e "$local_deps/MANIFEST.txt" ] && logline "third_party_local: $(tr '\n' ';' <"$local_deps/MANIFEST.txt")"
if [ ${#missing[@]} -gt 0 ]; then
  stop 3 deps_missing "build dependencies missing here and not in third_party_local/: ${missing[*]} (run tools/vendor_headers.sh on a Debian machine with tools/setup.sh's packages, and carry third_party_local)"
fi
if [ ${#vendored[@]} -gt 0 ] && [ -e "$local_deps/MANIFEST.txt" ]; then
  # The copied libraries come from another distribution: they need at least its glibc.
  need=$(sed -n 's/^needs GLIBC_\([0-9.]*\).*/\1/p' "$local_deps/MANIFEST.txt")
  have=$(ldd --version 2>/dev/null | head -1 | grep -o '[0-9][0-9.]*$' || echo 0)
  if [ -n "$need" ] && [ "$(printf '%s\n%s\n' "$need" "$have" | sort -V | head -1)" != "$need" ]; then
    stop 3 deps_missing "third_party_local/ (for ${vendored[*]}) needs glibc >= $need, this machine has $have; install the -dev packages instead"
  fi
  say "using third_party_local/ for: ${vendored[*]}"
fi

# TORCH_CMAKE_PREFIX overrides where LibTorch's CMake config is (Debian's python3-torch names a
# folder its libtorch-dev does not use).
prefix="${TORCH_CMAKE_PREFIX:-$(tinfo cmake_prefix_path)}"
if [ ! -f "$prefix/Torch/TorchConfig.cmake" ]; then
  stop 3 deps_missing "no LibTorch CMake config at $prefix/Torch/TorchConfig.cmake (torch.utils.cmake_prefix_path; set TORCH_CMAKE_PREFIX)"
fi
torch_dir="$(cd "$prefix/../.." && pwd)"
# A pip LibTorch from 2.12 on refuses C++17 (#error in its headers); build with what it asks.
cxx_std=17
if grep -qs 'C++20 or later' "$torch_dir"/include/ATen/*.h "$torch_dir"/include/c10/macros/*.h \
  "$torch_dir"/include/torch/csrc/api/include/torch/*.h ||
  grep -qs 'cxx_std_20\|CXX_STANDARD 20' "$prefix/Torch/TorchConfig.cmake"; then
  cxx_std=20
fi
cuda_home="${CUDA_HOME:-/usr/local/cuda}"
if ! command -v nvcc >/dev/null && [ -x "$cuda_home/bin/nvcc" ]; then export PATH="$cuda_home/bin:$PATH"; fi
if command -v nvcc >/dev/null; then
  export CUDACXX="${CUDACXX:-$(command -v nvcc)}"
  logline "nvcc: $(nvcc --version | tail -1)"
else
  logline "no nvcc on PATH or in $cuda_home/bin: LibTorch's CMake config may refuse a CUDA build without the toolkit"
fi
export CMAKE_POLICY_VERSION_MINIMUM=3.5  # CMake 4 reading config files written for older ones
generator="Unix Makefiles"
command -v ninja >/dev/null && generator=Ninja
cmake_args=(-S "$root" -B "$build" -G "$generator" -DCMAKE_BUILD_TYPE=Release "-DCMAKE_PREFIX_PATH=$prefix"
  -DAFT_WITH_NCCL=ON -DAFT_BUILD_TESTS=OFF -DAFT_BUILD_CUDA_TESTS=ON "-DCMAKE_CXX_STANDARD=$cxx_std")
arch="$(tinfo capability)"
if [ -n "$arch" ]; then
  export TORCH_CUDA_ARCH_LIST="${TORCH_CUDA_ARCH_LIST:-$arch}"  # no GPU probing by torch's CMake code
  cmake_args+=("-DCMAKE_CUDA_ARCHITECTURES=${arch/./}")
fi
# LibTorch <= 2.7's CMake config looks for NVTX3 where only its own source tree had it.
for d in "$cuda_home/include" "$torch_dir/../nvidia/nvtx/include"; do
  if [ -d "$d/nvtx3" ]; then
    cmake_args+=("-Dnvtx3_dir=$(cd "$d" && pwd)")
    break
  fi
done
# NCCL as the PyTorch here has it (its wheel's header and library), else the CUDA toolkit's.
nccl_h=$(find "$torch_dir/../nvidia" -name nccl.h 2>/dev/null | head -1 || true)
[ -z "$nccl_h" ] && [ -e "$cuda_home/include/nccl.h" ] && nccl_h="$cuda_home/include/nccl.h"
nccl_so=$(find "$torch_dir/../nvidia" -name 'libnccl.so*' 2>/dev/null | head -1 || true)
[ -n "$nccl_h" ] && cmake_args+=("-DAFT_NCCL_INCLUDE_DIR=$(dirname "$nccl_h")")
[ -n "$nccl_so" ] && cmake_args+=("-DAFT_NCCL_LIBRARY=$nccl_so")
logline "nccl.h: ${nccl_h:-none found}; libnccl: ${nccl_so:-none found}"
# FreeType from third_party_local needs its own libraries (brotli) found at link time.
[ -d "$local_deps/lib" ] && cmake_args+=("-DCMAKE_EXE_LINKER_FLAGS=-Wl,-rpath-link,$local_deps/lib")
[ -f "$build/CMakeCache.txt" ] && ! grep -q "^CMAKE_HOME_DIRECTORY:INTERNAL=$root\$" "$build/CMakeCache.txt" && rm -rf "$build"

say "configuring $build (C++$cxx_std, $generator) against $prefix"
t=$(date +%s)
if ! timeout "$(limit 300 60)" cmake "${cmake_args[@]}" >"$out/build.log" 2>&1; then
  configure_seconds=$(($(date +%s) - t))
  tail -40 "$out/build.log" >>"$log"
  first=$(grep -m1 -A3 'CMake Error' "$out/build.log" | tr -s ' \n' ' ' | cut -c1-300 || true)
  stop 4 configure_failed "configure failed: ${first:-see build.log}"
fi
configure_seconds=$(($(date +%s) - t))
grep -i -E 'warning|nccl|nvtx|cuda' "$out/build.log" | head -30 >>"$log" || true
if [ "$dry_run" = 1 ]; then
  exit_code=0
  stop 0 dry_run "dry run: configured $build in ${configure_seconds}s; not building"
fi

jobs=$(nproc)
# Most of the time there is: nothing after it means anything without a build.
build_limit=$(limit 420 60)
say "building aft and aft_step_bench (-j$jobs, at most ${build_limit}s)"
t=$(date +%s)
if ! timeout "$build_limit" cmake --build "$build" -j "$jobs" --target aft aft_step_bench >>"$out/build.log" 2>&1; then
  build_seconds=$(($(date +%s) - t))
  tail -40 "$out/build.log" >>"$log"
  first=$(grep -m1 -E 'error:|Error |undefined reference' "$out/build.log" | cut -c1-300 || true)
  stop 5 build_failed "build of aft failed after ${build_seconds}s: ${first:-timed out, see build.log}"
fi
build_ok=true
say "building aft_cuda_tests"
if timeout "$(limit 300 60)" cmake --build "$build" -j "$jobs" --target aft_cuda_tests >>"$out/build.log" 2>&1; then
  tests_built=true
else
  tail -40 "$out/build.log" >>"$log"
  say "aft_cuda_tests did not build: $(grep -m1 -E 'error:|undefined reference' "$out/build.log" | cut -c1-300 || true)"
fi
build_seconds=$(($(date +%s) - t))
logline "built in ${build_seconds}s"

# Copied libraries that others need (FreeType's brotli) are not on the binaries' RUNPATH.
not_found=$(ldd "$build/aft" | grep 'not found' | tr -s ' \n\t' ' ' || true)
if [ -n "$not_found" ]; then
  logline "missing at run time: $not_found"
  export LD_LIBRARY_PATH="$local_deps/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
run_logged "aft --version" "$build/aft" --version || true

# ---- 3. CUDA tests ----------------------------------------------------------------------------
if [ "$tests_built" = true ]; then
  # Half of what is left for the tests, the other half for section 5.
  tests_limit=$(((hard - $(elapsed)) / 2))
  [ "$tests_limit" -gt 300 ] && tests_limit=300
  [ "$tests_limit" -lt 60 ] && tests_limit=$(limit 60 20)
  say "running aft_cuda_tests (at most ${tests_limit}s)"
  t=$(date +%s)
  tests_rc=0
  timeout "$tests_limit" "$build/aft_cuda_tests" "--gtest_output=json:$out/cuda_tests.json" >"$out/cuda_tests.log" 2>&1 ||
    tests_rc=$?
  tests_seconds=$(($(date +%s) - t))
  grep -E '^\[ *(OK|FAILED|SKIPPED|PASSED) ' "$out/cuda_tests.log" >>"$log" || true
  logline "aft_cuda_tests: exit $tests_rc in ${tests_seconds}s"
fi

# ---- 4. section 5: the training step against PyTorch eager --------------------------------------
bench="$out/bench.jsonl"
: >"$bench"
cat >"$work/matmul.py" <<'PY'
import json, statistics, torch
n = 8192
a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
for _ in range(3):
    torch.matmul(a, b)
torch.cuda.synchronize()
times = []
for _ in range(10):
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    s.record()
    torch.matmul(a, b)
    e.record()
    e.synchronize()
    times.append(s.elapsed_time(e) / 1e3)
flop = 2.0 * n ** 3
print(json.dumps({"matmul": {"n": n, "dtype": "bfloat16", "tflops_best": flop / min(times) / 1e12,
                             "tflops_median": flop / statistics.median(times) / 1e12,
                             "device_name": torch.cuda.get_device_name(0)}}))
PY
say "bf16 matmul peak (8192^3, CUDA events)"
timeout "$(limit 120 30)" "$py" "$work/matmul.py" >>"$bench" 2>>"$log" || logline "matmul measurement failed"

cases=(resnet50_224 vit_b16_224)
flags_for() {  # section 5: bf16 autocast both; channels-last for the convolutional network
  if [ "$1" = resnet50_224 ]; then echo "--device cuda --amp bf16 --channels-last"; else echo "--device cuda --amp bf16"; fi
}
for c in "${cases[@]}"; do
  # FLOPs per image do not depend on the batch; a small one on the GPU makes the count quick.
  timeout "$(limit 120 30)" "$py" "$root/bench/step/step_torch.py" --flops "$c" --device cuda --batch 8 >>"$bench" 2>>"$log" ||
    logline "FLOP count of $c failed"
done
timing=(--warmup 5 --seconds "${GPU_CHECK_SECONDS:-3}" --min-steps 10)
longest_run=20  # seconds of the longest run so far (a guess before the first), for the budget check
run_side() {  # run_side aft|torch CASE
  local side="$1" c="$2" t rc=0
  t=$(date +%s)
  # shellcheck disable=SC2046
  if [ "$side" = aft ]; then
    timeout "$(limit 150 20)" "$build/aft_step_bench" --case "$c" $(flags_for "$c") "${timing[@]}" >>"$bench" 2>>"$log" || rc=$?
  else
    timeout "$(limit 150 20)" "$py" "$root/bench/step/step_torch.py" --case "$c" $(flags_for "$c") "${timing[@]}" >>"$bench" 2>>"$log" || rc=$?
  fi
  t=$(($(date +%s) - t))
  [ "$t" -gt "$longest_run" ] && longest_run=$t
  logline "$side $c: exit $rc in ${t}s"
}
say "section 5: ${cases[*]}, aft and PyTorch interleaved, up to $rounds rounds"
for r in $(seq 1 "$rounds"); do
  # A round is four runs; start it only if it fits in what is left.
  if [ $(($(elapsed) + 4 * longest_run + 15)) -gt "$budget" ]; then
    say "stopping after $bench_rounds_done rounds: the ${budget}s budget is near"
    break
  fi
  for c in "${cases[@]}"; do
    # Alternate which side goes first, so that a drift (clocks, temperature) favours neither.
    if [ $((r % 2)) -eq 1 ]; then run_side aft "$c"; run_side torch "$c"; else run_side torch "$c"; run_side aft "$c"; fi
  done
  bench_rounds_done=$r
done

# ---- 5. verdict -------------------------------------------------------------------------------
if [ "$tests_built" != true ] || [ "$tests_rc" != 0 ]; then
  exit_code=6
  status="tests_failed"
  message="aft built; CUDA tests $([ "$tests_built" = true ] && echo "failed (exit $tests_rc)" || echo "did not build"); section 5 measured in $bench_rounds_done rounds"
else
  exit_code=0
  status="ok"
  message="aft built, every CUDA test passed, section 5 measured in $bench_rounds_done rounds"
fi
say "$message ($(elapsed)s); results in $out/gpu_check.json"
