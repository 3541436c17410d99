#!/usr/bin/env bash
# Installs dependencies (tools/setup.sh) and builds aft and its tests into build/.
set -euo pipefail
cd "$(dirname "$0")/.."
./tools/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C build -j"${AFT_JOBS:-2}"
