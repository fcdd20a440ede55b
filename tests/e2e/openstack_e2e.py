#!/usr/bin/python3
"""End to end through a real OpenStack: Nova (Debian 12, Zed) with
nova-compute running novadock, on one machine, all on loopback.

Starts deployment/openstack-aio/aio.sh from BUILD (--from-build) in a fresh
state directory with private ports (--port-base, the first free block) and a
private dockerd, so an OpenStack or dockerd already on the machine is not
touched; then drives Nova, Glance and Placement through their APIs
(keystoneauth) and the `openstack` CLI, checks the containers in dockerd and
the controller over gRPC, and removes everything again (aio.sh --purge), on
success and on failure.

Each check prints PASS or FAIL with its time; the last line is
"N passed, M failed". Exit status 0 only if all passed.

usage: openstack_e2e.py --build-dir BUILD [--keep] [--port-base N]
  BUILD must hold agent/novadock-agent, controller/novadock-controller and
  controller/nova_shim/tree (ninja novadock-agent novadock-controller
  novadock-nova-shim). The OpenStack packages must be installed
  (deployment/openstack-aio/install.sh).
"""

import argparse
import hashlib
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
AIO = os.path.join(REPO, "deployment", "openstack-aio")
sys.path.insert(0, os.path.join(REPO, "tests", "py"))
import novadock_testlib as lib  # noqa: E402

NODE = "compute-docker-1"
BANNER = "novadock demo instance is up"
COMPUTE_VERSION = "compute 2.79"
PORTS_PER_AIO = 11
CONFIG_DRIVE_MOUNT = "/var/lib/cloud/seed/config_drive"  # the agent's default
# Nova's periodic power-state sync is set to 3600 s in the AIO's nova.conf,
# so a state change seen sooner than this came through lifecycle events.
EVENT_DEADLINE_S = 20


def say(msg):
    print("openstack-e2e: " + msg, flush=True)


class Failure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def wait_for(what, fn, timeout, interval=0.2):
    """Calls fn() until it returns a true value; returns (value, seconds).
    Raises Failure naming `what` with the last value after `timeout`."""
    start = time.monotonic()
    last = None
    while True:
        last = fn()
        if last:
            return last, time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise Failure("%s: not within %.0f s (last: %r)" %
                          (what, timeout, last))
        time.sleep(interval)


def free_port_base():
    """The first block of PORTS_PER_AIO ports, from 27100 in steps of 100,
    with nothing listening on 127.0.0.1."""
    for base in range(27100, 32000, 100):
        taken = False
        for port in range(base, base + PORTS_PER_AIO):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    taken = True
                    break
        if not taken:
            return base
    raise SystemExit("no free block of %d loopback ports" % PORTS_PER_AIO)


class Cloud:
    """Admin API access to the AIO (keystoneauth), its dockerd and its
    controller."""

    def __init__(self, state):
        from keystoneauth1 import session
        from keystoneauth1.identity import v3
        self.state = state
        self.env = {}
        with open(os.path.join(state, "admin-openrc")) as f:
            for line in f:
                if line.startswith("export ") and "=" in line:
                    k, v = line[len("export "):].strip().split("=", 1)
                    if k.startswith("OS_"):
                        self.env[k] = v
        settings = {}
        with open(os.path.join(state, "aio.env")) as f:
            for line in f:
                if "=" in line and not line.startswith("#"):
                    k, v = line.strip().split("=", 1)
                    settings[k] = v.strip("'")
        self.docker_sock = settings["DOCKER_HOST_USED"][len("unix://"):]
        self.api = "/v" + lib.docker_api_version(self.docker_sock)
        auth = v3.Password(auth_url=self.env["OS_AUTH_URL"],
                           username="admin", password=self.env["OS_PASSWORD"],
                           project_name="admin", user_domain_id="default",
                           project_domain_id="default")
        self.sess = session.Session(auth=auth)
        self.controller_port = None

    def call(self, service, method, path, ok=(200, 201, 202, 204), **kw):
        headers = dict(kw.pop("headers", {}))
        if service == "compute":
            headers["OpenStack-API-Version"] = COMPUTE_VERSION
        elif service == "placement":
            headers["OpenStack-API-Version"] = "placement 1.26"
        resp = self.sess.request(
            path, method, headers=headers, raise_exc=False,
            endpoint_filter={"service_type": service, "interface": "public"},
            **kw)
        if ok and resp.status_code not in ok:
            raise Failure("%s %s %s: HTTP %d %s" % (
                service, method, path, resp.status_code, resp.text[:500]))
        return resp

    # -- Nova
    def server(self, uuid):
        resp = self.call("compute", "GET", "/servers/" + uuid,
                         ok=(200, 404))
        return None if resp.status_code == 404 else resp.json()["server"]

    def create_server(self, name, image, flavor, **extra):
        body = {"server": {"name": name, "imageRef": image,
                           "flavorRef": flavor, "networks": "none"}}
        body["server"].update(extra)
        return self.call("compute", "POST", "/servers",
                         json=body).json()["server"]["id"]

    def action(self, uuid, body):
        return self.call("compute", "POST", "/servers/%s/action" % uuid,
                         json=body)

    def wait_status(self, uuid, status, timeout=120):
        def probe():
            s = self.server(uuid)
            if s is None:
                raise Failure("server %s vanished" % uuid)
            if s["status"] == "ERROR" and status != "ERROR":
                raise Failure("server %s went to ERROR: %s" %
                              (uuid, s.get("fault")))
            return s if (s["status"] == status and
                         s.get("OS-EXT-STS:task_state") is None) else None
        return wait_for("server %s -> %s" % (uuid, status), probe, timeout)

    def delete_server(self, uuid, timeout=120):
        self.call("compute", "DELETE", "/servers/" + uuid, ok=(204, 404))
        wait_for("server %s deleted" % uuid,
                 lambda: self.server(uuid) is None, timeout)

    # -- Docker
    def container(self, uuid):
        status, data = lib.docker_request(
            self.docker_sock, "GET",
            "%s/containers/nova-%s/json" % (self.api, uuid))
        if status == 404:
            return None
        check(status == 200, "inspect nova-%s: HTTP %d" % (uuid, status))
        return json.loads(data)

    def docker(self, method, path):
        return lib.docker_request(self.docker_sock, method, self.api + path)

    # -- controller
    def controller(self):
        import grpc
        s = lib.stubs()
        port = self.controller_port
        return s, s.controller_pb2_grpc.ControllerStub(
            grpc.insecure_channel("127.0.0.1:%d" % port))

    def cli(self, *args):
        env = dict(os.environ)
        env.update(self.env)
        env["PATH"] = "/usr/sbin:/usr/bin:/sbin:/bin"
        out = subprocess.run(["openstack"] + list(args), env=env,
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, timeout=120)
        if out.returncode != 0:
            raise Failure("openstack %s: %s" % (" ".join(args),
                                                out.stderr.decode()[-500:]))
        return out.stdout.decode()


class E2E:
    def __init__(self, cloud, state):
        self.c = cloud
        self.state = state
        self.results = []
        self.flavor = None
        self.image = None
        self.image_archive = None
        self.servers = {}

    def run(self, name, fn, needs=()):
        missing = [n for n in needs if not self.passed(n)]
        start = time.monotonic()
        if missing:
            ok, detail = False, "not run: needs %s" % ", ".join(missing)
        else:
            try:
                detail = fn() or ""
                ok = True
            except Exception as e:  # A failed item; report and go on.
                ok = False
                detail = "%s: %s" % (type(e).__name__, e)
                if not isinstance(e, Failure):
                    traceback.print_exc()
        took = time.monotonic() - start
        self.results.append((name, ok, took, detail))
        say("%s %-28s %6.1f s  %s" % ("PASS" if ok else "FAIL", name, took,
                                       detail))

    def passed(self, name):
        return any(n == name and ok for n, ok, _, _ in self.results)

    # ------------------------------------------------------------------
    def flavor_and_image(self):
        c = self.c
        self.flavor = c.call("compute", "POST", "/flavors", json={
            "flavor": {"name": "e2e.docker", "ram": 256, "vcpus": 1,
                       "disk": 1}}).json()["flavor"]["id"]
        archive = os.path.join(self.state, "e2e-image.tar")
        subprocess.run(["/usr/bin/python3", os.path.join(AIO, "aio_docker.py"),
                        "demo-image", c.docker_sock, archive],
                       check=True, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, timeout=120)
        with open(archive, "rb") as f:
            self.image_archive = f.read()
        image = c.call("image", "POST", "/v2/images", json={
            "name": "e2e-busybox", "container_format": "docker",
            "disk_format": "raw", "visibility": "public"}).json()
        c.call("image", "PUT", "/v2/images/%s/file" % image["id"],
               data=self.image_archive,
               headers={"Content-Type": "application/octet-stream"})
        image = c.call("image", "GET", "/v2/images/" + image["id"]).json()
        check(image["status"] == "active" and
              image["container_format"] == "docker",
              "image %s: %s/%s" % (image["id"], image["status"],
                                   image["container_format"]))
        self.image = image["id"]
        return "flavor %s, image %s (docker, %d bytes)" % (
            self.flavor, self.image, len(self.image_archive))

    def placement_inventory(self):
        c = self.c
        s, ctl = c.controller()
        node = [n for n in ctl.ListNodes(s.controller_pb2.ListNodesRequest(),
                                         timeout=10).nodes if n.name == NODE]
        check(node, "controller lists no node %s" % NODE)
        cap = node[0].capacity
        rps = c.call("placement", "GET", "/resource_providers?name=" +
                     NODE).json()["resource_providers"]
        check(len(rps) == 1, "placement: %d providers named %s" %
              (len(rps), NODE))
        inv = c.call("placement", "GET", "/resource_providers/%s/inventories"
                     % rps[0]["uuid"]).json()["inventories"]
        want = {"VCPU": cap.vcpus, "MEMORY_MB": cap.memory_mb,
                "DISK_GB": cap.disk_gb}
        for rc, total in want.items():
            check(rc in inv and inv[rc]["total"] == total,
                  "placement %s total %s, controller says %d" %
                  (rc, inv.get(rc, {}).get("total"), total))
        check(inv["MEMORY_MB"]["reserved"] == 512 and
              inv["VCPU"]["allocation_ratio"] == 16.0,
              "reserved/ratio from [novadock] not applied: %s" % inv)
        return "VCPU %d, MEMORY_MB %d (reserved 512), DISK_GB %d" % (
            cap.vcpus, cap.memory_mb, cap.disk_gb)

    def boot(self):
        c = self.c
        uuid = c.create_server("e2e-1", self.image, self.flavor)
        self.servers["e2e-1"] = uuid
        server, took = c.wait_status(uuid, "ACTIVE")
        check(server["OS-EXT-SRV-ATTR:hypervisor_hostname"] == NODE,
              "on node %s" % server["OS-EXT-SRV-ATTR:hypervisor_hostname"])
        ct = c.container(uuid)
        check(ct is not None, "no container nova-%s in dockerd" % uuid)
        check(ct["State"]["Running"], "container state %s" % ct["State"])
        check(ct["Config"]["Labels"].get("io.novadock.node") == NODE,
              "labels %s" % ct["Config"]["Labels"])
        # The config drive: Nova's metadata as a read-only mount.
        drive = [m for m in ct.get("Mounts", [])
                 if m.get("Destination") == CONFIG_DRIVE_MOUNT]
        check(drive and not drive[0].get("RW"),
              "no read-only config drive at %s: %s" %
              (CONFIG_DRIVE_MOUNT, ct.get("Mounts")))
        with open(os.path.join(drive[0]["Source"], "openstack", "latest",
                               "meta_data.json")) as f:
            meta = json.load(f)
        check(meta.get("uuid") == uuid, "meta_data.json: %s" % meta)
        return "ACTIVE in %.1f s, container %s running, config drive " \
               "meta_data.json uuid ok" % (took, ct["Id"][:12])

    def console(self):
        uuid = self.servers["e2e-1"]
        out, took = wait_for("console shows the banner",
                             lambda: (lambda o: o if BANNER in o else None)(
                                 self.c.cli("console", "log", "show", uuid)),
                             30, interval=1)
        return "`openstack console log show`: %d lines, banner there" % (
            len(out.splitlines()))

    def stop_start(self):
        c, uuid = self.c, self.servers["e2e-1"]
        c.action(uuid, {"os-stop": None})
        _, t_stop = c.wait_status(uuid, "SHUTOFF")
        check(not c.container(uuid)["State"]["Running"],
              "container still running after stop")
        c.action(uuid, {"os-start": None})
        _, t_start = c.wait_status(uuid, "ACTIVE")
        check(c.container(uuid)["State"]["Running"],
              "container not running after start")
        return "stop -> SHUTOFF %.1f s, start -> ACTIVE %.1f s" % (
            t_stop, t_start)

    def pause_unpause(self):
        c, uuid = self.c, self.servers["e2e-1"]
        c.action(uuid, {"pause": None})
        _, t_pause = c.wait_status(uuid, "PAUSED")
        check(c.container(uuid)["State"]["Paused"], "container not paused")
        c.action(uuid, {"unpause": None})
        _, t_unpause = c.wait_status(uuid, "ACTIVE")
        state = c.container(uuid)["State"]
        check(state["Running"] and not state["Paused"],
              "container after unpause: %s" % state)
        return "PAUSED %.1f s, ACTIVE %.1f s" % (t_pause, t_unpause)

    def reboot(self):
        c, uuid = self.c, self.servers["e2e-1"]
        times = []
        for kind in ("SOFT", "HARD"):
            before = c.container(uuid)["State"]["StartedAt"]
            c.action(uuid, {"reboot": {"type": kind}})
            wait_for("%s reboot restarts the container" % kind,
                     lambda: c.container(uuid)["State"]["StartedAt"] !=
                     before, 60)
            _, took = c.wait_status(uuid, "ACTIVE")
            check(c.container(uuid)["State"]["Running"], "not running")
            times.append("%s %.1f s" % (kind, took))
        return "container restarted: " + ", ".join(times)

    def killed_behind_nova(self):
        c, uuid = self.c, self.servers["e2e-1"]
        status, data = c.docker("POST", "/containers/nova-%s/kill" % uuid)
        check(status == 204, "docker kill: HTTP %d %r" % (status, data))
        _, took = wait_for("Nova sees the killed container as SHUTOFF",
                           lambda: c.server(uuid)["status"] == "SHUTOFF",
                           EVENT_DEADLINE_S, interval=0.1)
        # Evidence that the lifecycle event did it, not the periodic sync
        # (which also runs once within a minute of nova-compute's start).
        with open(os.path.join(self.state, "log", "nova-compute.log"),
                  errors="replace") as f:
            events = [line for line in f if "[instance: %s] VM Stopped "
                      "(Lifecycle Event)" % uuid in line]
        check(events, "no 'VM Stopped (Lifecycle Event)' for %s in "
              "nova-compute.log" % uuid)
        detail = "docker kill -> SHUTOFF in %.1f s through a lifecycle " \
                 "event (periodic sync every 3600 s)" % took
        c.action(uuid, {"os-start": None})
        c.wait_status(uuid, "ACTIVE")
        return detail

    def snapshot(self):
        c, uuid = self.c, self.servers["e2e-1"]
        resp = c.action(uuid, {"createImage": {"name": "e2e-snapshot"}})
        snap = resp.json()["image_id"]
        image, took = wait_for(
            "snapshot image active",
            lambda: (lambda i: i if i["status"] == "active" else None)(
                c.call("image", "GET", "/v2/images/" + snap).json()), 120)
        check(image["container_format"] == "docker" and image["size"] > 0,
              "snapshot image %s" % image)
        data = c.call("image", "GET", "/v2/images/%s/file" % snap).content
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            check("manifest.json" in tar.getnames(),
                  "snapshot is not a docker-save archive: %s" %
                  tar.getnames()[:5])
        c.wait_status(uuid, "ACTIVE")
        uuid2 = c.create_server("e2e-2", snap, self.flavor)
        self.servers["e2e-2"] = uuid2
        _, t_boot = c.wait_status(uuid2, "ACTIVE")
        ct = c.container(uuid2)
        check(ct and ct["State"]["Running"], "second server's container")
        out = c.cli("console", "log", "show", uuid2)
        check(BANNER in out, "second server's console: %r" % out[-300:])
        return "image %s (%d bytes) active in %.1f s; server from it " \
               "ACTIVE in %.1f s" % (snap, image["size"], took, t_boot)

    def local_image(self):
        """An image only in the node's image directory, matched by Glance
        id: the Glance record is active with its checksums, but its data is
        gone from Glance's store (as when images are kept on the nodes and
        not in Glance), so Glance cannot serve it; the node has
        <glance id>.tar, which the agent verifies against those checksums."""
        c = self.c
        image = c.call("image", "POST", "/v2/images", json={
            "name": "e2e-local-only", "container_format": "docker",
            "disk_format": "raw", "visibility": "public"}).json()
        gid = image["id"]
        c.call("image", "PUT", "/v2/images/%s/file" % gid,
               data=self.image_archive,
               headers={"Content-Type": "application/octet-stream"})
        os.unlink(os.path.join(self.state, "glance", "images", gid))
        resp = c.call("image", "GET", "/v2/images/%s/file" % gid, ok=())
        # (Glance answers 204 No Content when the data is gone.)
        check(resp.status_code >= 400 or not resp.content,
              "Glance still serves the image: HTTP %d, %d bytes" %
              (resp.status_code, len(resp.content)))
        image = c.call("image", "GET", "/v2/images/" + gid).json()
        check(image["status"] == "active", "image %s" % image)
        path = os.path.join(self.state, "images", gid + ".tar")
        with open(path + ".part", "wb") as f:
            f.write(self.image_archive)
        os.rename(path + ".part", path)
        digest = hashlib.sha256(self.image_archive).hexdigest()
        uuid = c.create_server("e2e-local", gid, self.flavor)
        self.servers["e2e-local"] = uuid
        _, took = c.wait_status(uuid, "ACTIVE")
        ct = c.container(uuid)
        check(ct and ct["State"]["Running"], "container not running")
        check(ct["Config"]["Labels"].get("io.novadock.image") == gid,
              "container image label %s" % ct["Config"]["Labels"])
        with open(path, "rb") as f:
            check(hashlib.sha256(f.read()).hexdigest() == digest,
                  "the node's archive changed")
        with open(os.path.join(self.state, "log", "novadock-agent.out"),
                  errors="replace") as f:
            fetched = [line for line in f
                       if "fetched" in line and gid in line]
        check(not fetched, "the agent fetched from Glance: %s" % fetched)
        return "Glance %s has no data (GET /file: HTTP %d); booted from " \
               "the node's images/%s.tar in %.1f s" % (
                   gid, resp.status_code, gid, took)

    def delete(self):
        c = self.c
        took = []
        for name in ("e2e-1", "e2e-2", "e2e-local"):
            uuid = self.servers.pop(name, None)
            if uuid is None:
                continue
            start = time.monotonic()
            c.delete_server(uuid)
            took.append(time.monotonic() - start)
            check(c.container(uuid) is None,
                  "container nova-%s still in dockerd" % uuid)
        check(took, "no server to delete")
        status, data = c.docker("GET", "/containers/json?all=1")
        left = [x["Names"] for x in json.loads(data)
                if "io.novadock.node" in (x.get("Labels") or {})]
        check(not left, "instance containers left: %s" % left)
        return "%d servers deleted (max %.1f s), no container left" % (
            len(took), max(took))

    def _inventory(self):
        c = self.c
        rp = c.call("placement", "GET", "/resource_providers?name=" +
                    NODE).json()["resource_providers"][0]["uuid"]
        return c.call("placement", "GET", "/resource_providers/%s/inventories"
                      % rp).json()["inventories"]

    def draining(self):
        c = self.c
        s, ctl = c.controller()
        ctl.DrainNode(s.controller_pb2.DrainNodeRequest(name=NODE),
                      timeout=10)
        try:
            # 1. At once: placement still offers the node, the controller
            #    refuses the spawn, Nova puts the node's reason in the fault.
            uuid = c.create_server("e2e-drain-1", self.image, self.flavor)
            self.servers["e2e-drain-1"] = uuid
            server, _ = c.wait_status(uuid, "ERROR")
            fault1 = (server.get("fault") or {}).get("message", "")
            check("is DRAINING" in fault1 or "No valid host" in fault1,
                  "fault: %r" % fault1)
            check(c.container(uuid) is None, "a container was made")
            # 2. Once update_provider_tree has reserved everything (every
            #    10 s here), the scheduler finds no host at all.
            inv, took = wait_for(
                "placement reserves the draining node",
                lambda: (lambda i: i if i["MEMORY_MB"]["reserved"] ==
                         i["MEMORY_MB"]["total"] else None)(
                             self._inventory()), 60, interval=1)
            uuid = c.create_server("e2e-drain-2", self.image, self.flavor)
            self.servers["e2e-drain-2"] = uuid
            server, _ = c.wait_status(uuid, "ERROR")
            fault2 = (server.get("fault") or {}).get("message", "")
            check("No valid host" in fault2, "fault: %r" % fault2)
        finally:
            ctl.UndrainNode(s.controller_pb2.UndrainNodeRequest(name=NODE),
                            timeout=10)
        for name in ("e2e-drain-1", "e2e-drain-2"):
            c.delete_server(self.servers.pop(name))
        wait_for("placement opens the node again",
                 lambda: self._inventory()["MEMORY_MB"]["reserved"] == 512,
                 60, interval=1)
        return "right after DrainNode: %r; after placement caught up " \
               "(%.0f s): %r" % (fault1, took, fault2)


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--build-dir", required=True)
    p.add_argument("--port-base", type=int, default=0)
    p.add_argument("--running", metavar="STATE_DIR",
                   help="use an AIO already up in STATE_DIR (started with "
                        "--port-base and --no-demo); neither start nor "
                        "remove it")
    p.add_argument("--keep", action="store_true",
                   help="leave the AIO running (remove it with aio.sh "
                        "--purge --state-dir DIR)")
    args = p.parse_args()
    build = os.path.abspath(args.build_dir)
    if args.running:
        state = os.path.abspath(args.running)
        with open(os.path.join(state, "aio.env")) as f:
            base = int([line.split("=", 1)[1].strip().strip("'")
                        for line in f if line.startswith("PORT_BASE=")][0])
        args.keep = True
    else:
        state = tempfile.mkdtemp(prefix="ndos.", dir="/tmp")
        base = args.port_base or free_port_base()
    aio = [os.path.join(AIO, "aio.sh"), "--state-dir", state]
    started = time.monotonic()
    e2e = None
    rc = 1
    try:
        if not args.running and not start_aio(aio, build, base, state):
            print("0 passed, 1 failed")
            return 1
        cloud = Cloud(state)
        cloud.controller_port = base + 9
        e2e = E2E(cloud, state)
        e2e.run("flavor-and-docker-image", e2e.flavor_and_image)
        e2e.run("placement-inventory", e2e.placement_inventory)
        e2e.run("boot-active-container", e2e.boot,
                needs=["flavor-and-docker-image"])
        e2e.run("console-log", e2e.console, needs=["boot-active-container"])
        e2e.run("stop-start", e2e.stop_start, needs=["boot-active-container"])
        e2e.run("pause-unpause", e2e.pause_unpause,
                needs=["boot-active-container"])
        e2e.run("reboot", e2e.reboot, needs=["boot-active-container"])
        e2e.run("killed-behind-nova-event", e2e.killed_behind_nova,
                needs=["boot-active-container"])
        e2e.run("snapshot-boots-second", e2e.snapshot,
                needs=["boot-active-container"])
        e2e.run("local-image-by-glance-id", e2e.local_image,
                needs=["flavor-and-docker-image"])
        # With e2e-1 still on the node, a drained node stays DRAINING.
        e2e.run("draining-node-refused", e2e.draining,
                needs=["boot-active-container"])
        e2e.run("delete-removes-container", e2e.delete,
                needs=["boot-active-container"])
        failed = [r for r in e2e.results if not r[1]]
        rc = 1 if failed else 0
    finally:
        if rc != 0:
            show_logs(state)
        if args.keep:
            say("kept: %s --purge --state-dir %s" % (aio[0], state))
        else:
            down = subprocess.run(aio + ["--purge"], stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, timeout=300)
            left = leftovers(state, base)
            if down.returncode != 0 or os.path.exists(state) or left:
                print(down.stdout.decode(errors="replace")[-2000:])
                say("clean-up failed: %s" % (left or "state dir remains"))
                rc = 1
                shutil.rmtree(state, ignore_errors=True)
        say("total %.0f s" % (time.monotonic() - started))
    if e2e is not None:
        passed = sum(1 for r in e2e.results if r[1])
        print("%d passed, %d failed" % (passed, len(e2e.results) - passed))
    return rc


def leftovers(state, base):
    """What aio.sh --purge left behind: processes whose command line names
    the state dir, and listeners on the AIO's ports."""
    left = []
    for entry in os.listdir("/proc"):
        try:
            with open("/proc/%s/cmdline" % entry, "rb") as f:
                if entry.isdigit() and state.encode() in f.read():
                    left.append("pid " + entry)
        except OSError:
            pass
    for port in range(base, base + PORTS_PER_AIO):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                left.append("127.0.0.1:%d" % port)
    return left


def start_aio(aio, build, base, state, extra=()):
    say("starting the OpenStack AIO in %s, ports %d-%d" %
        (state, base, base + PORTS_PER_AIO - 1))
    start = time.monotonic()
    up = subprocess.run(aio + ["--from-build", build, "--port-base",
                               str(base), "--private-dockerd", "--no-demo"] +
                        list(extra),
                        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                        stderr=subprocess.STDOUT, timeout=600)
    took = time.monotonic() - start
    if up.returncode != 0:
        print(up.stdout.decode(errors="replace")[-4000:])
        say("aio.sh failed (%d) after %.0f s" % (up.returncode, took))
        return False
    say("AIO up in %.1f s" % took)
    return True


def show_logs(state):
    for name in ("nova-compute.log", "nova-conductor.log",
                 "novadock-agent.out", "novadock-controller.out"):
        path = os.path.join(state, "log", name)
        try:
            with open(path, errors="replace") as f:
                lines = [line for line in f if " ERROR " in line or
                         name.startswith("novadock")]
        except OSError:
            continue
        if lines:
            print("---- %s (last lines)" % path)
            print("".join(lines[-25:]))


if __name__ == "__main__":
    sys.exit(main())
