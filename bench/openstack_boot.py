#!/usr/bin/python3
"""20 servers in one request through a real Nova: novadock vs Nova's
FakeDriver vs raw Docker create+start, in one run. See bench/README.md.

It starts deployment/openstack-aio/aio.sh (private ports, private dockerd,
this build) with a second nova-compute (host aio-fake, fake.FakeDriver)
beside novadock's (host and node compute-docker-1), so that both drivers sit
behind the same API, scheduler, conductor, databases and message bus. Per
round and path:

  novadock  POST /servers min_count=max_count=N, host compute-docker-1
  fake      the same with host aio-fake (Nova's own cost, no containers)
  raw       N x (POST /containers/create + /start) on the same dockerd and
            image, from --concurrency threads (Nova's max_concurrent_builds
            is 10)

Times: all-ACTIVE = from the POST until the last server is ACTIVE (as seen
by polling every 0.1 s, and as Nova's launched_at of the last one); per
server = launched_at - POST time (Nova sets launched_at when the driver's
spawn returned, with microseconds); for raw, the time from the phase start
until that container's start returned. Servers and containers are removed
between phases (untimed). One warm-up boot per driver first loads the image
on the node, so every timed boot finds it in Docker.

  /usr/bin/python3 bench/openstack_boot.py --build-dir BUILD [--n 20]
      [--rounds 2] [--json FILE] [--running STATE_DIR]
"""

import argparse
import concurrent.futures
import datetime
import json
import os
import platform
import queue
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
sys.path.insert(0, os.path.join(ROOT, "tests", "py"))
import novadock_testlib as lib  # noqa: E402
import openstack_e2e as e2e  # noqa: E402  (tests/e2e/openstack_e2e.py)

NOVADOCK_HOST = e2e.NODE
FAKE_HOST = "aio-fake"
CLK_TCK = os.sysconf("SC_CLK_TCK")
SPAWN_RE = re.compile(r"\[instance: ([0-9a-f-]{36})\] Took ([0-9.]+) seconds "
                      r"to spawn the instance on the hypervisor")


def parse_time(text):
    text = text.rstrip("Z")
    fmt = "%Y-%m-%dT%H:%M:%S.%f" if "." in text else "%Y-%m-%dT%H:%M:%S"
    return datetime.datetime.strptime(text, fmt).replace(
        tzinfo=datetime.timezone.utc).timestamp()


def pct(values, p):
    values = sorted(values)
    k = (len(values) - 1) * p / 100.0
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


class Bench:
    def __init__(self, cloud, n, concurrency):
        self.c = cloud
        self.n = n
        self.concurrency = concurrency
        self.flavor = None
        self.image = None

    def setup(self, state):
        """Flavor bench.docker and image bench-busybox (made once per AIO,
        reused with --running)."""
        c = self.c
        flavors = [f["id"] for f in c.call("compute", "GET", "/flavors").json()[
            "flavors"] if f["name"] == "bench.docker"]
        self.flavor = flavors[0] if flavors else c.call(
            "compute", "POST", "/flavors", json={"flavor": {
                "name": "bench.docker", "ram": 64, "vcpus": 1,
                "disk": 1}}).json()["flavor"]["id"]
        images = c.call("image", "GET", "/v2/images?name=bench-busybox&"
                        "status=active").json()["images"]
        if images:
            self.image = images[0]["id"]
        else:
            archive = os.path.join(state, "bench-image.tar")
            subprocess.run(["/usr/bin/python3", os.path.join(
                e2e.AIO, "aio_docker.py"), "demo-image", c.docker_sock,
                archive], check=True, stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, timeout=120)
            image = c.call("image", "POST", "/v2/images", json={
                "name": "bench-busybox", "container_format": "docker",
                "disk_format": "raw", "visibility": "public"}).json()
            with open(archive, "rb") as f:
                c.call("image", "PUT", "/v2/images/%s/file" % image["id"],
                       data=f.read(),
                       headers={"Content-Type": "application/octet-stream"})
            os.unlink(archive)
            self.image = image["id"]
        for host in (NOVADOCK_HOST, FAKE_HOST):  # Warm-up: loads the image.
            self.nova_phase(host, 1)

    def cpu(self):
        """CPU seconds (user+system, with reaped children) used so far by
        each AIO daemon: every process in the process group of a pid in
        STATE/run, plus (as "dockerd") the containerd shims of the private
        dockerd, which run in sessions of their own."""
        run = os.path.join(self.c.state, "run")
        groups = {}
        for name in os.listdir(run):
            if name.endswith(".pid") and name != "mariadbd.pid":
                with open(os.path.join(run, name)) as f:
                    groups[int(f.read().split()[0])] = name[:-4]
        docker_dir = os.path.join(self.c.state, "docker").encode()
        used = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % entry) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                with open("/proc/%s/cmdline" % entry, "rb") as f:
                    cmdline = f.read()
            except OSError:
                continue
            name = groups.get(int(fields[2]))
            if name is None and docker_dir in cmdline:
                name = "dockerd"
            if name is not None:
                ticks = sum(int(x) for x in fields[11:15])
                used[name] = used.get(name, 0.0) + ticks / CLK_TCK
        return used

    @staticmethod
    def cpu_delta(before, after):
        return {k: round(after.get(k, 0.0) - before.get(k, 0.0), 2)
                for k in sorted(set(before) | set(after))
                if after.get(k, 0.0) - before.get(k, 0.0) > 0.005}

    def servers(self, prefix):
        return [s for s in self.c.call(
            "compute", "GET", "/servers/detail?name=^%s" % prefix).json()[
                "servers"] if s["name"].startswith(prefix)]

    def nova_phase(self, host, n):
        c = self.c
        prefix = "bench-%s-%d-" % (host, int(time.time() * 1000))
        body = {"server": {"name": prefix, "imageRef": self.image,
                           "flavorRef": self.flavor, "networks": "none",
                           "min_count": n, "max_count": n, "host": host}}
        cpu0 = self.cpu()
        t0_wall = time.time()
        t0 = time.monotonic()
        c.call("compute", "POST", "/servers", json=body)
        deadline = t0 + 600
        while True:
            servers = self.servers(prefix)
            bad = [s for s in servers if s["status"] == "ERROR"]
            if bad:
                raise RuntimeError("%s: %d servers in ERROR: %s" % (
                    host, len(bad), bad[0].get("fault")))
            if len(servers) == n and all(s["status"] == "ACTIVE"
                                         for s in servers):
                break
            if time.monotonic() > deadline:
                raise RuntimeError("%s: not all ACTIVE within 600 s" % host)
            time.sleep(0.1)
        all_active = time.monotonic() - t0
        per_server = [parse_time(s["OS-SRV-USG:launched_at"]) - t0_wall
                      for s in servers]
        wrong = [s["name"] for s in servers
                 if s["OS-EXT-SRV-ATTR:host"] != host]
        if wrong:
            raise RuntimeError("servers not on %s: %s" % (host, wrong))
        cpu = self.cpu_delta(cpu0, self.cpu())
        spawn = self.spawn_times(host, [s["id"] for s in servers])
        for s in servers:
            c.call("compute", "DELETE", "/servers/" + s["id"], ok=(204, 404))
        e2e.wait_for("%s servers deleted" % prefix,
                     lambda: not self.servers(prefix), 300, interval=0.5)
        return {"all_active_s": all_active,
                "last_launched_s": max(per_server),
                "per_server_s": sorted(per_server),
                "driver_spawn_s": spawn, "cpu_s": cpu}

    def spawn_times(self, host, uuids):
        """Nova's own measure of the driver's spawn() per instance, from
        nova-compute's log: "[instance: U] Took X seconds to spawn the
        instance on the hypervisor"."""
        log = "nova-compute.log" if host == NOVADOCK_HOST else \
            "nova-compute-fake.log"
        want = set(uuids)
        found = {}
        with open(os.path.join(self.c.state, "log", log),
                  errors="replace") as f:
            for line in f:
                m = SPAWN_RE.search(line)
                if m and m.group(1) in want:
                    found[m.group(1)] = float(m.group(2))
        return sorted(found.values())

    def raw_phase(self):
        c = self.c
        image = "novadock/glance:" + self.image
        names = ["bench-raw-%d-%d" % (int(time.time() * 1000), i)
                 for i in range(self.n)]

        def one(name, t0, conn):
            start = time.monotonic()
            status, data = lib.docker_request(
                c.docker_sock, "POST", "%s/containers/create?name=%s" %
                (c.api, name), body={
                    "Image": image,
                    "HostConfig": {"NetworkMode": "none",
                                   "Memory": 64 << 20,
                                   "MemorySwap": 64 << 20}}, conn=conn)
            if status != 201:
                raise RuntimeError("create: HTTP %d %r" % (status, data))
            cid = json.loads(data)["Id"]
            status, data = lib.docker_request(
                c.docker_sock, "POST", "%s/containers/%s/start" %
                (c.api, cid), conn=conn)
            if status != 204:
                raise RuntimeError("start: HTTP %d %r" % (status, data))
            done = time.monotonic()
            return done - t0, done - start

        # One keep-alive connection per worker thread.
        idle = queue.Queue()
        for _ in range(self.concurrency):
            idle.put(lib.UnixHTTPConnection(c.docker_sock))

        def job(name):
            conn = idle.get()
            try:
                return one(name, t0, conn)
            finally:
                idle.put(conn)
        cpu0 = self.cpu()
        t0 = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(self.concurrency) as ex:
            results = list(ex.map(job, names))
        per = [r[0] for r in results]
        all_done = time.monotonic() - t0
        cpu = self.cpu_delta(cpu0, self.cpu())
        while not idle.empty():
            idle.get().close()
        for name in names:
            lib.docker_request(c.docker_sock, "DELETE",
                               "%s/containers/%s?force=1" % (c.api, name))
        return {"all_active_s": all_done, "last_launched_s": max(per),
                "per_server_s": sorted(per),
                "create_start_s": sorted(r[1] for r in results),
                "cpu_s": cpu}


def summarize(samples):
    out = {}
    for path, runs in samples.items():
        per = [x for r in runs for x in r["per_server_s"]]
        out[path] = {
            "rounds": len(runs),
            "all_active_s": [round(r["all_active_s"], 3) for r in runs],
            "all_active_median_s": round(statistics.median(
                r["all_active_s"] for r in runs), 3),
            "per_server_p50_s": round(pct(per, 50), 3),
            "per_server_p95_s": round(pct(per, 95), 3),
            "cpu_s_median": {k: round(statistics.median(
                r["cpu_s"].get(k, 0.0) for r in runs), 2)
                for k in sorted({k for r in runs for k in r["cpu_s"]})},
        }
        out[path]["cpu_s_total_median"] = round(statistics.median(
            sum(r["cpu_s"].values()) for r in runs), 2)
    for path in ("novadock", "fake"):
        spawns = [x for r in samples[path] for x in r["driver_spawn_s"]]
        out[path]["driver_spawn_p50_s"] = round(pct(spawns, 50), 3)
        out[path]["driver_spawn_count"] = len(spawns)
    nd, fake, raw = out["novadock"], out["fake"], out["raw"]
    ops = [x for r in samples["raw"] for x in r["create_start_s"]]
    raw["create_start_p50_s"] = round(pct(ops, 50), 3)
    added_p50 = nd["per_server_p50_s"] - fake["per_server_p50_s"]
    added_all = nd["all_active_median_s"] - fake["all_active_median_s"]
    out["novadock_added"] = {
        "per_server_p50_s": round(added_p50, 3),
        "all_active_s": round(added_all, 3),
        "ratio_per_server_p50_to_raw": round(
            added_p50 / raw["per_server_p50_s"], 2),
        "ratio_per_server_p50_to_raw_create_start_p50": round(
            added_p50 / raw["create_start_p50_s"], 2),
        "driver_spawn_p50_s": round(
            nd["driver_spawn_p50_s"] - fake["driver_spawn_p50_s"], 3),
        "ratio_driver_spawn_p50_to_raw_create_start_p50": round(
            (nd["driver_spawn_p50_s"] - fake["driver_spawn_p50_s"]) /
            raw["create_start_p50_s"], 2),
        "ratio_all_active_to_raw": round(
            added_all / raw["all_active_median_s"], 2),
    }
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--build-dir", required=True)
    p.add_argument("--n", type=int, default=20)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--concurrency", type=int, default=10)
    p.add_argument("--json")
    p.add_argument("--running", metavar="STATE_DIR",
                   help="an AIO already up with --fake-compute --no-demo")
    args = p.parse_args()
    aio = os.path.join(e2e.AIO, "aio.sh")
    if args.running:
        state = os.path.abspath(args.running)
    else:
        state = tempfile.mkdtemp(prefix="ndob.", dir="/tmp")
        base = e2e.free_port_base()
        if not e2e.start_aio([aio, "--state-dir", state],
                             os.path.abspath(args.build_dir), base, state,
                             extra=["--fake-compute"]):
            return 1
    try:
        cloud = e2e.Cloud(state)
        bench = Bench(cloud, args.n, args.concurrency)
        bench.setup(state)
        samples = {"novadock": [], "fake": [], "raw": []}
        for r in range(args.rounds):
            order = ["raw", "fake", "novadock"]
            if r % 2:
                order.reverse()
            for path in order:
                if path == "raw":
                    res = bench.raw_phase()
                else:
                    host = NOVADOCK_HOST if path == "novadock" else FAKE_HOST
                    res = bench.nova_phase(host, args.n)
                samples[path].append(res)
                e2e.say("round %d %-8s all %d ACTIVE %.2f s, per-server "
                        "p50 %.2f s, CPU %.1f s: %s" % (
                            r + 1, path, args.n, res["all_active_s"],
                            pct(res["per_server_s"], 50),
                            sum(res["cpu_s"].values()), res["cpu_s"]))
        result = {"n": args.n, "rounds": args.rounds,
                  "raw_concurrency": args.concurrency,
                  "machine": {"cpus": os.cpu_count(),
                              "kernel": platform.release()},
                  "summary": summarize(samples), "samples": samples}
        s = result["summary"]
        print(json.dumps(s, indent=2))
        a = s["novadock_added"]
        print("novadock adds %.2f s per server (p50 from the POST) over "
              "Nova's FakeDriver; raw Docker p50 from its phase start %.2f s:"
              " ratio %.2f (target <= 1.1)" % (
                  a["per_server_p50_s"], s["raw"]["per_server_p50_s"],
                  a["ratio_per_server_p50_to_raw"]))
        print("driver spawn() p50: novadock %.3f s, FakeDriver %.3f s; raw "
              "Docker create+start p50 %.3f s: ratio %.2f" % (
                  s["novadock"]["driver_spawn_p50_s"],
                  s["fake"]["driver_spawn_p50_s"],
                  s["raw"]["create_start_p50_s"],
                  a["ratio_driver_spawn_p50_to_raw_create_start_p50"]))
        if args.json:
            with open(args.json, "w") as f:
                json.dump(result, f, indent=2)
        return 0
    finally:
        if not args.running:
            subprocess.run([aio, "--state-dir", state, "--purge"],
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           timeout=300)


if __name__ == "__main__":
    sys.exit(main())
