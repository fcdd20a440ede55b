#!/bin/sh
# Builds the installable tree of the Nova shim into DEST:
#
#   DEST/nova/virt/novadock/{__init__,conf,client,events,driver}.py
#   DEST/nova/virt/novadock/_proto/{types,agent,controller}_pb2*.py
#   DEST/novadock_nova_shim-VERSION.dist-info/  (oslo.config.opts entry point)
#
# Install by copying DEST's contents into Nova's site directory, e.g.
#   controller/nova_shim/build.sh /usr/lib/python3/dist-packages
# or build elsewhere and copy. The stubs come from proto/ with
# grpc_tools.protoc (python3-grpc-tools); their "from novadock.v1 import"
# lines are rewritten to relative imports so that they live inside
# nova.virt.novadock._proto and nothing is added to the top level.
#
# usage: build.sh DEST [PYTHON]   (PYTHON defaults to /usr/bin/python3)
set -eu
if [ $# -lt 1 ]; then
  echo "usage: $0 DEST [PYTHON]" >&2
  exit 2
fi
DEST=$1
PYTHON=${2:-/usr/bin/python3}
HERE=$(cd "$(dirname "$0")" && pwd)
PROTO_ROOT=${NOVADOCK_PROTO_ROOT:-$(cd "$HERE/../../proto" && pwd)}
VERSION=0.1.0
PKG="$DEST/nova/virt/novadock"

mkdir -p "$PKG/_proto"
for f in "$HERE"/novadock/*.py; do
  cp "$f" "$PKG/"
done

GEN=$(mktemp -d "${TMPDIR:-/tmp}/ndshim.XXXXXX")
trap 'rm -rf "$GEN"' EXIT INT TERM
"$PYTHON" -m grpc_tools.protoc -I"$PROTO_ROOT" \
  --python_out="$GEN" --grpc_python_out="$GEN" \
  novadock/v1/types.proto novadock/v1/agent.proto \
  novadock/v1/controller.proto
for f in "$GEN"/novadock/v1/*_pb2*.py; do
  sed -e 's/^from novadock\.v1 import /from . import /' "$f" \
    > "$PKG/_proto/$(basename "$f")"
done
cat > "$PKG/_proto/__init__.py" <<'PY'
"""Generated from proto/novadock/v1 by controller/nova_shim/build.sh."""
PY

DIST="$DEST/novadock_nova_shim-$VERSION.dist-info"
mkdir -p "$DIST"
cat > "$DIST/METADATA" <<META
Metadata-Version: 2.1
Name: novadock-nova-shim
Version: $VERSION
Summary: novadock compute driver for Nova (nova.virt.novadock)
META
cat > "$DIST/entry_points.txt" <<'EP'
[oslo.config.opts]
novadock = nova.virt.novadock.conf:list_opts
EP
echo "nova" > "$DIST/top_level.txt"
echo "novadock nova shim built into $DEST"
