#!/usr/bin/env bash
# Leg 3 of docs/build.md: builds every target of aft (tests/cuda included, compiled and linked,
# not run: no GPU needed) against the LibTorch inside PyPI's current torch (a CUDA build), with
# nvcc, and runs the whole CPU test suite against it.
#   1. a venv with PyPI's torch in $AFT_CACHE/torch-pip (default ~/.cache/aft; several GB,
#      installed once, reused after that; AFT_TORCH_PIP_SPEC picks another, e.g. "torch==2.9.1");
#   2. nvcc of the wheel's CUDA major version: the machine's (CUDA_HOME, default /usr/local/cuda)
#      when the majors agree, else PyPI's nvidia-cuda-nvcc of that major, installed into the venv;
#   3. CMake against torch.utils.cmake_prefix_path with -DAFT_WITH_NCCL=ON (the nvidia-nccl
#      wheel's nccl.h and libnccl) and -DAFT_BUILD_CUDA_TESTS=ON, the C++ standard the LibTorch
#      asks for; the build directory is $AFT_CACHE/torch-pip/build-<version> (ccache applies);
#   4. ninja (every target), then ctest over the whole suite (the CPU tests).
# The Debian packages of tools/setup.sh must be installed (GoogleTest, protobuf, ... come from
# there). The last line says the result and the minutes; the log is in the cache directory.
# Environment: AFT_CACHE, AFT_JOBS (default 2), AFT_CTEST_ARGS, AFT_TORCH_PIP_SPEC, CUDA_HOME;
# AFT_CONFIGURE_ONLY=1 stops once CMake has configured (checks the facts and the configuration).
# Exit: 0 built and every test passed; 3 torch or nvcc could not be installed; 4 configure or
# build failed; 5 a test failed.
set -euo pipefail

src="$(cd "$(dirname "$0")/.." && pwd)"
cache="${AFT_CACHE:-$HOME/.cache/aft}/torch-pip"
venv="$cache/venv"
jobs="${AFT_JOBS:-2}"
spec="${AFT_TORCH_PIP_SPEC:-torch}"
cuda_home="${CUDA_HOME:-/usr/local/cuda}"
mkdir -p "$cache"
log="$cache/test.log"
: >"$log"
start=$(date +%s)

say() { echo "test_torch_pip: $*" | tee -a "$log"; }
minutes() { echo "$(( ($(date +%s) - start + 30) / 60 ))"; }
finish() { say "$1 ($(minutes) min)"; exit "$2"; }

# 1. torch, once.
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import torch" 2>/dev/null; then
  say "installing $spec into $venv (once; several GB)"
  python3 -m venv "$venv" >>"$log" 2>&1 || finish "FAIL: python3 -m venv failed (python3-venv installed?)" 3
  nice -n 15 "$venv/bin/pip" install --progress-bar off "$spec" >>"$log" 2>&1 ||
    finish "FAIL: pip could not install $spec (see $log)" 3
fi
py="$venv/bin/python"
info=$("$py" - 2>>"$log" <<'PY'
import os, torch
print(torch.__version__, torch.version.cuda or "none", torch.utils.cmake_prefix_path,
      os.path.dirname(os.path.dirname(torch.__file__)))
PY
)
read -r torch_version torch_cuda prefix site <<<"$info"
say "torch $torch_version (CUDA $torch_cuda) at $site"
[ "$torch_cuda" != "none" ] || finish "FAIL: $spec is not a CUDA build" 3
torch_major="${torch_cuda%%.*}"

# 2. nvcc of the same CUDA major.
nvcc="$cuda_home/bin/nvcc"
sys_major=""
[ -x "$nvcc" ] && sys_major=$("$nvcc" --version | sed -n 's/.*release \([0-9]*\)\..*/\1/p')
if [ "$sys_major" != "$torch_major" ]; then
  say "the machine's nvcc is CUDA ${sys_major:-none}, the wheel's CUDA $torch_cuda: using PyPI's nvidia-cuda-nvcc $torch_major"
  nice -n 15 "$venv/bin/pip" install --progress-bar off "nvidia-cuda-nvcc==$torch_major.*" >>"$log" 2>&1 ||
    finish "FAIL: pip could not install nvidia-cuda-nvcc $torch_major (see $log)" 3
  nvcc=$(find "$site/nvidia" -path '*/bin/nvcc' -type f | head -1)
  [ -n "$nvcc" ] || finish "FAIL: nvidia-cuda-nvcc installed no bin/nvcc" 3
  cuda_home="$(dirname "$(dirname "$nvcc")")"
fi
say "nvcc: $("$nvcc" --version | tail -1)"

# 3. Configure. The facts the build depends on, said first.
torch_dir="$site/torch"
nccl_h=$(find "$site/nvidia" -name nccl.h 2>/dev/null | head -1 || true)
nccl_so=$(find "$site/nvidia" -name 'libnccl.so*' 2>/dev/null | head -1 || true)
say "nccl.h: ${nccl_h:-none}; libnccl: ${nccl_so:-none}"
for h in cublas_v2.h cusolverDn.h cusparse.h; do
  found=$(find "$cuda_home/include" "$cuda_home"/targets/*/include "$site/nvidia" -name "$h" 2>/dev/null | head -1 || true)
  say "$h: ${found:-none}"
done
pb=$(nm -D --defined-only "$torch_dir/lib/libtorch_cpu.so" 2>/dev/null | grep -c ' T .*google8protobuf' || true)
say "google::protobuf symbols exported by libtorch_cpu.so: $pb"
cxx_std=17
if grep -rqs 'C++20 or later' "$torch_dir/include/c10/macros" "$torch_dir/include/c10/util/C++17.h" ||
  grep -qs 'cxx_std_20\|CXX_STANDARD 20' "$prefix/Torch/TorchConfig.cmake"; then
  cxx_std=20
fi
say "C++ standard: $cxx_std; $(c++ --version | head -1); cmake $(cmake --version | head -1 | cut -d' ' -f3)"

build="$cache/build-$torch_version"
export CUDACXX="$nvcc" CUDA_HOME="$cuda_home" PATH="$cuda_home/bin:$PATH"
# No GPU here: name the architecture, so that torch's CMake code does not probe for one.
export TORCH_CUDA_ARCH_LIST="${TORCH_CUDA_ARCH_LIST:-9.0}"
cmake_args=(-S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release "-DCMAKE_PREFIX_PATH=$prefix"
  "-DCMAKE_CXX_STANDARD=$cxx_std" "-DCMAKE_CUDA_COMPILER=$nvcc" "-DCUDAToolkit_ROOT=$cuda_home"
  -DCMAKE_CUDA_ARCHITECTURES=90 -DAFT_WITH_NCCL=ON -DAFT_BUILD_CUDA_TESTS=ON)
[ -n "$nccl_h" ] && cmake_args+=("-DAFT_NCCL_INCLUDE_DIR=$(dirname "$nccl_h")")
[ -n "$nccl_so" ] && cmake_args+=("-DAFT_NCCL_LIBRARY=$nccl_so")
[ -d "$cuda_home/include/nvtx3" ] && cmake_args+=("-Dnvtx3_dir=$cuda_home/include")
say "configuring in $build"
cmake "${cmake_args[@]}" >>"$log" 2>&1 || finish "FAIL: configure failed (see $log)" 4
[ "${AFT_CONFIGURE_ONLY:-0}" = 1 ] && finish "configured (AFT_CONFIGURE_ONLY=1: not built)" 0

# 4. Build everything, then the CPU suite.
build_start=$(date +%s)
nice -n 15 ninja -C "$build" -j"$jobs" >>"$log" 2>&1 || finish "FAIL: build failed (see $log)" 4
say "built every target (aft_cuda_tests included) in $(( ($(date +%s) - build_start + 30) / 60 )) min"
test_start=$(date +%s)
# shellcheck disable=SC2086
(cd "$build" && nice -n 15 ctest --output-on-failure -j"$jobs" --timeout 600 ${AFT_CTEST_ARGS:-}) >>"$log" 2>&1 || {
  grep -E 'tests passed|\(Failed\)|\(Timeout\)|\(SEGFAULT\)|Not Run' "$log" | tail -20 | tee -a "$log"
  finish "FAIL: tests failed against torch $torch_version (see $log)" 5
}
say "$(grep -E 'tests passed' "$log" | tail -1) in $(( ($(date +%s) - test_start + 30) / 60 )) min"
finish "PASS: built and the whole suite passed against torch $torch_version's LibTorch (CUDA $torch_cuda, nvcc $("$nvcc" --version | sed -n 's/.*release \([0-9.]*\),.*/\1/p'))" 0
