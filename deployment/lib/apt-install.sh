# Sourced by deployment/install-deps.sh and deployment/openstack-aio/install.sh.
#
# novadock_apt_install LABEL PACKAGE...: installs, from Debian's archive,
# those of the packages that are not installed yet; does nothing (and needs
# no network) when all are. Needs root or sudo. While it runs, a
# policy-rc.d that answers "no" keeps the packages' postinst scripts from
# starting their services (dockerd, containerd, rabbitmq, mariadb, the
# OpenStack daemons) with the packages' own configs on the host: novadock's
# tests, demo and loopback OpenStack start what they need themselves. An
# existing policy-rc.d is left as it is.
novadock_apt_install() {
  local label="$1"
  shift
  local missing=() p
  for p in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
      missing+=("$p")
    fi
  done
  if [ "${#missing[@]}" -eq 0 ]; then
    return 0
  fi
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  echo "$label: installing ${missing[*]}" >&2
  local policy_rc=/usr/sbin/policy-rc.d created_policy=0 rc=0
  if [ ! -e "$policy_rc" ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy_rc" >/dev/null
    $sudo chmod +x "$policy_rc"
    created_policy=1
  fi
  {
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
      $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends "${missing[@]}" >/dev/null
  } || rc=$?
  if [ "$created_policy" = 1 ]; then $sudo rm -f "$policy_rc"; fi
  return "$rc"
}
