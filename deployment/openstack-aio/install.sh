#!/usr/bin/env bash
# Installs the Debian 12 (Zed) packages of the loopback OpenStack that
# deployment/openstack-aio/aio.sh runs: keystone, glance, placement,
# neutron-server, nova api/conductor/scheduler, rabbitmq, mariadb, the
# openstack CLI. Fast when all are present already. Needs root (or sudo).
#
# The nova-compute PACKAGE is deliberately not installed: it Depends on
# nova-compute-kvm (libvirt, qemu, open-iscsi). nova-compute runs from
# python3-nova's nova.cmd.compute instead (see aio.sh).
set -euo pipefail

PACKAGES=(
  keystone glance-api placement-api
  nova-api nova-conductor nova-scheduler python3-nova
  neutron-server rabbitmq-server mariadb-server
  python3-openstackclient python3-osc-placement python3-keystoneclient
  python3-pymysql python3-kombu uwsgi-plugin-python3 sqlite3 curl
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
echo "novadock openstack-aio: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# The packages' postinst scripts call invoke-rc.d: without a policy-rc.d that
# says no, they would START rabbitmq and mariadb on 0.0.0.0, glance-api,
# keystone, nova-* and neutron with the packages' own configs. aio.sh starts
# everything itself, on 127.0.0.1 only.
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
