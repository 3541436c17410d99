#!/usr/bin/env bash
# The README's first command: set up, build, and run `aft demo` (data and source model cached in aft-demo/).
set -euo pipefail
cd "$(dirname "$0")/.."
# Only the CLI: the demo needs neither the test suite nor the benchmarks (most of a cold build).
./tools/build.sh aft
./build/aft --version
./build/aft demo "$@"
