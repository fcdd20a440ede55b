#!/usr/bin/env bash
# The whole novadock test suite: installs dependencies (apt-get), builds, and
# runs every unit, integration and end-to-end test with CTest. Integration
# tests start their own private dockerd (needs root); the end-to-end test
# e2e_openstack starts a real loopback OpenStack (Debian's Zed packages, from
# deployment/openstack-aio/install.sh) on private ports, ~2-3 min. Exit
# status is CTest's.
#
#   NOVADOCK_BUILD_DIR  build directory (default: build/ in the checkout)
#   NOVADOCK_CTEST_ARGS extra ctest arguments (e.g. "-L unit")
set -euo pipefail
cd "$(dirname "$0")/.."
bash deployment/install-deps.sh
bash deployment/openstack-aio/install.sh
build="${NOVADOCK_BUILD_DIR:-build}"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "$(nproc)"
# Fuzzers (libFuzzer needs clang): a separate build of the fuzz targets
# only, each run for a bounded time by the CTest label "fuzz".
fuzz_build="${build}-fuzz"
CC=clang CXX=clang++ cmake -S . -B "$fuzz_build" -G Ninja \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNOVADOCK_FUZZ=ON >/dev/null
cmake --build "$fuzz_build" -j "$(nproc)" --target archive_fuzzer
# shellcheck disable=SC2086
(cd "$build" && ctest --output-on-failure -j 2 ${NOVADOCK_CTEST_ARGS:-})
(cd "$fuzz_build" && ctest --output-on-failure -L fuzz)
