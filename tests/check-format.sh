#!/usr/bin/env bash
# Fails if any C++ source of ours is not clang-format (Google style) clean.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(find agent controller glance-loader proto/common tests bench \
  \( -name '*.cc' -o -name '*.h' \) -print 2>/dev/null | sort)
[ "${#files[@]}" -gt 0 ] || { echo "no sources found"; exit 1; }
clang-format --dry-run --Werror "${files[@]}"
echo "clang-format: ${#files[@]} files clean"
