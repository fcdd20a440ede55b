#!/usr/bin/python3
"""Spawn benchmark: novadock-agent vs the raw Docker Engine API vs docker-py.

In one run, on one private dockerd and the same offline busybox image, it
creates and starts N containers (`sleep 3600`, NetworkMode none, 64 MiB)
through each path at each concurrency, deleting everything between phases
(untimed). See bench/README.md.

  /usr/bin/python3 bench/agent_spawn.py \
      --agent-binary BUILD/agent/novadock-agent
"""

import argparse
import datetime
import json
import os
import platform
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "tests", "py"))

import grpc  # noqa: E402

import novadock_testlib as testlib  # noqa: E402

MIB = 1 << 20
MEMORY_MB = 64
COMMAND = ["sleep", "3600"]
NODE_NAME = "docker-bench"
PATHS = ("raw", "agent", "docker-py")  # raw first: the others compare to it.
CALL_TIMEOUT_S = 120
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------
# /proc readings


def cpu_seconds(pid):
    """utime+stime of `pid` in seconds (0 if gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2:].split()
    # fields[0] is field 3 (state); utime, stime are fields 14, 15.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def status_kb(pid, key):
    """A kB value from /proc/PID/status (VmRSS, VmHWM), 0 if unknown."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class RssSampler(threading.Thread):
    """Samples VmRSS of `pid` every `period` s until stop()."""

    def __init__(self, pid, period=0.02):
        super().__init__(daemon=True)
        self.pid, self.period = pid, period
        self.peak_kb = 0
        self.samples = 0
        self._done = threading.Event()

    def run(self):
        while not self._done.is_set():
            self.peak_kb = max(self.peak_kb, status_kb(self.pid, "VmRSS"))
            self.samples += 1
            self._done.wait(self.period)

    def stop(self):
        self._done.set()
        self.join()


# --------------------------------------------------------------------------
# The three ways to create+start one container. Each is a factory: called
# once per worker thread before timing, it returns spawn(index) -> None.


class RawApiPath:
    """POST /containers/create then /start, one keep-alive connection per
    worker (http.client over AF_UNIX)."""
    name = "raw"

    def __init__(self, env):
        self.sock, self.api, self.image = env.sock, env.api, env.image

    def worker(self):
        conn = testlib.UnixHTTPConnection(self.sock, timeout=CALL_TIMEOUT_S)

        def spawn(_):
            body = {
                "Image": self.image,
                "Cmd": COMMAND,
                "HostConfig": {"NetworkMode": "none",
                               "Memory": MEMORY_MB * MIB,
                               "MemorySwap": MEMORY_MB * MIB},
            }
            status, data = testlib.docker_request(
                self.sock, "POST", "%s/containers/create?name=bench-%s" %
                (self.api, uuid.uuid4()), body=body, conn=conn)
            if status != 201:
                raise RuntimeError("create: HTTP %d %r" % (status, data[:300]))
            cid = json.loads(data)["Id"]
            status, data = testlib.docker_request(
                self.sock, "POST", "%s/containers/%s/start" % (self.api, cid),
                conn=conn)
            if status != 204:
                raise RuntimeError("start: HTTP %d %r" % (status, data[:300]))

        spawn.close = conn.close
        return spawn


class AgentPath:
    """novadock.v1.Agent/CreateInstance over one shared channel."""
    name = "agent"

    def __init__(self, env):
        self.pb = env.stubs
        self.stub = self.pb.agent_pb2_grpc.AgentStub(env.channel)
        self.image = env.image

    def worker(self):
        types_pb2, agent_pb2 = self.pb.types_pb2, self.pb.agent_pb2

        def spawn(i):
            req = agent_pb2.CreateInstanceRequest(
                uuid=str(uuid.uuid4()), name="instance-%08x" % i,
                image=types_pb2.ImageRef(name=self.image),
                flavor=types_pb2.Flavor(name="m1.bench", memory_mb=MEMORY_MB,
                                        vcpus=1),
                command=COMMAND)
            inst = self.stub.CreateInstance(req, timeout=CALL_TIMEOUT_S)
            if inst.power_state != types_pb2.POWER_STATE_RUNNING:
                raise RuntimeError("instance %s is %s" % (inst.uuid,
                                                          inst.docker_state))

        spawn.close = lambda: None
        return spawn


class DockerPyPath:
    """docker-py: containers.create + start, one DockerClient per worker."""
    name = "docker-py"

    def __init__(self, env):
        import docker  # python3-docker
        self.docker = docker
        self.host, self.image = env.host, env.image
        self.version = env.api.lstrip("/v")

    def worker(self):
        client = self.docker.DockerClient(base_url=self.host,
                                          version=self.version,
                                          timeout=CALL_TIMEOUT_S)

        def spawn(_):
            c = client.containers.create(
                self.image, command=COMMAND, name="bench-%s" % uuid.uuid4(),
                network_mode="none", mem_limit=MEMORY_MB * MIB,
                memswap_limit=MEMORY_MB * MIB)
            c.start()

        spawn.close = client.close
        return spawn


# --------------------------------------------------------------------------


def percentile(sorted_values, q):
    """Linear interpolation between closest ranks (numpy's default)."""
    if not sorted_values:
        return float("nan")
    pos = (len(sorted_values) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (
        pos - lo)


def run_phase(path, n, concurrency):
    """Creates+starts n containers through `path` with `concurrency`
    workers. Returns (latencies in s, wall time in s)."""
    workers = [path.worker() for _ in range(concurrency)]
    next_index = iter(range(n))
    lock = threading.Lock()
    latencies, errors = [], []
    barrier = threading.Barrier(concurrency + 1)

    def work(spawn):
        barrier.wait()
        while True:
            with lock:
                i = next(next_index, None)
            if i is None or errors:
                return
            t0 = time.perf_counter()
            try:
                spawn(i)
            except Exception as e:  # Reported after the phase.
                errors.append(e)
                return
            dt = time.perf_counter() - t0
            with lock:
                latencies.append(dt)

    with ThreadPoolExecutor(concurrency) as pool:
        futures = [pool.submit(work, w) for w in workers]
        barrier.wait()
        start = time.perf_counter()
        for f in futures:
            f.result()
        wall = time.perf_counter() - start
    for w in workers:
        w.close()
    if errors:
        raise RuntimeError("%s x%d: %d errors, first: %r" %
                           (path.name, concurrency, len(errors), errors[0]))
    return latencies, wall


def remove_all(env, parallel=8):
    """Force-removes every container (SIGKILL, no grace), untimed."""
    status, data = testlib.docker_request(
        env.sock, "GET", env.api + "/containers/json?all=1", timeout=60)
    if status != 200:
        raise RuntimeError("list containers: HTTP %d" % status)
    ids = [c["Id"] for c in json.loads(data)]

    def remove(cid):
        st, body = testlib.docker_request(
            env.sock, "DELETE",
            "%s/containers/%s?force=1&v=1" % (env.api, cid),
            timeout=60)
        if st not in (204, 404):
            raise RuntimeError("remove %s: HTTP %d %r" % (cid, st, body[:200]))

    with ThreadPoolExecutor(parallel) as pool:
        list(pool.map(remove, ids))
    return len(ids)


def settle(pids, max_wait=5.0, window=0.5, busy_fraction=0.05):
    """Waits (bounded) until `pids` together use < busy_fraction of a core
    over `window`: dockerd finishes tearing down removed containers in the
    background, and the next phase should not pay for that."""
    deadline = time.monotonic() + max_wait
    while time.monotonic() < deadline:
        before = sum(cpu_seconds(p) for p in pids if p)
        time.sleep(window)
        if sum(cpu_seconds(p) for p in pids if p) - before < \
                busy_fraction * window:
            return


def containerd_pid(dockerd):
    try:
        with open(os.path.join(dockerd.dir, "exec", "containerd",
                               "containerd.pid")) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return 0


def parse_run_args(doc, binaries, n, concurrency, rounds, extra=None):
    """The spawn benchmarks' common command line: --<binary>-binary for each
    of `binaries` (default from NOVADOCK_<BINARY>_BINARY), --n, --concurrency,
    --warmup, --rounds, --json, plus what `extra(parser)` adds. Returns
    (args, concurrencies) after checking them."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    for b in binaries:
        env = "NOVADOCK_%s_BINARY" % b.upper()
        parser.add_argument("--%s-binary" % b, default=os.environ.get(env),
                            required=not os.environ.get(env))
    parser.add_argument("--n", type=int, default=n,
                        help="spawns per phase (default %d)" % n)
    parser.add_argument("--concurrency", default=concurrency,
                        help="comma-separated caller counts (default %s)" %
                        concurrency)
    parser.add_argument("--warmup", type=int, default=3,
                        help="untimed spawns per path before the run")
    parser.add_argument("--rounds", type=int, default=rounds,
                        help="repeat the whole matrix (default %d), path "
                        "order reversed every other round; samples pooled" %
                        rounds)
    parser.add_argument("--json", help="also write the results here")
    if extra is not None:
        extra(parser)
    args = parser.parse_args()
    concurrencies = [int(c) for c in args.concurrency.split(",") if c]
    if args.n < 1 or args.rounds < 1 or not concurrencies or \
            min(concurrencies) < 1:
        parser.error("--n, --rounds and every --concurrency must be >= 1")
    return args, concurrencies


def main():
    args, concurrencies = parse_run_args(__doc__, ("agent",), 40, "1,8,32", 2)

    run_start = time.monotonic()
    run_date = datetime.datetime.now().astimezone().isoformat(
        timespec="seconds")
    env = type("Env", (), {})()
    env.stubs = testlib.stubs()
    with testlib.PrivateDockerd() as dockerd:
        env.sock, env.host, env.api = dockerd.sock, dockerd.host, dockerd.api
        env.image = testlib.import_busybox_image(dockerd.sock, api=dockerd.api)
        _, version = testlib.docker_request(dockerd.sock, "GET",
                                            env.api + "/version")
        docker_version = json.loads(version).get("Version", "?")
        agent, port = testlib.start_agent(
            args.agent_binary, dockerd.host, NODE_NAME,
            extra_args=["--max_instances=%d" % max(100, 2 * args.n)])
        env.channel = grpc.insecure_channel("127.0.0.1:%d" % port)
        try:
            grpc.channel_ready_future(env.channel).result(timeout=10)
            node = env.stubs.agent_pb2_grpc.AgentStub(env.channel).GetNode(
                env.stubs.agent_pb2.GetNodeRequest(), timeout=10)
            time.sleep(1.0)  # Let the agent settle before the idle reading.
            idle_rss_kb = status_kb(agent.pid, "VmRSS")
            idle_anon_kb = status_kb(agent.pid, "RssAnon")
            idle_file_kb = status_kb(agent.pid, "RssFile")
            paths = {p.name: p for p in (RawApiPath(env), AgentPath(env),
                                         DockerPyPath(env))}
            for p in PATHS:  # Warm-up: connections, caches, image lookups.
                if args.warmup:
                    run_phase(paths[p], args.warmup, 1)
            remove_all(env)

            sampler = RssSampler(agent.pid)
            sampler.start()
            agent_cpu = agent_instances = 0.0
            daemon_cpu = {p: 0.0 for p in PATHS}
            containerd_cpu = {p: 0.0 for p in PATHS}
            created = {p: 0 for p in PATHS}
            cd_pid = containerd_pid(dockerd)
            samples = {}  # (path, c) -> [latencies, wall seconds]
            for rnd in range(args.rounds):
                order = PATHS if rnd % 2 == 0 else tuple(reversed(PATHS))
                for c in concurrencies:
                    for p in order:
                        settle([dockerd.pid(), cd_pid, agent.pid])
                        a0 = cpu_seconds(agent.pid)
                        d0 = cpu_seconds(dockerd.pid())
                        k0 = cpu_seconds(cd_pid) if cd_pid else 0.0
                        lat, wall = run_phase(paths[p], args.n, c)
                        a1 = cpu_seconds(agent.pid)
                        d1 = cpu_seconds(dockerd.pid())
                        k1 = cpu_seconds(cd_pid) if cd_pid else 0.0
                        daemon_cpu[p] += d1 - d0
                        containerd_cpu[p] += k1 - k0
                        created[p] += len(lat)
                        if p == "agent":
                            agent_cpu += a1 - a0
                            agent_instances += len(lat)
                        entry = samples.setdefault((p, c), [[], 0.0])
                        entry[0].extend(lat)
                        entry[1] += wall
                        removed = remove_all(env)
                        if removed != args.n:
                            raise RuntimeError(
                                "%s x%d: %d containers, want %d" %
                                (p, c, removed, args.n))
            results = []
            for c in concurrencies:
                for p in PATHS:
                    lat, wall = samples[(p, c)]
                    lat.sort()
                    results.append({
                        "path": p, "concurrency": c, "n": len(lat),
                        "p50_ms": percentile(lat, 0.5) * 1e3,
                        "p95_ms": percentile(lat, 0.95) * 1e3,
                        "throughput_per_s": len(lat) / wall,
                        "wall_s": wall})
            sampler.stop()
            vmhwm_kb = status_kb(agent.pid, "VmHWM")
        finally:
            env.channel.close()
            rc = testlib.stop_agent(agent)
    if rc != 0:
        print("warning: novadock-agent exited with %s" % rc, file=sys.stderr)

    raw = {r["concurrency"]: r for r in results if r["path"] == "raw"}
    for r in results:
        base = raw[r["concurrency"]]
        r["p50_ratio_to_raw"] = r["p50_ms"] / base["p50_ms"]
        r["throughput_ratio_to_raw"] = (r["throughput_per_s"] /
                                        base["throughput_per_s"])
    agent_cpu_ms = agent_cpu * 1e3 / max(agent_instances, 1)
    summary = {
        "date": run_date,
        "host": {"cpus": os.cpu_count(), "kernel": platform.release(),
                 "docker_version": docker_version,
                 "docker_api": env.api.lstrip("/v"),
                 "node_vcpus": node.capacity.vcpus},
        "n": args.n, "rounds": args.rounds, "concurrency": concurrencies,
        "results": results,
        "agent": {
            "idle_rss_kb": idle_rss_kb,
            "idle_rss_anon_kb": idle_anon_kb,
            "idle_rss_file_kb": idle_file_kb,
            "peak_rss_kb_sampled": sampler.peak_kb,
            "vmhwm_kb": vmhwm_kb,
            "cpu_ms_per_instance": agent_cpu_ms,
            "cpu_s_total": agent_cpu,
            "instances": int(agent_instances),
            "clk_tck": CLK_TCK},
        "dockerd_cpu_ms_per_container": {
            p: daemon_cpu[p] * 1e3 / max(created[p], 1) for p in PATHS},
        "containerd_cpu_ms_per_container": {
            p: containerd_cpu[p] * 1e3 / max(created[p], 1) for p in PATHS},
        "run_seconds": time.monotonic() - run_start,
    }
    summary["targets"] = targets(summary)

    print_report(summary)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=2)
            f.write("\n")
    return 0


def targets(s):
    """bench/README.md's targets, each with the measured value."""
    by = {(r["path"], r["concurrency"]): r for r in s["results"]}
    out = []
    for c in s["concurrency"]:
        a, dp = by[("agent", c)], by[("docker-py", c)]
        out.append({"target": "agent p50 within 5%% of raw, x%d" % c,
                    "value": "%.2fx" % a["p50_ratio_to_raw"],
                    "met": a["p50_ratio_to_raw"] <= 1.05})
        out.append({"target": "agent ahead of docker-py (p50), x%d" % c,
                    "value": "%.1f vs %.1f ms" % (a["p50_ms"], dp["p50_ms"]),
                    "met": a["p50_ms"] < dp["p50_ms"]})
    ag = s["agent"]
    out.append({"target": "agent CPU <= 2 ms/instance",
                "value": "%.2f ms" % ag["cpu_ms_per_instance"],
                "met": ag["cpu_ms_per_instance"] <= 2.0})
    out.append({"target": "agent idle RSS < 20 MB",
                "value": "%.1f MB" % (ag["idle_rss_kb"] / 1024),
                "met": ag["idle_rss_kb"] < 20 * 1024})
    return out


def print_report(s):
    h = s["host"]
    print("novadock spawn benchmark %s: %d cpus, kernel %s, docker %s (API %s)"
          % (s["date"], h["cpus"], h["kernel"], h["docker_version"],
             h["docker_api"]))
    print("N=%d per phase, %d round(s); create+start `%s`, NetworkMode none, "
          "%d MiB\n" % (s["n"], s["rounds"], " ".join(COMMAND), MEMORY_MB))
    print("%-10s %5s %9s %9s %10s %9s %9s" % (
        "path", "conc", "p50 ms", "p95 ms", "thru/s", "p50/raw", "thru/raw"))
    for r in sorted(s["results"], key=lambda r: (r["concurrency"],
                                                 PATHS.index(r["path"]))):
        print("%-10s %5d %9.1f %9.1f %10.1f %9.2f %9.2f" % (
            r["path"], r["concurrency"], r["p50_ms"], r["p95_ms"],
            r["throughput_per_s"], r["p50_ratio_to_raw"],
            r["throughput_ratio_to_raw"]))
    a = s["agent"]
    print("\nagent RSS: idle %.1f MB (anon %.1f MB, file-backed %.1f MB), "
          "peak %.1f MB sampled (VmHWM %.1f MB)" % (
              a["idle_rss_kb"] / 1024, a["idle_rss_anon_kb"] / 1024,
              a["idle_rss_file_kb"] / 1024, a["peak_rss_kb_sampled"] / 1024,
              a["vmhwm_kb"] / 1024))
    print("agent CPU: %.2f ms/instance (%.2f s over %d instances)" %
          (a["cpu_ms_per_instance"], a["cpu_s_total"], a["instances"]))
    print("dockerd CPU ms/container: " + ", ".join(
        "%s %.1f" % (p, v) for p, v in
        s["dockerd_cpu_ms_per_container"].items()))
    print("containerd CPU ms/container: " + ", ".join(
        "%s %.1f" % (p, v) for p, v in
        s["containerd_cpu_ms_per_container"].items()))
    print("\ntargets:")
    for t in s["targets"]:
        print("  [%s] %s: %s" % ("met" if t["met"] else "MISSED", t["target"],
                                 t["value"]))
    print("run took %.0f s" % s["run_seconds"])


if __name__ == "__main__":
    sys.exit(main())
