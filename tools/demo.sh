#!/usr/bin/env bash
# The README's first command: set up, build, and run `aft demo` (data and source model cached in aft-demo/).
set -euo pipefail
cd "$(dirname "$0")/.."
./tools/build.sh
./build/aft --version
./build/aft demo "$@"
