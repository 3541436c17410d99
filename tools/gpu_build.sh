#!/usr/bin/env bash
# Call 1 of the GPU check (issue 27; call 2 is tools/gpu_time.sh, on the same warm machine). On a
# machine with an NVIDIA GPU, CUDA and a pip PyTorch 2.x (no package registry needed), it
#   1. checks that $PYTHON's torch sees a GPU, else stops with one line (exit 2);
#   2. prints the facts the build still rests on guesses about: the wheel's nccl.h and libnccl,
#      cuBLAS/cuSOLVER/cuSPARSE headers, the protobuf symbols libtorch_cpu.so exports, the C++
#      standard, compiler, nvcc, CMake, ninja and ccache versions, glibc;
#   3. configures build-gpu/ against that PyTorch's LibTorch with NCCL, and builds only aft,
#      aft_step_bench and aft_cuda_tests (ccache when the machine has it, its cache beside the
#      build directory); what the machine lacks comes from third_party_local/ (made on a Debian
#      machine by tools/vendor_headers.sh and carried along; it is git-ignored);
#   4. runs the CUDA tests (tests/cuda/);
#   5. writes gpu_build.json (also copied into the build directory, where call 2 looks for it),
#      gpu_build.log, build.log, cuda_tests.json and cuda_tests.log into $OUT.
# Every step has a time limit, all within GPU_BUILD_HARD_S (default 480) seconds, so the JSON is
# written before a caller's own limit (10 minutes a command on the device machines here). A build
# stopped at its limit resumes where it stopped when this is run again on the same (warm) machine.
# GPU_CHECK_DRY_RUN=1, for a machine without a GPU: goes on past step 1, configures, lists what
# the build would run (ninja -n), and stops. Other settings: gpu_lib.sh; GPU_BUILD_JOBS (default
# nproc), GPU_BUILD_TESTS_S (most seconds for the tests, default 150), GPU_BUILD_TYPE (Release).
# Exit: 0 built and every CUDA test passed (dry run: configured); 2 no CUDA; 3 a build dependency
# missing; 4 configure failed; 5 aft or aft_step_bench did not build (or the limit came first);
# 6 a CUDA test failed, or aft_cuda_tests did not build or run.
# shellcheck source=tools/gpu_lib.sh
source "$(dirname "$0")/gpu_lib.sh"
gl_init gpu_build "${GPU_BUILD_HARD_S:-480}"
tests_cap="${GPU_BUILD_TESTS_S:-150}"
jobs="${GPU_BUILD_JOBS:-$(nproc)}"
targets=(aft aft_step_bench aft_cuda_tests)

# The copy that call 2 reads: it says which torch, which device and what was built.
# shellcheck disable=SC2317  # called by gl_finish
gl_after_report() {
  if [ -d "$build" ] && [ -f "$out/gpu_build.json" ]; then cp "$out/gpu_build.json" "$build/gpu_build.json"; fi
}

# ---- 1. a GPU that $PYTHON's torch can use ------------------------------------------------------
gl_torch
gl_require_gpu

# ---- 2. the facts, first -------------------------------------------------------------------------
fact() {  # fact NAME VALUE: said, and kept in the JSON's "facts" (dots in NAME become _)
  field "facts.${1//./_}" "$2"
  say "fact: $1: $2"
}
prefix="${TORCH_CMAKE_PREFIX:-$(tinfo cmake_prefix_path)}"
if [ ! -f "$prefix/Torch/TorchConfig.cmake" ]; then
  stop 3 deps_missing "no LibTorch CMake config at $prefix/Torch/TorchConfig.cmake (torch.utils.cmake_prefix_path; set TORCH_CMAKE_PREFIX)"
fi
if ! command -v nvcc >/dev/null && [ -x "$cuda_home/bin/nvcc" ]; then export PATH="$cuda_home/bin:$PATH"; fi
# NCCL as this PyTorch has it (its wheel's header and library), else the CUDA toolkit's.
nccl_h=$(find "$torch_site/nvidia" -name nccl.h 2>/dev/null | head -1 || true)
[ -z "$nccl_h" ] && [ -e "$cuda_home/include/nccl.h" ] && nccl_h="$cuda_home/include/nccl.h"
nccl_so=$(find "$torch_site/nvidia" -name 'libnccl.so*' 2>/dev/null | head -1 || true)
nccl_h_version=""
if [ -n "$nccl_h" ]; then
  nccl_h_version=$(sed -n 's/^#define NCCL_\(MAJOR\|MINOR\|PATCH\) *\([0-9]*\).*/\2/p' "$nccl_h" | paste -sd. -)
fi
fact nccl_h "${nccl_h:-none}${nccl_h_version:+ (NCCL $nccl_h_version)}"
fact libnccl "${nccl_so:-none}; torch reports NCCL $(tinfo nccl_version)"
for h in cublas_v2.h cusolverDn.h cusparse.h; do
  found=$(find "$cuda_home/include" "$cuda_home"/targets/*/include "$torch_site/nvidia" -name "$h" 2>/dev/null | head -1 || true)
  fact "$h" "${found:-none}"
done
if command -v nm >/dev/null; then
  syms=$(timeout "$(limit 60 30)" nm -D --defined-only "$torch_dir/lib/libtorch_cpu.so" 2>>"$log" | grep 'google8protobuf' || true)
  fact protobuf_symbols_in_libtorch_cpu "$(grep -c ' T ' <<<"$syms" || true) T, $(grep -c ' [WV] ' <<<"$syms" || true) W/V (nm -D --defined-only)"
else
  fact protobuf_symbols_in_libtorch_cpu "unknown (no nm here)"
fi
# A pip LibTorch from 2.12 on refuses C++17 (#error in its headers); build with what it asks.
cxx_std=17
if grep -rqs 'C++20 or later' "$torch_dir/include/c10/macros" "$torch_dir/include/c10/util/C++17.h" \
  "$torch_dir"/include/ATen/*.h "$torch_dir"/include/torch/csrc/api/include/torch/*.h ||
  grep -qs 'cxx_std_20\|CXX_STANDARD 20' "$prefix/Torch/TorchConfig.cmake"; then
  cxx_std=20
fi
fact cxx_standard "$cxx_std"
fact cxx_compiler "$(first_line c++ --version)"
nvcc_release=$(nvcc --version 2>/dev/null | sed -n 's/.*release \([0-9.]*\),.*/\1/p' || true)
torch_cuda="$(tinfo cuda_version)"
if [ -n "$nvcc_release" ]; then
  same=DIFFERENT
  [ "${nvcc_release%%.*}" = "${torch_cuda%%.*}" ] && same=same
  fact nvcc "$(command -v nvcc) (CUDA $nvcc_release; torch's CUDA $torch_cuda: major $same)"
else
  fact nvcc none
fi
fact cmake "$(first_line cmake --version)"
fact ninja "$(first_line ninja --version)"
fact ccache "$(first_line ccache --version)"
glibc=$(first_line ldd --version)
fact glibc "${glibc##* }"

# ---- 3. configure, build -------------------------------------------------------------------------
# Each dependency from the system, else from third_party_local/ (CMake searches in that order).
have_header() {
  local h d
  for h in "$@"; do
    for d in /usr/include /usr/local/include /usr/include/x86_64-linux-gnu; do [ -e "$d/$h" ] && return 0; done
  done
  return 1
}
have_lib() {
  local n d
  for n in "$@"; do
    for d in /usr/lib/x86_64-linux-gnu /usr/lib64 /usr/lib /lib/x86_64-linux-gnu /usr/local/lib; do
      compgen -G "$d/lib$n.so" >/dev/null || compgen -G "$d/lib$n.a" >/dev/null && return 0
    done
  done
  return 1
}
missing=()
vendored=()
deps=""
check_dep() {  # check_dep NAME HEADERS LIBS (space-separated; LIBS may be empty)
  local name="$1" headers="$2" libs="$3" h ok=1
  # shellcheck disable=SC2086
  if have_header $headers && { [ -z "$libs" ] || have_lib $libs; }; then
    field "dependencies.$name" system
    deps+="$name=system "
    return
  fi
  for h in $headers; do [ -e "$local_deps/include/$h" ] && ok=0 && break; done
  if [ "$ok" -eq 0 ] && [ -n "$libs" ]; then
    ok=1
    for h in $libs; do [ -e "$local_deps/lib/lib$h.so" ] && ok=0 && break; done
  fi
  if [ "$ok" -eq 0 ]; then
    vendored+=("$name")
    field "dependencies.$name" vendored
    deps+="$name=vendored "
  else
    missing+=("$name")
    field "dependencies.$name" missing
    deps+="$name=missing "
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
  field dependencies.googletest system
  deps+="googletest=system "
elif [ -e "$local_deps/googletest/CMakeLists.txt" ]; then
  vendored+=(googletest)
  field dependencies.googletest vendored
  deps+="googletest=vendored "
else
  missing+=(googletest)
  field dependencies.googletest missing
  deps+="googletest=missing "
fi
command -v cmake >/dev/null || missing+=(cmake)
command -v c++ >/dev/null || command -v g++ >/dev/null || missing+=("a C++ compiler")
logline "dependencies: $deps"
[ -e "$local_deps/MANIFEST.txt" ] && logline "third_party_local: $(tr '\n' ';' <"$local_deps/MANIFEST.txt")"
if [ ${#missing[@]} -gt 0 ]; then
  stop 3 deps_missing "build dependencies missing here and not in third_party_local/: ${missing[*]} (run tools/vendor_headers.sh on a Debian machine with tools/setup.sh's packages, and carry third_party_local)"
fi
if [ ${#vendored[@]} -gt 0 ] && [ -e "$local_deps/MANIFEST.txt" ]; then
  # The copied libraries come from another distribution: they need at least its glibc.
  need=$(sed -n 's/^needs GLIBC_\([0-9.]*\).*/\1/p' "$local_deps/MANIFEST.txt")
  have="${glibc##* }"
  if [ -n "$need" ] && [ "$(printf '%s\n%s\n' "$need" "$have" | sort -V | head -1)" != "$need" ]; then
    stop 3 deps_missing "third_party_local/ (for ${vendored[*]}) needs glibc >= $need, this machine has $have; install the -dev packages instead"
  fi
fi
[ ${#vendored[@]} -gt 0 ] && say "using third_party_local/ for: ${vendored[*]}"

if command -v nvcc >/dev/null; then
  export CUDACXX="${CUDACXX:-$(command -v nvcc)}"
else
  logline "no nvcc on PATH or in $cuda_home/bin: LibTorch's CMake config may refuse a CUDA build without the toolkit"
fi
export CMAKE_POLICY_VERSION_MINIMUM=3.5  # CMake 4 reading config files written for older ones
# ccache (CMakeLists.txt uses it when found): its cache beside the build directory, so that a warm
# machine keeps it too, and sloppy enough to cache compiles that use the precompiled header.
export CCACHE_DIR="${CCACHE_DIR:-$build-ccache}" CCACHE_BASEDIR="${CCACHE_BASEDIR:-$root}"
export CCACHE_SLOPPINESS="${CCACHE_SLOPPINESS:-pch_defines,time_macros,include_file_mtime,include_file_ctime}"
export CCACHE_MAXSIZE="${CCACHE_MAXSIZE:-5G}"
generator="Unix Makefiles"
command -v ninja >/dev/null && generator=Ninja
cmake_args=(-S "$root" -B "$build" -G "$generator" "-DCMAKE_BUILD_TYPE=${GPU_BUILD_TYPE:-Release}"
  "-DCMAKE_PREFIX_PATH=$prefix" -DAFT_WITH_NCCL=ON -DAFT_BUILD_TESTS=OFF -DAFT_BUILD_CUDA_TESTS=ON
  "-DCMAKE_CXX_STANDARD=$cxx_std")
[ -x "$cuda_home/bin/nvcc" ] && cmake_args+=("-DCUDAToolkit_ROOT=$cuda_home")
# Name the architecture, so that torch's CMake code does not probe for a GPU (a dry run has
# none: the device machine's H100, 9.0).
arch="$(tinfo capability)"
[ -z "$arch" ] && arch=9.0
export TORCH_CUDA_ARCH_LIST="${TORCH_CUDA_ARCH_LIST:-$arch}"
cmake_args+=("-DCMAKE_CUDA_ARCHITECTURES=${arch/./}")
# LibTorch <= 2.7's CMake config looks for NVTX3 where only its own source tree had it.
for d in "$cuda_home/include" "$torch_site/nvidia/nvtx/include"; do
  if [ -d "$d/nvtx3" ]; then
    cmake_args+=("-Dnvtx3_dir=$(cd "$d" && pwd)")
    break
  fi
done
[ -n "$nccl_h" ] && cmake_args+=("-DAFT_NCCL_INCLUDE_DIR=$(dirname "$nccl_h")")
[ -n "$nccl_so" ] && cmake_args+=("-DAFT_NCCL_LIBRARY=$nccl_so")
# FreeType from third_party_local needs its own libraries (brotli) found at link time.
[ -d "$local_deps/lib" ] && cmake_args+=("-DCMAKE_EXE_LINKER_FLAGS=-Wl,-rpath-link,$local_deps/lib")
# A build directory configured from another checkout, or against another torch, starts afresh.
if [ -f "$build/CMakeCache.txt" ] && ! grep -q "^CMAKE_HOME_DIRECTORY:INTERNAL=$root\$" "$build/CMakeCache.txt"; then
  logline "$build was configured for another source directory: removed"
  rm -rf "$build"
fi
rm -f "$build/gpu_build.json"  # call 2 trusts only this call's copy, written at the end

say "configuring $build (C++$cxx_std, $generator, CUDA arch $arch) against $prefix"
t=$(date +%s)
mkdir -p "$out"
if ! timeout "$(limit 240 120)" cmake "${cmake_args[@]}" >"$out/build.log" 2>&1; then
  num seconds.configure $(($(date +%s) - t))
  tail -40 "$out/build.log" >>"$log"
  first=$(grep -m1 -A3 'CMake Error' "$out/build.log" | tr -s ' \n' ' ' | cut -c1-300 || true)
  stop 4 configure_failed "configure failed: ${first:-timed out or see build.log}"
fi
num seconds.configure $(($(date +%s) - t))
field cxx_standard "$cxx_std"
grep -i -E 'warning|nccl|nvtx|cuda|aft:' "$out/build.log" | head -30 >>"$log" || true

keep_going=(-k)  # the other targets go on when one fails
[ "$generator" = Ninja ] && keep_going=(-k 0)
if [ "$dry_run" = 1 ]; then
  # What the build would run, without running it (ninja -n stops at CMake's glob check).
  steps="?"
  if [ "$generator" = Ninja ]; then
    timeout "$(limit 60 10)" ninja -C "$build" -t commands "${targets[@]}" >"$work/plan.txt" 2>>"$log" || true
    steps=$(grep -c . "$work/plan.txt" || true)
    logline "ninja -t commands: $steps commands, $(grep -c '^[^ ]*ccache ' "$work/plan.txt" || true) through ccache; the first: $(head -1 "$work/plan.txt" | cut -c1-300)"
  fi
  num build_steps_planned "${steps:-null}"
  exit_code=0
  stop 0 dry_run "dry run: configured $build; building ${targets[*]} would run ${steps:-?} commands; stopping here (no build in a dry run)"
fi

# Most of the time there is; at least 90 s stay for the tests.
build_limit=$(limit 600 90)
say "building ${targets[*]} (-j$jobs, at most ${build_limit}s; ccache: $(command -v ccache >/dev/null && echo "yes, $CCACHE_DIR" || echo no))"
t=$(date +%s)
build_rc=0
timeout "$build_limit" cmake --build "$build" -j "$jobs" --target "${targets[@]}" -- "${keep_going[@]}" >>"$out/build.log" 2>&1 || build_rc=$?
build_seconds=$(($(date +%s) - t))
num seconds.build "$build_seconds"
progress=$(grep -o '^\[[0-9]*/[0-9]*\]' "$out/build.log" | tail -1 | tr -d '[]' || true)
field build_progress "${progress:-}"
command -v ccache >/dev/null && logline "ccache: $(ccache -s 2>/dev/null | tr -s ' \n' ' ' | cut -c1-400)"
# With -k the build goes on past a failure; a failed build then says which part failed: aft and
# aft_step_bench (built again: up to date, it takes seconds) or else aft_cuda_tests.
main_ok=false
tests_built=false
if [ "$build_rc" = 0 ]; then
  main_ok=true
  tests_built=true
elif [ "$build_rc" != 124 ] &&
  timeout "$(limit 120 60)" cmake --build "$build" -j "$jobs" --target aft aft_step_bench >>"$out/build.log" 2>&1; then
  main_ok=true
fi
num built.aft_and_aft_step_bench "$main_ok"
num built.aft_cuda_tests "$tests_built"
if [ "$main_ok" != true ]; then
  tail -40 "$out/build.log" >>"$log"
  if [ "$build_rc" = 124 ]; then
    stop 5 build_failed "build stopped at its ${build_limit}s limit after step ${progress:-?}; run tools/gpu_build.sh again on this warm machine to go on from there"
  fi
  first=$(grep -m1 -E 'error:|Error |undefined reference' "$out/build.log" | cut -c1-300 || true)
  stop 5 build_failed "build of aft failed after ${build_seconds}s: ${first:-see build.log}"
fi
num build_ok true
say "built aft and aft_step_bench in ${build_seconds}s (${progress:-no} steps)"
gl_runtime_libs "$build/aft"
run_logged "aft --version" "$build/aft" --version || true

# ---- 4. CUDA tests -------------------------------------------------------------------------------
if [ "$tests_built" != true ]; then
  first=$(grep -m1 -E 'error:|undefined reference' "$out/build.log" | cut -c1-300 || true)
  stop 6 tests_failed "aft and aft_step_bench built; aft_cuda_tests did not build: ${first:-see build.log}"
fi
tests_limit=$(limit "$tests_cap" 10)
say "running aft_cuda_tests (at most ${tests_limit}s)"
t=$(date +%s)
tests_rc=0
timeout "$tests_limit" "$build/aft_cuda_tests" "--gtest_output=json:$out/cuda_tests.json" >"$out/cuda_tests.log" 2>&1 ||
  tests_rc=$?
num seconds.tests $(($(date +%s) - t))
num tests_rc "$tests_rc"
grep -E '^\[ *(OK|FAILED|SKIPPED|PASSED) ' "$out/cuda_tests.log" >>"$log" || true
summary=$(grep -E '^\[  (PASSED|SKIPPED|FAILED)  \] [0-9]' "$out/cuda_tests.log" | tr -s ' \n' ' ' || true)
summary="${summary% }"
if [ "$tests_rc" != 0 ]; then
  stop 6 tests_failed "aft built; CUDA tests failed (exit $tests_rc$([ "$tests_rc" = 124 ] && echo ": timed out")): ${summary:-see cuda_tests.log}"
fi
exit_code=0
stop 0 ok "aft built, every CUDA test passed (${summary}) in $(elapsed)s; next: tools/gpu_time.sh on this warm machine"
