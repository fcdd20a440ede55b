#!/usr/bin/env bash
# Try novadock with a real OpenStack on one machine (Debian 12, Zed): starts
# keystone, glance, placement, neutron-server, nova api/conductor/scheduler,
# rabbitmq and mariadb on 127.0.0.1, then novadock (agent + controller) as
# node compute-docker-1 and a nova-compute whose compute_driver is
# novadock.driver.NovaDockDriver, on the same host. Adds a flavor, a demo
# docker-save image in Glance (container format docker) and a demo network.
# Idempotent: a second run starts only what is not running. See
# docs/openstack-aio.md.
#
#   deployment/openstack-aio/install.sh           once: Debian packages
#   deployment/openstack-aio/aio.sh [options]     start (or converge)
#   deployment/openstack-aio/aio.sh --down        stop everything, keep state
#   deployment/openstack-aio/aio.sh --purge       stop, remove containers and state
#   . STATE/admin-openrc; openstack server create ...
#
# Options (remembered in STATE/aio.env for later runs):
#   --from-build DIR   novadock from a build tree (DIR/agent/novadock-agent,
#                      DIR/controller/novadock-controller and the Nova shim
#                      tree DIR/controller/nova_shim/tree); default: the
#                      installed packages (novadock-agent on PATH, the shim in
#                      nova/virt/novadock)
#   --state-dir DIR    all state, logs and configs (default /var/lib/novadock-aio,
#                      or $NOVADOCK_AIO_STATE)
#   --port-base N      private ports N..N+10 instead of the standard ones
#                      (keystone 5000, glance 9292, placement 8778, nova 8774,
#                      neutron 9696, rabbitmq 5672/epmd 4369/dist 25672,
#                      mariadb 3306, controller 50050, agent 50051)
#   --docker-host unix:///PATH   the dockerd to use; default: the system one
#                      if /var/run/docker.sock answers, else a private one
#   --private-dockerd  always start a private dockerd (own data-root,
#                      exec-root and socket under STATE/docker)
#   --fake-compute     also run a second nova-compute, host aio-fake, with
#                      Nova's fake.FakeDriver (bench/openstack_boot.py)
#   --no-demo          skip the demo flavor, image and network
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# Debian's python3 and entry points, not another python3 earlier on PATH.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PYTHONDONTWRITEBYTECODE=1
export no_proxy=127.0.0.1,localhost,::1 NO_PROXY=127.0.0.1,localhost,::1
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY OS_CLOUD

NODE=compute-docker-1
FAKE_HOST=aio-fake
T0=$(date +%s%3N)
say() { echo "[aio $(( $(date +%s%3N) - T0 ))ms] $*"; }
die() { echo "aio: $*" >&2; exit 1; }

# ---- arguments and remembered settings ------------------------------------
ACTION=up
STATE=${NOVADOCK_AIO_STATE:-/var/lib/novadock-aio}
declare -A ARG=()
while [ $# -gt 0 ]; do
  case "$1" in
    --down) ACTION=down ;;
    --purge) ACTION=purge ;;
    --from-build) ARG[FROM_BUILD]=$(cd "${2:?--from-build DIR}" && pwd); shift ;;
    --state-dir) STATE=${2:?--state-dir DIR}; shift ;;
    --port-base) ARG[PORT_BASE]=${2:?--port-base N}; shift ;;
    --docker-host) ARG[DOCKER_CHOICE]=${2:?--docker-host unix:///PATH}; shift ;;
    --private-dockerd) ARG[DOCKER_CHOICE]=private ;;
    --fake-compute) ARG[FAKE_COMPUTE]=1 ;;
    --no-demo) ARG[NO_DEMO]=1 ;;
    -h|--help) sed -n '2,40p' "$0"; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
  shift
done
[ "$(id -u)" = 0 ] || die "run as root (it starts dockerd, mariadb, rabbitmq)"
case "$STATE" in /*) ;; *) STATE=$PWD/$STATE ;; esac
STATE=${STATE%/}
FROM_BUILD="" PORT_BASE="" DOCKER_CHOICE=auto FAKE_COMPUTE="" NO_DEMO="" DOCKER_HOST_USED=""
# shellcheck disable=SC1091
[ -f "$STATE/aio.env" ] && . "$STATE/aio.env"
for k in "${!ARG[@]}"; do printf -v "$k" '%s' "${ARG[$k]}"; done

if [ -n "$PORT_BASE" ]; then
  [[ "$PORT_BASE" =~ ^[0-9]+$ ]] && [ "$PORT_BASE" -ge 1024 ] && [ "$PORT_BASE" -le 65000 ] ||
    die "--port-base $PORT_BASE: give a number from 1024 to 65000"
  b=$PORT_BASE
  KEYSTONE_PORT=$b GLANCE_PORT=$((b + 1)) PLACEMENT_PORT=$((b + 2)) NOVA_PORT=$((b + 3))
  NEUTRON_PORT=$((b + 4)) RABBIT_PORT=$((b + 5)) EPMD_PORT=$((b + 6)) RABBIT_DIST_PORT=$((b + 7))
  MARIADB_PORT=$((b + 8)) CONTROLLER_PORT=$((b + 9)) AGENT_PORT=$((b + 10))
else
  KEYSTONE_PORT=5000 GLANCE_PORT=9292 PLACEMENT_PORT=8778 NOVA_PORT=8774
  NEUTRON_PORT=9696 RABBIT_PORT=5672 EPMD_PORT=4369 RABBIT_DIST_PORT=25672
  MARIADB_PORT=3306 CONTROLLER_PORT=50050 AGENT_PORT=50051
fi

# ---- daemons: own session each, pid in STATE/run ---------------------------
pid_of() { cat "$STATE/run/$1.pid" 2>/dev/null || true; }
running() { local p; p=$(pid_of "$1"); [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }
# start_daemon NAME CMD...: no-op if NAME runs; output to STATE/log/NAME.out.
start_daemon() {
  local name=$1; shift
  if running "$name"; then return 0; fi
  (
    # Daemons must not hold the caller's pipes open: close fds above 2.
    for fd in /proc/$BASHPID/fd/*; do
      fd=${fd##*/}
      [ "$fd" -gt 2 ] && eval "exec $fd>&-" 2>/dev/null || true
    done
    exec setsid "$@" </dev/null >>"$STATE/log/$name.out" 2>&1
  ) &
  echo $! >"$STATE/run/$name.pid"
}
# stop_daemon NAME: TERM its process group (setsid made it the pid), KILL
# after 20 s; only the recorded pid and its group are touched.
stop_daemon() {
  local name=$1 pid
  pid=$(pid_of "$name")
  [ -n "$pid" ] || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
    say "stopped $name"
  fi
  if pgrep -g "$pid" >/dev/null 2>&1; then kill -KILL -- "-$pid" 2>/dev/null || true; fi
  rm -f "$STATE/run/$name.pid"
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() {  # wait_port NAME PORT SECONDS
  local _
  for _ in $(seq 1 $(($3 * 10))); do
    port_open "$2" && return 0
    running "$1" || { tail -n 30 "$STATE/log/$1.out" >&2; die "$1 exited"; }
    sleep 0.1
  done
  tail -n 30 "$STATE/log/$1.out" >&2; die "$1 did not listen on 127.0.0.1:$2 within $3 s"
}
wait_http() {  # wait_http NAME URL SECONDS: any HTTP answer
  local _
  for _ in $(seq 1 $(($3 * 10))); do
    curl -s -o /dev/null -m 2 "$2" && return 0
    running "$1" || { tail -n 30 "$STATE/log/$1.out" >&2; die "$1 exited"; }
    sleep 0.1
  done
  die "$1 did not answer $2 within $3 s (log: $STATE/log/$1.out)"
}
# quiet LOG CMD...: output to STATE/log/LOG.out; on failure show its tail.
quiet() {
  local log=$STATE/log/$1.out rc=0; shift
  echo "+ $*" >>"$log"
  "$@" >>"$log" 2>&1 || rc=$?
  [ $rc = 0 ] || { tail -n 25 "$log" >&2; echo "aio: failed ($rc): $*" >&2; }
  return $rc
}

# Daemons in start order; stopped in reverse.
DAEMONS=(dockerd epmd rabbitmq mariadb keystone glance-api placement neutron-server
         nova-api nova-conductor nova-scheduler novadock-agent novadock-controller
         nova-compute nova-compute-fake)

docker_sock() { local h=${DOCKER_HOST_USED:-}; echo "${h#unix://}"; }
docker_ping() { curl -sf -m 2 --unix-socket "$1" http://docker/_ping >/dev/null 2>&1; }

# Stops the private dockerd and whatever of it outlives it: containerd
# shims and container processes (found by the private directory in their
# command line), then its mounts.
stop_private_dockerd() {
  local d=$STATE/docker p
  stop_daemon dockerd
  for p in $(pgrep -f -- "$d/" || true); do kill -KILL "$p" 2>/dev/null || true; done
  { grep -F " $d/" /proc/self/mountinfo 2>/dev/null || true; } | awk '{print $5}' | sort -r |
    while read -r m; do umount -l "$m" 2>/dev/null || true; done
}

# Stops every daemon but dockerd at once (TERM to each process group, KILL
# what is left after 20 s), then the private dockerd if there is one.
down() {
  local name pid pids=() names=()
  for name in "${DAEMONS[@]}"; do
    [ "$name" = dockerd ] && continue
    pid=$(pid_of "$name")
    [ -n "$pid" ] || continue
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
      pids+=("$pid"); names+=("$name")
    fi
    rm -f "$STATE/run/$name.pid"
  done
  for _ in $(seq 1 200); do
    local alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do
    if pgrep -g "$pid" >/dev/null 2>&1; then kill -KILL -- "-$pid" 2>/dev/null || true; fi
  done
  [ ${#names[@]} = 0 ] || say "stopped ${names[*]}"
  if [ -f "$STATE/run/dockerd.pid" ]; then stop_private_dockerd; fi
}

if [ "$ACTION" != up ]; then
  [ -f "$STATE/aio.env" ] || { echo "aio: nothing in $STATE"; exit 0; }
  if [ "$ACTION" = purge ]; then
    sock=$(docker_sock)
    if [ -n "$sock" ] && docker_ping "$sock"; then
      /usr/bin/python3 "$HERE/aio_docker.py" purge "$sock" "$NODE" "$STATE/images" || true
    fi
  fi
  down
  if [ "$ACTION" = purge ]; then
    rm -rf "$STATE"
    say "removed $STATE"
  fi
  exit 0
fi

# ---- up: checks ---------------------------------------------------------------
for b in uwsgi keystone-manage glance-api glance-manage placement-manage nova-manage \
         nova-conductor nova-scheduler neutron-server neutron-db-manage mariadbd \
         mariadb-install-db epmd openstack sqlite3 curl dockerd; do
  command -v "$b" >/dev/null || die "$b missing: run $HERE/install.sh"
done
[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || die "rabbitmq-server missing: run $HERE/install.sh"
[ -e /usr/lib/uwsgi/plugins/python3_plugin.so ] || die "uwsgi-plugin-python3 missing: run $HERE/install.sh"
SHIM_TREE=""
if [ -n "$FROM_BUILD" ]; then
  AGENT_BIN=$FROM_BUILD/agent/novadock-agent
  CONTROLLER_BIN=$FROM_BUILD/controller/novadock-controller
  SHIM_TREE=$FROM_BUILD/controller/nova_shim/tree
  for f in "$AGENT_BIN" "$CONTROLLER_BIN"; do
    [ -x "$f" ] || die "$f missing: build it (ninja -C $FROM_BUILD novadock-agent novadock-controller novadock-nova-shim)"
  done
  [ -d "$SHIM_TREE/nova/virt/novadock" ] ||
    die "$SHIM_TREE missing: build it (ninja -C $FROM_BUILD novadock-nova-shim)"
else
  AGENT_BIN=$(command -v novadock-agent) ||
    die "novadock-agent is not installed: install novadock's packages, or give --from-build BUILD_DIR"
  CONTROLLER_BIN=$(command -v novadock-controller) ||
    die "novadock-controller is not installed: install novadock's packages, or give --from-build BUILD_DIR"
  /usr/bin/python3 -c 'import importlib.util as u, nova.virt; assert u.find_spec("nova.virt.novadock")' \
    2>/dev/null || die "nova.virt.novadock is not installed: install novadock's packages, or give --from-build BUILD_DIR"
fi
# A port this state dir's daemon does not hold must be free.
check_port() {  # check_port DAEMON PORT
  if ! running "$1" && port_open "$2"; then
    die "127.0.0.1:$2 (for $1) is taken by another program: stop it, or pick free ports with --port-base N"
  fi
}
check_port keystone "$KEYSTONE_PORT"; check_port glance-api "$GLANCE_PORT"
check_port placement "$PLACEMENT_PORT"; check_port nova-api "$NOVA_PORT"
check_port neutron-server "$NEUTRON_PORT"; check_port rabbitmq "$RABBIT_PORT"
check_port epmd "$EPMD_PORT"; check_port rabbitmq "$RABBIT_DIST_PORT"
check_port mariadb "$MARIADB_PORT"; check_port novadock-controller "$CONTROLLER_PORT"
check_port novadock-agent "$AGENT_PORT"

mkdir -p "$STATE"/{etc,db,log,run,lock/nova,lock/neutron,lock/glance,keystone,glance/images,glance/staging,glance/tasks,neutron,nova/instances,images,controller-images,rabbitmq,mysql}
chmod 700 "$STATE"
if [ ! -s "$STATE/etc/password" ]; then
  (umask 077; head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$STATE/etc/password")
fi
PASSWORD=$(cat "$STATE/etc/password")
cat >"$STATE/aio.env" <<EOF
# novadock openstack-aio settings of this state dir (written by aio.sh)
FROM_BUILD='$FROM_BUILD'
PORT_BASE='$PORT_BASE'
DOCKER_CHOICE='$DOCKER_CHOICE'
FAKE_COMPUTE='$FAKE_COMPUTE'
NO_DEMO='$NO_DEMO'
DOCKER_HOST_USED='$DOCKER_HOST_USED'
EOF

# ---- configs ---------------------------------------------------------------
render() {  # render TEMPLATE OUT
  sed -e "s#@STATE@#$STATE#g" -e "s#@PASSWORD@#$PASSWORD#g" \
      -e "s#@KEYSTONE_PORT@#$KEYSTONE_PORT#g" -e "s#@GLANCE_PORT@#$GLANCE_PORT#g" \
      -e "s#@PLACEMENT_PORT@#$PLACEMENT_PORT#g" -e "s#@NOVA_PORT@#$NOVA_PORT#g" \
      -e "s#@NEUTRON_PORT@#$NEUTRON_PORT#g" -e "s#@RABBIT_PORT@#$RABBIT_PORT#g" \
      -e "s#@MARIADB_PORT@#$MARIADB_PORT#g" -e "s#@CONTROLLER_PORT@#$CONTROLLER_PORT#g" \
      "$HERE/etc/$1" >"$2.new"
  chmod 600 "$2.new"
  mv "$2.new" "$2"
}
render keystone.conf "$STATE/etc/keystone.conf"
render glance-api.conf "$STATE/etc/glance-api.conf"
mkdir -p "$STATE/etc/placement" "$STATE/etc/nova"
render placement.conf "$STATE/etc/placement/placement.conf"
render neutron.conf "$STATE/etc/neutron.conf"
render nova.conf "$STATE/etc/nova/nova.conf"
# nova-api-wsgi reads api-paste.ini from its config directory.
cp /etc/nova/api-paste.ini "$STATE/etc/nova/api-paste.ini"
render rabbitmq.conf "$STATE/etc/rabbitmq.conf"
render mariadb.cnf "$STATE/etc/mariadb.cnf"
# nova-compute must not see database credentials ("No DB access allowed in
# nova-compute").
grep -v '^connection = ' "$STATE/etc/nova/nova.conf" >"$STATE/etc/nova/nova-compute.conf"
cat >"$STATE/etc/nova/nova-compute-fake.conf" <<EOF
# The benchmark's second nova-compute: Nova's in-tree fake driver.
[DEFAULT]
host = $FAKE_HOST
compute_driver = fake.FakeDriver
instances_path = $STATE/nova/instances-fake
EOF
cat >"$STATE/admin-openrc" <<EOF
# novadock openstack-aio: admin credentials (source me)
export OS_AUTH_URL=http://127.0.0.1:$KEYSTONE_PORT/v3
export OS_IDENTITY_API_VERSION=3
export OS_USERNAME=admin
export OS_PASSWORD=$PASSWORD
export OS_PROJECT_NAME=admin
export OS_USER_DOMAIN_NAME=Default
export OS_PROJECT_DOMAIN_NAME=Default
export OS_REGION_NAME=RegionOne
export OS_INTERFACE=public
# --nic none needs 2.37; server create --host needs 2.74
export OS_COMPUTE_API_VERSION=2.79
export no_proxy=127.0.0.1,localhost,::1 NO_PROXY=127.0.0.1,localhost,::1
unset OS_CLOUD
EOF
chmod 600 "$STATE/admin-openrc"
K=(--config-file "$STATE/etc/keystone.conf")
N=(--config-file "$STATE/etc/nova/nova.conf")
MY=(--defaults-file="$STATE/etc/mariadb.cnf")
wal() { sqlite3 "$1" 'PRAGMA journal_mode=WAL;' >/dev/null; }
UWSGI=(uwsgi --plugin python3 --processes 1 --threads 1 --die-on-term --need-app
       --buffer-size 65535 --add-header 'Connection: close' --disable-logging)

# ---- mariadb, then database set-up in the background ----------------------
say "mariadb on 127.0.0.1:$MARIADB_PORT"
if [ ! -d "$STATE/mysql/mysql" ]; then
  quiet mariadb-install-db mariadb-install-db "${MY[@]}" \
    --auth-root-authentication-method=socket --skip-test-db
fi
start_daemon mariadb mariadbd "${MY[@]}"
for _ in $(seq 1 300); do
  mariadb-admin "${MY[@]}" -uroot ping >/dev/null 2>&1 && break
  running mariadb || { tail -n 20 "$STATE/log/mariadb.err" >&2; die "mariadb exited"; }
  sleep 0.1
done
mariadb "${MY[@]}" -uroot <<SQL
CREATE DATABASE IF NOT EXISTS nova_api;
CREATE DATABASE IF NOT EXISTS nova;
CREATE DATABASE IF NOT EXISTS nova_cell0;
CREATE USER IF NOT EXISTS 'nova'@'127.0.0.1' IDENTIFIED BY '$PASSWORD';
GRANT ALL PRIVILEGES ON nova_api.* TO 'nova'@'127.0.0.1';
GRANT ALL PRIVILEGES ON nova.* TO 'nova'@'127.0.0.1';
GRANT ALL PRIVILEGES ON nova_cell0.* TO 'nova'@'127.0.0.1';
SQL
nova_query() { mariadb "${MY[@]}" -uroot -N -B nova_api -e "$1" 2>/dev/null || echo 0; }
nova_db() {
  quiet nova-manage nova-manage "${N[@]}" api_db sync
  if [ "$(nova_query "select count(*) from cell_mappings where name='cell0'")" = 0 ]; then
    quiet nova-manage nova-manage "${N[@]}" cell_v2 map_cell0 --database_connection \
      "mysql+pymysql://nova:$PASSWORD@127.0.0.1:$MARIADB_PORT/nova_cell0?charset=utf8"
  fi
  if [ "$(nova_query "select count(*) from cell_mappings where name='cell1'")" = 0 ]; then
    quiet nova-manage nova-manage "${N[@]}" cell_v2 create_cell --name cell1
  fi
  quiet nova-manage nova-manage "${N[@]}" db sync
}
jobs_pids=()
nova_db & jobs_pids+=($!)
if [ ! -s "$STATE/db/placement.sqlite" ]; then
  ( quiet placement-manage placement-manage --config-file "$STATE/etc/placement/placement.conf" db sync &&
    wal "$STATE/db/placement.sqlite" ) & jobs_pids+=($!)
fi
if [ ! -s "$STATE/db/neutron.sqlite" ]; then
  ( quiet neutron-db-manage /usr/bin/python3 "$HERE/neutron_schema.py" "sqlite:///$STATE/db/neutron.sqlite" &&
    quiet neutron-db-manage neutron-db-manage --config-file "$STATE/etc/neutron.conf" stamp heads
  ) & jobs_pids+=($!)
fi
if [ ! -s "$STATE/db/glance.sqlite" ]; then
  ( quiet glance-manage glance-manage --config-file "$STATE/etc/glance-api.conf" db_sync &&
    wal "$STATE/db/glance.sqlite" ) & jobs_pids+=($!)
fi

# ---- rabbitmq (with an epmd of our own, so it stays in our process group) --
say "rabbitmq on 127.0.0.1:$RABBIT_PORT"
echo '[].' >"$STATE/etc/rabbitmq-plugins"
: >"$STATE/etc/rabbitmq-env.conf"
start_daemon epmd epmd -address 127.0.0.1 -port "$EPMD_PORT"
wait_port epmd "$EPMD_PORT" 10
HOME=$STATE/rabbitmq ERL_EPMD_ADDRESS=127.0.0.1 ERL_EPMD_PORT=$EPMD_PORT \
RABBITMQ_NODENAME=rabbit@localhost RABBITMQ_USE_LONGNAME=false \
RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT=$RABBIT_PORT \
RABBITMQ_DIST_PORT=$RABBIT_DIST_PORT \
RABBITMQ_CONF_ENV_FILE=$STATE/etc/rabbitmq-env.conf \
RABBITMQ_CONFIG_FILE=$STATE/etc/rabbitmq.conf \
RABBITMQ_ENABLED_PLUGINS_FILE=$STATE/etc/rabbitmq-plugins \
RABBITMQ_MNESIA_BASE=$STATE/rabbitmq/mnesia RABBITMQ_LOG_BASE=$STATE/log \
RABBITMQ_PID_FILE=$STATE/rabbitmq/rabbit.pid \
RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}" \
  start_daemon rabbitmq /usr/lib/rabbitmq/bin/rabbitmq-server

# ---- keystone ---------------------------------------------------------------
say "keystone on 127.0.0.1:$KEYSTONE_PORT"
if [ ! -s "$STATE/db/keystone.sqlite" ]; then
  quiet keystone-manage keystone-manage "${K[@]}" db_sync
  wal "$STATE/db/keystone.sqlite"
fi
for repo in fernet credential; do
  [ -e "$STATE/keystone/$repo-keys/0" ] ||
    quiet keystone-manage keystone-manage "${K[@]}" "${repo}_setup" \
      --keystone-user root --keystone-group root
done
if [ ! -e "$STATE/keystone/bootstrapped" ]; then
  url=http://127.0.0.1:$KEYSTONE_PORT/v3/
  quiet keystone-manage keystone-manage "${K[@]}" bootstrap --bootstrap-password "$PASSWORD" \
    --bootstrap-admin-url "$url" --bootstrap-internal-url "$url" \
    --bootstrap-public-url "$url" --bootstrap-region-id RegionOne
  touch "$STATE/keystone/bootstrapped"
fi
OS_KEYSTONE_CONFIG_FILES=$STATE/etc/keystone.conf start_daemon keystone "${UWSGI[@]}" \
  --http-socket "127.0.0.1:$KEYSTONE_PORT" --wsgi-file /usr/bin/keystone-wsgi-public
wait_port rabbitmq "$RABBIT_PORT" 60
say "waiting for the database jobs"
for p in "${jobs_pids[@]}"; do
  wait "$p" || die "a database set-up job failed (logs: $STATE/log/*-manage.out)"
done
wait_http keystone "http://127.0.0.1:$KEYSTONE_PORT/v3" 60
NOVADOCK_AIO_PASSWORD=$PASSWORD quiet keystone-setup /usr/bin/python3 "$HERE/keystone_setup.py" \
  "$KEYSTONE_PORT" "$GLANCE_PORT" "$PLACEMENT_PORT" "$NOVA_PORT" "$NEUTRON_PORT"

# ---- glance, placement, neutron, nova control services ----------------------
say "glance :$GLANCE_PORT, placement :$PLACEMENT_PORT, neutron :$NEUTRON_PORT, nova-api :$NOVA_PORT"
start_daemon glance-api glance-api --config-file "$STATE/etc/glance-api.conf"
OS_PLACEMENT_CONFIG_DIR=$STATE/etc/placement start_daemon placement "${UWSGI[@]}" \
  --http-socket "127.0.0.1:$PLACEMENT_PORT" --wsgi-file /usr/bin/placement-api
PYTHONPATH=$HERE/neutron_bindall start_daemon neutron-server neutron-server \
  --config-file "$STATE/etc/neutron.conf"
OS_NOVA_CONFIG_DIR=$STATE/etc/nova start_daemon nova-api "${UWSGI[@]}" \
  --http-socket "127.0.0.1:$NOVA_PORT" --wsgi-file /usr/bin/nova-api-wsgi
start_daemon nova-conductor nova-conductor "${N[@]}" --log-file "$STATE/log/nova-conductor.log"
start_daemon nova-scheduler nova-scheduler "${N[@]}" --log-file "$STATE/log/nova-scheduler.log"

# ---- dockerd -----------------------------------------------------------------
if [ "$DOCKER_CHOICE" = auto ] && [ ! -f "$STATE/run/dockerd.pid" ] &&
   docker_ping /var/run/docker.sock; then
  DOCKER_HOST_USED=unix:///var/run/docker.sock
  say "using the system dockerd at /var/run/docker.sock"
elif [ "$DOCKER_CHOICE" = auto ] || [ "$DOCKER_CHOICE" = private ]; then
  d=$STATE/docker
  DOCKER_HOST_USED=unix://$d/docker.sock
  if ! running dockerd; then
    [ ${#d} -le 60 ] || die "state dir too long for a private dockerd ($d): containerd's sockets need a short path"
    mkdir -p "$d"
    extra=()
    if [ -S /run/containerd/containerd.sock ]; then
      # dockerd would share the system containerd: keep to namespaces of ours.
      extra=(--containerd-namespace novadock-aio --containerd-plugins-namespace novadock-aio-plugins)
    fi
    start_daemon dockerd dockerd --data-root "$d/data" --exec-root "$d/exec" \
      -H "$DOCKER_HOST_USED" --pidfile "$d/docker.pid" --bridge=none \
      --iptables=false --ip-masq=false "${extra[@]}"
    for _ in $(seq 1 300); do docker_ping "$d/docker.sock" && break; sleep 0.1; done
  fi
  say "private dockerd at $DOCKER_HOST_USED"
else
  DOCKER_HOST_USED=$DOCKER_CHOICE
  case "$DOCKER_HOST_USED" in unix://*) ;; *) die "--docker-host must be unix:///PATH" ;; esac
fi
docker_ping "$(docker_sock)" || die "dockerd at $DOCKER_HOST_USED does not answer"
sed -i "s#^DOCKER_HOST_USED=.*#DOCKER_HOST_USED='$DOCKER_HOST_USED'#" "$STATE/aio.env"

# ---- novadock: agent and controller ----------------------------------------
say "novadock-agent $NODE on 127.0.0.1:$AGENT_PORT, novadock-controller on 127.0.0.1:$CONTROLLER_PORT"
start_daemon novadock-agent "$AGENT_BIN" --node_name=$NODE \
  --listen="127.0.0.1:$AGENT_PORT" --docker_host="$DOCKER_HOST_USED" \
  --image_dir="$STATE/images" --config_drive_dir="$STATE/config-drive" \
  --glance_endpoint="http://127.0.0.1:$GLANCE_PORT"
wait_port novadock-agent "$AGENT_PORT" 30
start_daemon novadock-controller "$CONTROLLER_BIN" --listen="127.0.0.1:$CONTROLLER_PORT" \
  --agents="$NODE=127.0.0.1:$AGENT_PORT" --image_dir="$STATE/controller-images" \
  --check_interval_seconds=2
wait_port novadock-controller "$CONTROLLER_PORT" 30

# ---- nova-compute(s) -----------------------------------------------------------
wait_http placement "http://127.0.0.1:$PLACEMENT_PORT/" 60
NOVADOCK_SHIM_TREE=$SHIM_TREE start_daemon nova-compute /usr/bin/python3 "$HERE/nova-compute" \
  --config-file "$STATE/etc/nova/nova-compute.conf" --log-file "$STATE/log/nova-compute.log"
if [ -n "$FAKE_COMPUTE" ]; then
  start_daemon nova-compute-fake /usr/bin/python3 "$HERE/nova-compute" \
    --config-file "$STATE/etc/nova/nova-compute.conf" \
    --config-file "$STATE/etc/nova/nova-compute-fake.conf" \
    --log-file "$STATE/log/nova-compute-fake.log"
fi
wait_http glance-api "http://127.0.0.1:$GLANCE_PORT/versions" 60
wait_http neutron-server "http://127.0.0.1:$NEUTRON_PORT/" 90
wait_http nova-api "http://127.0.0.1:$NOVA_PORT/" 90
# Neutron's first GET /v2.0/ports after start fails (500, "type object
# 'Port' has no attribute 'port_forwardings'") until some query has
# configured its ORM mappers: one authenticated GET /v2.0/networks does.
token=$(curl -sf -i -H 'Content-Type: application/json' \
  -d '{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"admin",
  "domain":{"id":"default"},"password":"'"$PASSWORD"'"}}},"scope":{"project":{"name":"admin",
  "domain":{"id":"default"}}}}}' "http://127.0.0.1:$KEYSTONE_PORT/v3/auth/tokens" |
  awk 'tolower($1)=="x-subject-token:"{print $2}' | tr -d '\r')
curl -sf -o /dev/null -H "X-Auth-Token: $token" "http://127.0.0.1:$NEUTRON_PORT/v2.0/networks" ||
  echo "aio: warning: neutron warm-up GET /v2.0/networks failed" >&2

say "waiting for nova-compute to serve RPC"
hosts=("$NODE"); [ -n "$FAKE_COMPUTE" ] && hosts+=("$FAKE_HOST")
for h in "${hosts[@]}"; do
  /usr/bin/python3 "$HERE/wait_compute.py" "$RABBIT_PORT" "$h" 180 || {
    tail -n 30 "$STATE/log/nova-compute.log" "$STATE/log/nova-compute.out" >&2
    die "nova-compute $h did not start"; }
  if [ "$(nova_query "select count(*) from host_mappings where host='$h'")" = 0 ]; then
    quiet nova-manage nova-manage "${N[@]}" cell_v2 discover_hosts
  fi
done

# ---- demo flavor, image and network ------------------------------------------
# shellcheck disable=SC1091
. "$STATE/admin-openrc"
if [ -z "$NO_DEMO" ]; then
  say "demo flavor m1.docker, image novadock-demo, network demo-net"
  openstack flavor show m1.docker >/dev/null 2>&1 ||
    quiet demo openstack flavor create --vcpus 1 --ram 256 --disk 1 m1.docker
  if ! openstack image show novadock-demo >/dev/null 2>&1; then
    quiet demo /usr/bin/python3 "$HERE/aio_docker.py" demo-image "$(docker_sock)" "$STATE/demo-image.tar"
    quiet demo openstack image create --container-format docker --disk-format raw \
      --public --file "$STATE/demo-image.tar" novadock-demo
    rm -f "$STATE/demo-image.tar"
  fi
  openstack network show demo-net >/dev/null 2>&1 ||
    quiet demo openstack network create --share --provider-network-type flat \
      --provider-physical-network demo demo-net
  # 192.0.2.0/24 (RFC 5737, documentation): addresses in Neutron's database
  # only; no interface is configured and nothing is routed.
  openstack subnet show demo-subnet >/dev/null 2>&1 ||
    quiet demo openstack subnet create --network demo-net --subnet-range 192.0.2.0/24 \
      --no-dhcp demo-subnet
fi
say "up: novadock node $NODE under Nova, everything on 127.0.0.1 (state $STATE)"
cat <<EOF

  . $STATE/admin-openrc
  openstack server create --flavor m1.docker --image novadock-demo --nic none --wait demo1
  openstack console log show demo1
  openstack hypervisor list; openstack resource provider inventory list \$(openstack resource provider list -f value -c uuid --name $NODE)

  $0 --down     stop everything (state kept)
  $0 --purge    stop and remove containers and state
EOF
