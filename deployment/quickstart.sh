#!/usr/bin/env bash
# novadock all-in-one demo: installs dependencies (apt-get), builds, starts
# dockerd if none answers, starts novadock-agent and novadock-controller on
# loopback, builds a demo image offline, boots an instance through the
# controller, shows it running with its console, and
# prints grpcurl lines to explore it. Stays up until Ctrl-C, then cleans up.
#
#   deployment/quickstart.sh            run the demo (Ctrl-C to stop)
#   deployment/quickstart.sh --check    run it, verify, tear down, exit 0/1
#   deployment/quickstart.sh --down     stop a demo left running elsewhere
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" != "--down" ]; then
  bash deployment/install-deps.sh
  build="${NOVADOCK_BUILD_DIR:-build}"
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$build" -j "$(nproc)" --target novadock-agent novadock-controller
  export NOVADOCK_AGENT_BINARY="$PWD/$build/agent/novadock-agent"
  export NOVADOCK_CONTROLLER_BINARY="$PWD/$build/controller/novadock-controller"
fi
exec /usr/bin/python3 deployment/quickstart.py "$@"
