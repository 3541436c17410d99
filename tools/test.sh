#!/usr/bin/env bash
# The README's second command: set up, build, and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
./tools/build.sh
cd build
ctest --output-on-failure -j2 --timeout 600
