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

# shellcheck source=deployment/lib/apt-install.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/apt-install.sh"
novadock_apt_install "novadock" "${PACKAGES[@]}"
