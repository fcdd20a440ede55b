#!/usr/bin/env bash
# Installs everything novadock needs to build, test and run its demo, from
# Debian's packages. Fast when all are present already. Needs root (or sudo).
set -euo pipefail

PACKAGES=(
  # build
  cmake ninja-build g++ pkg-config
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libssl-dev libcurl4-openssl-dev rapidjson-dev libarchive-dev
  libgtest-dev libgmock-dev googletest
  # run and test
  clang-format clang libclang-rt-14-dev
  llvm  # llvm-symbolizer: file:line in sanitizer reports
  docker.io busybox-static openssl curl procps util-linux
  python3 python3-grpcio python3-grpc-tools python3-protobuf python3-docker
  python3-nova python3-oslo.config
  time
  glance-api sqlite3
  # packages (CPack DEB) and the Fuel plugin's tests
  dpkg-dev fakeroot file systemd adduser
  python3-yaml python3-jsonschema
  puppet puppet-module-puppetlabs-inifile
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
    missing+=("$p")
  fi
done
if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "novadock: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# Keep package scripts from starting services (dockerd, containerd) on the
# host: novadock's tests and demo start their own.
policy_rc=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy_rc" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy_rc" >/dev/null
  $SUDO chmod +x "$policy_rc"
  created_policy=1
fi
trap '[ "$created_policy" = 1 ] && $SUDO rm -f "$policy_rc"' EXIT
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
