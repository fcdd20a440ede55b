"""Shared helpers for novadock's Python tests and benchmarks.

Run with Debian's /usr/bin/python3 (it has python3-grpcio and
python3-grpc-tools). Everything here talks only to loopback and unix sockets
and never pulls an image.

  stubs()                     Python gRPC stubs for proto/novadock/v1 and
                              grpc.health.v1, generated once into a cache dir.
  generate_stubs(...)         the same for any .proto files (used for the
                              reflection test's own reflection.proto).
  PrivateDockerd              a private dockerd under a short temp dir
                              (context manager); stop() cleans everything;
                              crash() + restart() simulate a dockerd crash.
  import_busybox_image(sock)  builds the offline busybox test image.
  start_agent(...)            runs novadock-agent on 127.0.0.1:0.
  stop_agent(proc)            SIGTERM, bounded wait, then SIGKILL.
  UnixHTTPConnection          http.client over AF_UNIX (Docker Engine API).
"""

import hashlib
import http.client
import importlib
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import types

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
PROTO_ROOT = os.path.join(REPO_ROOT, "proto")
NOVADOCK_PROTOS = ("novadock/v1/types.proto", "novadock/v1/agent.proto",
                   "novadock/v1/controller.proto")
HEALTH_PROTO = "grpc/health/v1/health.proto"

TEST_IMAGE_REPO = "novadock-test"
TEST_IMAGE_TAG = "busybox"
TEST_IMAGE = TEST_IMAGE_REPO + ":" + TEST_IMAGE_TAG
BUSYBOX_PATH = "/bin/busybox"
BUSYBOX_APPLETS = ("sh", "sleep", "echo", "cat")

DEFAULT_API_VERSION = "1.41"
_CHILD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_SYSTEM_CONTAINERD_SOCKET = "/run/containerd/containerd.sock"


# --------------------------------------------------------------------------
# gRPC stubs


def _stub_cache_root(build_dir=None):
    build_dir = build_dir or os.environ.get("NOVADOCK_BUILD_DIR")
    if build_dir and os.path.isdir(build_dir):
        return os.path.join(build_dir, "pystubs")
    return os.path.join(tempfile.gettempdir(), "novadock-pystubs")


def generate_stubs(proto_root, proto_files, build_dir=None):
    """Generates *_pb2.py and *_pb2_grpc.py for proto_files (paths relative
    to proto_root) with grpc_tools.protoc, once per content, and returns the
    output directory (already on sys.path). Safe against concurrent callers:
    output is built in a temp dir and renamed into place."""
    from grpc_tools import protoc  # python3-grpc-tools
    import grpc_tools

    digest = hashlib.sha256()
    for name in sorted(proto_files):
        digest.update(name.encode())
        with open(os.path.join(proto_root, name), "rb") as f:
            digest.update(f.read())
    digest.update(grpc_tools.__file__.encode())
    root = _stub_cache_root(build_dir)
    out = os.path.join(root, digest.hexdigest()[:16])
    if not os.path.isdir(out):
        os.makedirs(root, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=".gen-", dir=root)
        well_known = os.path.join(os.path.dirname(grpc_tools.__file__),
                                  "_proto")
        args = ["grpc_tools.protoc", "-I" + proto_root]
        if os.path.isdir(well_known):
            args.append("-I" + well_known)
        args += ["--python_out=" + tmp, "--grpc_python_out=" + tmp]
        args += list(proto_files)
        rc = protoc.main(args)
        if rc != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            raise RuntimeError("protoc failed (%d) for %s" % (rc, proto_files))
        try:
            os.rename(tmp, out)
        except OSError:  # Another process won the race.
            shutil.rmtree(tmp, ignore_errors=True)
    if out not in sys.path:
        sys.path.insert(0, out)
    return out


def _alias_package(name, path):
    """Makes `name` (a dotted package inside an installed package such as
    grpc) importable from `path`, unless it exists already."""
    if name in sys.modules:
        module = sys.modules[name]
        if hasattr(module, "__path__") and path not in module.__path__:
            module.__path__.append(path)
        return
    module = types.ModuleType(name)
    module.__path__ = [path]
    sys.modules[name] = module
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, module)


def stubs(build_dir=None):
    """Returns a namespace with types_pb2, agent_pb2, agent_pb2_grpc,
    controller_pb2, controller_pb2_grpc, health_pb2 and health_pb2_grpc for
    this checkout's protos."""
    out = generate_stubs(PROTO_ROOT, NOVADOCK_PROTOS + (HEALTH_PROTO,),
                         build_dir)
    # The generated health modules live in package grpc.health.v1, inside
    # the installed grpc package: graft the generated directories onto it.
    importlib.import_module("grpc")  # The parent package must be loaded.
    _alias_package("grpc.health", os.path.join(out, "grpc", "health"))
    _alias_package("grpc.health.v1", os.path.join(out, "grpc", "health", "v1"))
    # A regular `novadock` package imported earlier (e.g. the Nova shim)
    # would hide novadock.v1: extend its path too.
    novadock = sys.modules.get("novadock")
    if novadock is not None and hasattr(novadock, "__path__"):
        _alias_package("novadock", os.path.join(out, "novadock"))
    ns = types.SimpleNamespace()
    ns.types_pb2 = importlib.import_module("novadock.v1.types_pb2")
    ns.agent_pb2 = importlib.import_module("novadock.v1.agent_pb2")
    ns.agent_pb2_grpc = importlib.import_module("novadock.v1.agent_pb2_grpc")
    ns.controller_pb2 = importlib.import_module("novadock.v1.controller_pb2")
    ns.controller_pb2_grpc = importlib.import_module(
        "novadock.v1.controller_pb2_grpc")
    ns.health_pb2 = importlib.import_module("grpc.health.v1.health_pb2")
    ns.health_pb2_grpc = importlib.import_module(
        "grpc.health.v1.health_pb2_grpc")
    ns.out_dir = out
    return ns


# --------------------------------------------------------------------------
# Docker Engine API over a unix socket


class UnixHTTPConnection(http.client.HTTPConnection):
    """http.client.HTTPConnection over AF_UNIX; keep-alive like any other."""

    def __init__(self, sock_path, timeout=60):
        super().__init__("localhost", timeout=timeout)
        self.sock_path = sock_path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.sock_path)
        self.sock = s


def docker_request(sock_path, method, path, body=None, headers=None,
                   timeout=60, conn=None):
    """One Engine API request. Returns (status, body bytes). `body` may be
    bytes or a JSON-able object. Uses `conn` if given (kept open)."""
    own = conn is None
    if own:
        conn = UnixHTTPConnection(sock_path, timeout=timeout)
    hdrs = dict(headers or {})
    if body is not None and not isinstance(body, (bytes, bytearray)):
        body = json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    try:
        conn.request(method, path, body=body, headers=hdrs)
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, data
    finally:
        if own:
            conn.close()


def docker_api_version(sock_path):
    """The API version dockerd reports (e.g. '1.41')."""
    try:
        status, data = docker_request(sock_path, "GET", "/version", timeout=10)
        if status == 200:
            return json.loads(data).get("ApiVersion", DEFAULT_API_VERSION)
    except (OSError, ValueError):
        pass
    return DEFAULT_API_VERSION


def ping(sock_path, timeout=2):
    try:
        status, data = docker_request(sock_path, "GET", "/_ping",
                                      timeout=timeout)
        return status == 200 and data.strip() == b"OK"
    except (OSError, http.client.HTTPException):
        return False


# --------------------------------------------------------------------------
# A private dockerd


def _read(path, mode="r"):
    try:
        with open(path, mode) as f:
            return f.read()
    except OSError:
        return None


def _pids_mentioning(text):
    """Pids (not ours) whose command line contains `text`."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        cmdline = _read("/proc/%s/cmdline" % entry, "rb")
        if cmdline and text.encode() in cmdline:
            pids.append(int(entry))
    return pids


def _wait_pid_gone(pid, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        status = _read("/proc/%d/stat" % pid)
        if status is not None and ") Z" in status:  # Zombie, not our child.
            return True
        time.sleep(0.05)
    return False


def _unescape_mountinfo(path):
    out, i = [], 0
    while i < len(path):
        octal = path[i + 1:i + 4]
        if path[i] == "\\" and len(octal) == 3 and octal.isdigit():
            out.append(chr(int(path[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(path[i])
            i += 1
    return "".join(out)


def _mounts_under(directory):
    directory = directory.rstrip("/")
    mounts = []
    for line in (_read("/proc/self/mountinfo") or "").splitlines():
        fields = line.split()
        if len(fields) < 5:
            continue
        point = _unescape_mountinfo(fields[4])
        if point == directory or point.startswith(directory + "/"):
            mounts.append(point)
    return mounts


class PrivateDockerd:
    """A dockerd of our own under a short temp dir D:
    D/docker.sock, D/data, D/exec, D/dockerd.log.

        with PrivateDockerd() as d:
            d.sock, d.host ("unix://D/docker.sock"), d.api ("/v1.41")

    stop() is idempotent: SIGTERM (bounded wait, then SIGKILL), kills the
    containerd/shim processes and container inits left behind, unmounts
    everything under D (deepest first) and removes D.
    """

    def __init__(self, start_timeout=30, stop_timeout=30):
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.dir = None
        self.proc = None
        self.sock = None
        self.host = None
        self.api = "/v" + DEFAULT_API_VERSION
        self._log = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def start(self):
        self.dir = tempfile.mkdtemp(prefix="nb.", dir="/tmp")
        self.sock = os.path.join(self.dir, "docker.sock")
        self.host = "unix://" + self.sock
        self._log = open(os.path.join(self.dir, "dockerd.log"), "ab")
        return self._spawn()

    def _spawn(self, timeout=None):
        argv = ["dockerd",
                "--data-root", os.path.join(self.dir, "data"),
                "--exec-root", os.path.join(self.dir, "exec"),
                "-H", self.host,
                "--pidfile", os.path.join(self.dir, "docker.pid"),
                "--bridge=none", "--iptables=false", "--ip-masq=false"]
        if os.path.exists(_SYSTEM_CONTAINERD_SOCKET):
            # dockerd would share the system containerd: keep to our own
            # namespaces there.
            ns = "novadock-" + os.path.basename(self.dir).replace(".", "-")
            argv += ["--containerd-namespace", ns,
                     "--containerd-plugins-namespace", ns + "-plugins"]
        env = dict(os.environ)
        env["PATH"] = _CHILD_PATH
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=self._log,
            stderr=subprocess.STDOUT, close_fds=True, start_new_session=True,
            env=env)
        timeout = timeout or self.start_timeout
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            if ping(self.sock, timeout=1):
                self.api = "/v" + docker_api_version(self.sock)
                return self
            time.sleep(0.05)
        tail = self.log_tail()
        self.stop()
        raise RuntimeError("dockerd did not answer /_ping within %ss:\n%s" %
                           (timeout, tail))

    def _containerd_pid(self):
        text = _read(os.path.join(self.dir, "exec", "containerd",
                                  "containerd.pid"))
        return int(text) if text and text.strip().isdigit() else 0

    def crash(self):
        """SIGKILL of dockerd alone, as a crash: containers, shims and the
        data root stay. Waits until dockerd's own containerd is gone (it
        dies with its parent) so that restart() can follow at once."""
        if self.proc is None or self.proc.poll() is not None:
            return
        containerd = self._containerd_pid()
        self.proc.kill()
        self.proc.wait(10)
        if containerd:
            _wait_pid_gone(containerd, 10)

    def restart(self, timeout=90):
        """Starts dockerd again on the same directory after crash() or
        kill_daemon(); waits up to `timeout` s for /_ping (after a crash
        dockerd 20.10 takes ~14 s on 2 cores). As after a host crash,
        containers that were running come back exited (no live-restore)."""
        if self.proc is not None and self.proc.poll() is None:
            return self
        containerd = self._containerd_pid()
        if containerd and _wait_pid_gone(containerd, 0.2):
            # dockerd would wait for the dead containerd of its pid file.
            try:
                os.unlink(os.path.join(self.dir, "exec", "containerd",
                                       "containerd.pid"))
            except OSError:
                pass
        return self._spawn(timeout)

    def log_tail(self, max_bytes=4096):
        if not self.dir:
            return ""
        data = _read(os.path.join(self.dir, "dockerd.log"), "rb") or b""
        return data[-max_bytes:].decode("utf-8", "replace")

    def pid(self):
        return self.proc.pid if self.proc else None

    def kill_daemon(self):
        """Stops dockerd only (SIGTERM, bounded wait, SIGKILL); the dir stays
        until stop(). Used to test clients' behaviour without a daemon."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(self.stop_timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def remove_all_containers(self):
        """Force-removes every container (so that shutdown is quick)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            status, data = docker_request(
                self.sock, "GET", self.api + "/containers/json?all=1",
                timeout=30)
            if status != 200:
                return
            for c in json.loads(data):
                docker_request(self.sock, "DELETE",
                               self.api + "/containers/%s?force=1&v=1" %
                               c["Id"], timeout=30)
        except (OSError, ValueError, http.client.HTTPException):
            pass

    def _container_init_pids(self):
        pids = []
        runc_root = os.path.join(self.dir, "exec", "runtime-runc")
        for dirpath, _, files in os.walk(runc_root):
            if "state.json" in files:
                try:
                    state = json.loads(_read(
                        os.path.join(dirpath, "state.json")) or "{}")
                    pid = int(state.get("init_process_pid", 0))
                    if pid > 0:
                        pids.append(pid)
                except (ValueError, TypeError):
                    pass
        return pids

    def stop(self):
        if self.dir is None:
            return
        self.remove_all_containers()
        self.kill_daemon()
        # Leftovers: containerd, shims, container init processes.
        leftovers = _pids_mentioning(self.dir) + self._container_init_pids()
        for pid in leftovers:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        for pid in leftovers:
            _wait_pid_gone(pid, 5)
        for point in sorted(_mounts_under(self.dir),
                            key=lambda p: (p.count("/"), len(p)),
                            reverse=True):
            subprocess.run(["umount", "-l", point], stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, close_fds=True)
        if self._log:
            self._log.close()
            self._log = None
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None
        self.proc = None


# --------------------------------------------------------------------------
# The offline busybox test image


def busybox_rootfs_tar(busybox=BUSYBOX_PATH):
    """A rootfs tar: /bin/busybox plus symlinks sh, sleep, echo, cat."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for d in ("bin", "tmp", "etc", "proc", "sys", "dev"):
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            info.mode = 0o1777 if d == "tmp" else 0o755
            tar.addfile(info)
        with open(busybox, "rb") as f:
            data = f.read()
        info = tarfile.TarInfo("bin/busybox")
        info.size = len(data)
        info.mode = 0o755
        tar.addfile(info, io.BytesIO(data))
        for applet in BUSYBOX_APPLETS:
            info = tarfile.TarInfo("bin/" + applet)
            info.type = tarfile.SYMTYPE
            info.linkname = "busybox"
            info.mode = 0o777
            tar.addfile(info)
    return buf.getvalue()


def import_busybox_image(sock_path, repo=TEST_IMAGE_REPO, tag=TEST_IMAGE_TAG,
                         api=None):
    """Imports the busybox rootfs as repo:tag through POST /images/create
    (fromSrc=-). Returns the reference 'repo:tag'. Raises on any error."""
    api = api or "/v" + docker_api_version(sock_path)
    status, data = docker_request(
        sock_path, "POST",
        "%s/images/create?fromSrc=-&repo=%s&tag=%s" % (api, repo, tag),
        body=busybox_rootfs_tar(),
        headers={"Content-Type": "application/x-tar"}, timeout=120)
    if status != 200:
        raise RuntimeError("image import: HTTP %d: %r" % (status, data[:500]))
    for line in data.splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if msg.get("error") or msg.get("errorDetail"):
            raise RuntimeError("image import: %s" % msg)
    status, data = docker_request(sock_path, "GET",
                                  "%s/images/%s:%s/json" % (api, repo, tag))
    if status != 200:
        raise RuntimeError("image import: %s:%s missing after import: %r" %
                           (repo, tag, data[:300]))
    return "%s:%s" % (repo, tag)


# --------------------------------------------------------------------------
# The agent


def start_agent(binary, docker_host, node_name, extra_args=(), timeout=20,
                image_dir=None, port=0, work_dir=None):
    """Runs `binary` (novadock-agent) on 127.0.0.1:`port` (0: any; the old
    port restarts an agent where its controller expects it) and waits for its
    --port_file. Returns (process, port); process.novadock_log is the path of
    its combined stdout/stderr. Raises RuntimeError if it exits or does not
    report a port within `timeout` seconds. `work_dir` (kept by
    stop_agent) holds the port file, log and default image dir; default: a
    new /tmp/nda.* dir that stop_agent removes."""
    own_work = work_dir is None
    work = tempfile.mkdtemp(prefix="nda.", dir="/tmp") if own_work \
        else work_dir
    os.makedirs(work, exist_ok=True)
    port_file = os.path.join(work, "port")
    if os.path.exists(port_file):
        os.unlink(port_file)
    log_path = os.path.join(work, "agent.log")
    if image_dir is None:
        image_dir = os.path.join(work, "images")
        os.makedirs(image_dir, exist_ok=True)
    argv = [binary, "--node_name=" + node_name,
            "--listen=127.0.0.1:%d" % port,
            "--port_file=" + port_file, "--docker_host=" + docker_host,
            "--image_dir=" + image_dir,
            "--config_drive_dir=" + os.path.join(work, "config-drive")
            ] + list(extra_args)
    log = open(log_path, "ab")
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                            stderr=subprocess.STDOUT, close_fds=True,
                            start_new_session=True)
    log.close()
    proc.novadock_log = log_path
    proc.novadock_workdir = work if own_work else None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = _read(port_file)
        if text and text.endswith("\n") and text.strip().isdigit():
            return proc, int(text.strip())
        if proc.poll() is not None:
            break
        time.sleep(0.02)
    tail = agent_log_tail(proc)
    stop_agent(proc)
    raise RuntimeError("novadock-agent gave no port within %ss (rc=%s):\n%s" %
                       (timeout, proc.returncode, tail))


def agent_log_tail(proc, max_bytes=4096):
    data = _read(getattr(proc, "novadock_log", ""), "rb") or b""
    return data[-max_bytes:].decode("utf-8", "replace")


def stop_agent(proc, timeout=10):
    """SIGTERM, wait up to `timeout` s, then SIGKILL. Returns the exit code
    (negative: killed by that signal). Removes the agent's work dir."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    work = getattr(proc, "novadock_workdir", None)
    if work and not os.environ.get("NOVADOCK_KEEP_LOGS"):
        shutil.rmtree(work, ignore_errors=True)
    return proc.returncode


# --------------------------------------------------------------------------
# The controller


def free_loopback_port():
    """A port free on 127.0.0.1 right now (bind to 0, read it, close)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def _port_open(port, timeout=0.5):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def start_controller(binary, agents, extra_args=(), timeout=20,
                     image_dir=None, attempts=3, port=None):
    """Runs `binary` (novadock-controller) on 127.0.0.1:PORT (a free port;
    it has no --port_file) with --agents=NAME=127.0.0.1:P,... from the dict
    `agents` {name: port}, and waits until the port accepts connections.
    Returns (process, port); process.novadock_log is its combined output.
    Tries another port if the first was taken in between (up to
    `attempts`), unless `port` is given. Stop it with stop_agent()."""
    last_error = None
    fixed_port = port
    for _ in range(1 if fixed_port else attempts):
        work = tempfile.mkdtemp(prefix="ndc.", dir="/tmp")
        log_path = os.path.join(work, "controller.log")
        idir = image_dir or os.path.join(work, "images")
        os.makedirs(idir, exist_ok=True)
        port = fixed_port or free_loopback_port()
        argv = [binary, "--listen=127.0.0.1:%d" % port,
                "--agents=" + ",".join("%s=127.0.0.1:%d" % (n, p)
                                        for n, p in sorted(agents.items())),
                "--image_dir=" + idir] + list(extra_args)
        log = open(log_path, "wb")
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, close_fds=True,
                                start_new_session=True)
        log.close()
        proc.novadock_log = log_path
        proc.novadock_workdir = work
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            if _port_open(port):
                return proc, port
            time.sleep(0.05)
        last_error = "novadock-controller did not listen on %d within %ss " \
                     "(rc=%s):\n%s" % (port, timeout, proc.poll(),
                                       agent_log_tail(proc))
        stop_agent(proc)
    raise RuntimeError(last_error)


stop_controller = stop_agent


def build_nova_shim(dest, python=sys.executable):
    """Builds the Nova shim tree (controller/nova_shim/build.sh) into
    `dest` and makes it importable as nova.virt.novadock in this process
    (nova is a regular package in dist-packages, so the tree's nova/virt is
    appended to nova.virt.__path__). Returns dest."""
    script = os.path.join(REPO_ROOT, "controller", "nova_shim", "build.sh")
    out = subprocess.run(["sh", script, dest, python],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, close_fds=True)
    if out.returncode != 0:
        raise RuntimeError("build.sh failed (%d):\n%s" %
                           (out.returncode, out.stdout.decode(errors="replace")))
    import nova.virt  # noqa: E402 (nova must come from dist-packages)
    virt = os.path.join(dest, "nova", "virt")
    if virt not in nova.virt.__path__:
        nova.virt.__path__.append(virt)
    return dest


# --------------------------------------------------------------------------
# A private Glance (Debian's glance-api, noauth, sqlite, file store), the
# Python twin of tests/glance_fixture.cc: the same configuration files
# (tests/glance/), the same rules.

GLANCE_TEMPLATES = os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "glance")


class PrivateGlance(object):
    """glance-api on 127.0.0.1:PORT in its own /tmp/ng.* directory."""

    def __init__(self):
        self.dir = None
        self.port = None
        self.proc = None

    @property
    def endpoint(self):
        return "http://127.0.0.1:%d" % self.port

    def _run(self, argv, out_name, timeout):
        with open(os.path.join(self.dir, out_name), "wb") as out:
            subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=out,
                           stderr=subprocess.STDOUT, close_fds=True,
                           timeout=timeout, check=True)

    def start(self, timeout=60):
        for program in ("/usr/bin/glance-api", "/usr/bin/glance-manage",
                        "/usr/bin/sqlite3"):
            if not os.access(program, os.X_OK):
                raise RuntimeError("%s is not installed "
                                   "(deployment/install-deps.sh)" % program)
        self.dir = tempfile.mkdtemp(prefix="ng.", dir="/tmp")
        for sub in ("images", "staging", "tasks", "lock"):
            os.mkdir(os.path.join(self.dir, sub), 0o700)
        self.port = free_loopback_port()
        conf = os.path.join(self.dir, "glance-api.conf")
        template = _read(os.path.join(GLANCE_TEMPLATES,
                                      "glance-api.conf.in"))
        with open(conf, "w") as f:
            f.write(template.replace("@D@", self.dir).replace(
                "@PORT@", str(self.port)).replace("@HASH@", "sha512"))
        shutil.copyfile(os.path.join(GLANCE_TEMPLATES, "policy.yaml"),
                        os.path.join(self.dir, "policy.yaml"))
        self._run(["/usr/bin/glance-manage", "--config-file", conf,
                   "db_sync"], "glance-manage.out", 120)
        self._run(["/usr/bin/sqlite3", os.path.join(self.dir, "glance.sqlite"),
                   "PRAGMA journal_mode=WAL;"], "sqlite3.out", 30)
        out = open(os.path.join(self.dir, "glance-api.out"), "wb")
        self.proc = subprocess.Popen(
            ["/usr/bin/glance-api", "--config-file", conf],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            close_fds=True, start_new_session=True)
        out.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                status, _ = self.request("GET", "/versions", timeout=2)
                if 200 <= status < 400:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        tail = (_read(os.path.join(self.dir, "glance-api.log")) or "")[-3000:]
        self.stop()
        raise RuntimeError("glance-api did not answer /versions: %s" % tail)

    def request(self, method, path, body=None, headers=None, timeout=60):
        """(status, body bytes) of one HTTP exchange with glance-api."""
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                          timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(5)
        self.proc = None
        if self.dir and not os.environ.get("NOVADOCK_KEEP_LOGS"):
            shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None
