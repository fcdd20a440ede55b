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

# shellcheck source=deployment/lib/apt-install.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/apt-install.sh"
novadock_apt_install "novadock openstack-aio" "${PACKAGES[@]}"
