#!/usr/bin/env bash
# The whole novadock test suite: installs dependencies (apt-get), builds, and
# runs every unit, integration and end-to-end test with CTest. Integration
# tests start their own private dockerd (needs root). Exit status is CTest's.
#
#   NOVADOCK_BUILD_DIR  build directory (default: build/ in the checkout)
#   NOVADOCK_CTEST_ARGS extra ctest arguments (e.g. "-L unit")
set -euo pipefail
cd "$(dirname "$0")/.."
bash deployment/install-deps.sh
build="${NOVADOCK_BUILD_DIR:-build}"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "$(nproc)"
cd "$build"
# shellcheck disable=SC2086
ctest --output-on-failure -j 2 ${NOVADOCK_CTEST_ARGS:-}
