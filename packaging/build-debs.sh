#!/bin/sh
# Builds novadock's Debian packages into OUT_DIR (default: build-debs/debs
# in the checkout) from a build directory of their own, without tests:
#
#   packaging/build-debs.sh [OUT_DIR]
#
#   NOVADOCK_DEB_BUILD_DIR  the build directory (default: build-debs/)
#   NOVADOCK_JOBS           parallel jobs (default: nproc)
#
# An existing, fully built build directory can make them too:
#   cmake --build BUILD --target package
# docs/packaging.md describes the packages.
set -eu
cd "$(dirname "$0")/.."
src=$(pwd)
build=${NOVADOCK_DEB_BUILD_DIR:-$src/build-debs}
out=${1:-$build/debs}
jobs=${NOVADOCK_JOBS:-$(nproc)}
cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DNOVADOCK_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" -j "$jobs" --target novadock-agent \
  novadock-controller novadock-glance-loader novadock-nova-shim
mkdir -p "$out"
cpack -G DEB -B "$out" --config "$build/CPackConfig.cmake" >/dev/null
rm -rf "$out/_CPack_Packages"
ls "$out"/*.deb
