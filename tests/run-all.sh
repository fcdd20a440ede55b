#!/usr/bin/env bash
# The whole novadock test suite: installs dependencies (apt-get), builds, and
# runs every unit, integration and end-to-end test with CTest. Integration
# tests start their own private dockerd (needs root); the end-to-end test
# e2e_openstack starts a real loopback OpenStack (Debian's Zed packages, from
# deployment/openstack-aio/install.sh) on private ports, ~2-3 min. Then the
# unit and integration tests again under sanitizers, and the fuzzers for a
# bounded time. Exit status is CTest's.
#
#   NOVADOCK_BUILD_DIR  build directory (default: build/ in the checkout)
#   NOVADOCK_CTEST_ARGS extra ctest arguments for the ordinary build
#                       (e.g. "-L unit")
#   NOVADOCK_SANITIZERS 0 skips the ASan/UBSan, TSan and fuzz builds and
#                       runs (default 1; CI runs them)
set -euo pipefail
cd "$(dirname "$0")/.."
bash deployment/install-deps.sh
bash deployment/openstack-aio/install.sh
build="${NOVADOCK_BUILD_DIR:-build}"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "$(nproc)"
# Sanitizer builds with clang (tests/sanitizers/README.md): everything under
# ASan + UBSan, with the fuzz targets (tests/fuzz/README.md); and under TSan
# only the binaries of the tests labelled "concurrency".
sanitizers="${NOVADOCK_SANITIZERS:-1}"
asan_build="${build}-asan"
tsan_build="${build}-tsan"
if [ "$sanitizers" = 1 ]; then
  CC=clang CXX=clang++ cmake -S . -B "$asan_build" -G Ninja \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNOVADOCK_ASAN=ON -DNOVADOCK_FUZZ=ON \
    >/dev/null
  cmake --build "$asan_build" -j "$(nproc)"
  CC=clang CXX=clang++ cmake -S . -B "$tsan_build" -G Ninja \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNOVADOCK_TSAN=ON >/dev/null
  cmake --build "$tsan_build" -j "$(nproc)" --target concurrency_tests
fi
# shellcheck disable=SC2086
(cd "$build" && ctest --output-on-failure -j 2 ${NOVADOCK_CTEST_ARGS:-})
if [ "$sanitizers" = 1 ]; then
  (cd "$asan_build" && ctest --output-on-failure -j 2 -L 'unit|integration')
  (cd "$tsan_build" && ctest --output-on-failure -j 2 -L concurrency)
  (cd "$asan_build" && ctest --output-on-failure -j 2 -L fuzz)
fi
