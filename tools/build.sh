#!/usr/bin/env bash
# Installs dependencies (tools/setup.sh) and builds aft into build/: the given ninja targets,
# or everything (the library, the CLI, the step benchmark and the test suite) when none are given.
set -euo pipefail
cd "$(dirname "$0")/.."
./tools/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C build -j"${AFT_JOBS:-2}" "$@"
