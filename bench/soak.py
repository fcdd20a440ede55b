#!/usr/bin/python3
"""Soak: mixed Nova calls through the controller at a fixed rate for a long
time; do the daemons grow, and does anything fail?

One private dockerd, two agents on it (two nodes), one controller, all on
loopback (tests/py/novadock_testlib.py). A scheduler issues one call every
1/--rate seconds to a small pool of callers; --instances are spawned
first, then a quarter of the calls keep that population (destroy when full,
else spawn) and the rest are power off/on, reboot, pause/unpause, get and
console on live instances; a poller long-polls PollEvents as the Nova shim does, and every
10 s ListInstances and ListNodes run as Nova's periodic tasks do. Every
--sample-seconds it records RSS (VmRSS) and open file descriptors of each
agent, the controller, dockerd and containerd.

At the end: the error count (must be 0), late calls (the schedule could not
be kept), and per daemon the median RSS and fd count of the first and last
quarter of the run (after --warmup-minutes) and their trend (least squares
over time, with the number of running containers as a second variable,
since dockerd's and containerd's fds follow it), with a verdict: "flat"
unless the trend over the run exceeds 10% and 5 MiB of RSS, or 5 fds. Exit status 0 only if
there were no errors and everything is flat.

  /usr/bin/python3 bench/soak.py --agent-binary BUILD/agent/novadock-agent \\
      --controller-binary BUILD/controller/novadock-controller \\
      [--minutes 30] [--rate 2] [--json FILE]

Needs root (its own dockerd), busybox-static, python3-grpcio and
python3-grpc-tools; nothing is pulled, nothing leaves loopback.
"""

import argparse
import collections
import datetime
import json
import os
import platform
import queue
import random
import sys
import threading
import time
import uuid as uuidlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "tests", "py"))

import grpc  # noqa: E402

import novadock_testlib as tl  # noqa: E402

NODES = ("compute-docker-soak1", "compute-docker-soak2")
# PID 1 leaves on SIGTERM within a second, as a well-behaved guest does.
COMMAND = ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"]
CALLERS = 4
TIMEOUT_S = 120


def proc_stats(pid):
    """(RSS KiB, open fds, threads) of `pid`, or Nones if it is gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
        rss = int(fields["VmRSS"].split()[0])
        threads = int(fields["Threads"])
        fds = len(os.listdir("/proc/%d/fd" % pid))
        return rss, fds, threads
    except (OSError, KeyError, ValueError):
        return None, None, None


def fd_kinds(pid):
    """{"socket": n, "pipe": n, "anon_inode": n, "file": n} of `pid`."""
    kinds = collections.Counter()
    try:
        for fd in os.listdir("/proc/%d/fd" % pid):
            try:
                target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            except OSError:
                continue
            kind = target.split(":", 1)[0] if ":" in target and \
                not target.startswith("/") else "file"
            kinds[kind] += 1
    except OSError:
        pass
    return dict(kinds)


def containerd_pid(dockerd):
    text = tl._read(os.path.join(dockerd.dir, "exec", "containerd",
                                 "containerd.pid"))
    return int(text) if text and text.strip().isdigit() else None


class Soak(object):

    def __init__(self, args, s, stub):
        self.args = args
        self.s = s
        self.pb = s.controller_pb2
        self.stub = stub
        self.lock = threading.Lock()
        self.live = {}  # uuid -> "running" | "stopped" | "paused"
        self.busy = set()
        self.counts = collections.Counter()
        self.errors = []
        self.late = 0
        self.events = 0
        self.event_gaps = 0
        self.stop = threading.Event()
        self.work = queue.Queue(maxsize=CALLERS * 4)
        self.index = 0

    # -- the mix

    def pick(self, states):
        """An idle live instance in one of `states`, marked busy."""
        with self.lock:
            choices = [u for u, st in self.live.items()
                       if st in states and u not in self.busy]
            if not choices:
                return None
            u = random.choice(choices)
            self.busy.add(u)
            return u

    def next_op(self):
        """A quarter of the calls keep the population at --instances (a
        destroy when it is full, else a spawn); the rest are power calls,
        gets and console reads on live instances."""
        if random.random() < 0.25:
            with self.lock:
                n = len(self.live)
            return "spawn" if n < self.args.instances else "destroy"
        return random.choice(["power_off", "power_on", "reboot", "pause",
                              "unpause", "get", "console"])

    def call(self, op):
        pb = self.pb
        req_for = (lambda u: pb.InstanceCallRequest(uuid=u,
                                                    grace_period_seconds=2))
        if op == "spawn":
            with self.lock:
                self.index += 1
                index = self.index
            u = str(uuidlib.uuid4())
            req = pb.SpawnRequest()
            req.instance.uuid = u
            req.instance.name = "instance-%08x" % index
            req.instance.image.name = tl.TEST_IMAGE
            req.instance.flavor.name = "m1.soak"
            req.instance.flavor.memory_mb = 32
            req.instance.flavor.vcpus = 1
            req.instance.command.extend(COMMAND)
            req.instance.metadata["soak"] = str(index)
            self.stub.Spawn(req, timeout=TIMEOUT_S)
            with self.lock:
                self.live[u] = "running"
            return
        wanted = {"destroy": ("running", "stopped", "paused"),
                  "power_off": ("running",), "power_on": ("stopped",),
                  "reboot": ("running",), "pause": ("running",),
                  "unpause": ("paused",), "get": ("running", "stopped",
                                                  "paused"),
                  "console": ("running", "stopped")}[op]
        u = self.pick(wanted)
        if u is None:
            self.counts["skipped " + op] += 1
            return
        try:
            if op == "destroy":
                self.stub.Destroy(req_for(u), timeout=TIMEOUT_S)
                with self.lock:
                    del self.live[u]
                return
            method, state = {
                "power_off": (self.stub.PowerOff, "stopped"),
                "power_on": (self.stub.PowerOn, "running"),
                "reboot": (self.stub.Reboot, "running"),
                "pause": (self.stub.Pause, "paused"),
                "unpause": (self.stub.Unpause, "running"),
                "get": (self.stub.GetInstance, None),
                "console": (None, None)}[op]
            if op == "console":
                self.stub.GetConsoleOutput(pb.ControllerConsoleRequest(
                    uuid=u, max_bytes=4096), timeout=TIMEOUT_S)
            else:
                method(req_for(u), timeout=TIMEOUT_S)
            if state is not None:
                with self.lock:
                    self.live[u] = state
        finally:
            with self.lock:
                self.busy.discard(u)

    def caller(self):
        while not self.stop.is_set() or not self.work.empty():
            try:
                op = self.work.get(timeout=0.2)
            except queue.Empty:
                continue
            try:
                self.call(op)
                with self.lock:
                    self.counts[op] += 1
            except grpc.RpcError as e:
                with self.lock:
                    self.errors.append((time.time(), op, e.code().name,
                                        e.details()))

    def scheduler(self, end):
        period = 1.0 / self.args.rate
        t = time.monotonic()
        while not self.stop.is_set() and t < end:
            t += period
            delay = t - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            try:
                self.work.put_nowait(self.next_op())
            except queue.Full:
                with self.lock:
                    self.late += 1

    def poller(self):
        """Long-polls PollEvents as the Nova shim does."""
        pb = self.pb
        cursor = 0
        while not self.stop.is_set():
            try:
                r = self.stub.PollEvents(pb.PollEventsRequest(
                    after_sequence=cursor, wait_ms=2000), timeout=30)
            except grpc.RpcError as e:
                with self.lock:
                    self.errors.append((time.time(), "poll_events",
                                        e.code().name, e.details()))
                time.sleep(1)
                continue
            with self.lock:
                self.events += len(r.events)
                self.event_gaps += 1 if (r.gap and cursor) else 0
            cursor = r.next_sequence

    def periodic(self):
        """Nova's periodic tasks: list instances and nodes every 10 s."""
        pb = self.pb
        while not self.stop.wait(10):
            try:
                listed = self.stub.ListInstances(
                    pb.ControllerListInstancesRequest(), timeout=60)
                self.stub.ListNodes(pb.ListNodesRequest(), timeout=60)
                if listed.unreachable_nodes:
                    raise RuntimeError("unreachable: %s" %
                                       list(listed.unreachable_nodes))
                with self.lock:
                    self.counts["list"] += 1
            except (grpc.RpcError, RuntimeError) as e:
                with self.lock:
                    self.errors.append((time.time(), "list", "", str(e)))


def _fit(rows):
    """Least squares y = a + b*t + c*running over rows (t, running, y);
    returns b (per second), or None if the system is singular."""
    n = float(len(rows))
    st = sum(r[0] for r in rows)
    sr = sum(r[1] for r in rows)
    sy = sum(r[2] for r in rows)
    stt = sum(r[0] * r[0] for r in rows)
    srr = sum(r[1] * r[1] for r in rows)
    str_ = sum(r[0] * r[1] for r in rows)
    sty = sum(r[0] * r[2] for r in rows)
    sry = sum(r[1] * r[2] for r in rows)
    m = [[n, st, sr, sy], [st, stt, str_, sty], [sr, str_, srr, sry]]
    if len({r[1] for r in rows}) < 2:  # running constant: drop its column
        m = [[n, st, 0.0, sy], [st, stt, 0.0, sty], [0.0, 0.0, 1.0, 0.0]]
    for i in range(3):  # Gauss-Jordan with partial pivoting.
        pivot = max(range(i, 3), key=lambda k: abs(m[k][i]))
        if abs(m[pivot][i]) < 1e-12:
            return None
        m[i], m[pivot] = m[pivot], m[i]
        for k in range(3):
            if k != i:
                f = m[k][i] / m[i][i]
                m[k] = [x - f * y for x, y in zip(m[k], m[i])]
    return m[1][3] / m[1][1]


def verdict(samples, warmup_s):
    """Per daemon after the warm-up: median RSS and fds of the first and
    last quarter, and the trend over time with the number of running
    containers held apart (dockerd's and containerd's fds follow it: each
    running container holds a shim and its pipes). "GROWS" if the trend
    over the measured span exceeds 10% and 5 MiB of RSS, or 5 fds."""
    out = {}
    names = sorted({k for s in samples for k in s["daemons"]})
    for name in names:
        series = [(s["t"], s["running"], s["daemons"][name]) for s in samples
                  if s["t"] >= warmup_s and name in s["daemons"] and
                  s["daemons"][name][0] is not None]
        if len(series) < 8:
            out[name] = {"verdict": "too few samples"}
            continue
        q = max(len(series) // 4, 1)
        first, last = series[:q], series[-q:]
        span = series[-1][0] - series[0][0]

        def median(xs, i):  # Robust to one busy moment.
            values = sorted(x[2][i] for x in xs)
            return values[len(values) // 2]
        rss0 = median(first, 0)
        rss_slope = _fit([(t, r, v[0]) for t, r, v in series]) or 0.0
        fd_slope = _fit([(t, r, v[1]) for t, r, v in series]) or 0.0
        rss_trend, fd_trend = rss_slope * span, fd_slope * span
        grows = ((rss_trend > 0.10 * rss0 and rss_trend > 5 * 1024) or
                 fd_trend > 5)
        out[name] = {"rss_kib_first": median(first, 0),
                     "rss_kib_last": median(last, 0),
                     "rss_kib_max": max(x[2][0] for x in series),
                     "rss_kib_trend_per_hour": round(rss_slope * 3600),
                     "fds_first": median(first, 1),
                     "fds_last": median(last, 1),
                     "fds_max": max(x[2][1] for x in series),
                     "fds_trend_per_hour": round(fd_slope * 3600, 1),
                     "threads_first": median(first, 2),
                     "threads_last": median(last, 2),
                     "verdict": "GROWS" if grows else "flat"}
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--agent-binary",
                   default=os.environ.get("NOVADOCK_AGENT_BINARY"))
    p.add_argument("--controller-binary",
                   default=os.environ.get("NOVADOCK_CONTROLLER_BINARY"))
    p.add_argument("--minutes", type=float, default=30.0)
    p.add_argument("--rate", type=float, default=2.0, help="calls per second")
    p.add_argument("--instances", type=int, default=20,
                   help="live instances at most")
    p.add_argument("--sample-seconds", type=float, default=10.0)
    p.add_argument("--warmup-minutes", type=float, default=None,
                   help="excluded from the verdict (default: a tenth)")
    p.add_argument("--event-buffer", type=int, default=None,
                   help="the controller's --event_buffer (default: its own, "
                        "10000); its ring grows until full, by design")
    p.add_argument("--json", default=None)
    args = p.parse_args()
    for b in (args.agent_binary, args.controller_binary):
        if not b or not os.access(b, os.X_OK):
            p.error("not executable: %s" % b)
    warmup_s = 60 * (args.warmup_minutes if args.warmup_minutes is not None
                     else args.minutes / 10)
    s = tl.stubs()
    procs = []
    dockerd = tl.PrivateDockerd().start()
    try:
        tl.import_busybox_image(dockerd.sock)
        ports = {}
        agents = {}
        for node in NODES:
            proc, ports[node] = tl.start_agent(
                args.agent_binary, dockerd.host, node,
                extra_args=["--grace_period_seconds=2"])
            procs.append(proc)
            agents[node] = proc
        controller, cport = tl.start_controller(
            args.controller_binary, ports,
            extra_args=["--check_interval_seconds=10"] + (
                ["--event_buffer=%d" % args.event_buffer]
                if args.event_buffer else []))
        procs.append(controller)
        channel = grpc.insecure_channel("127.0.0.1:%d" % cport)
        stub = s.controller_pb2_grpc.ControllerStub(channel)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            nodes = stub.ListNodes(s.controller_pb2.ListNodesRequest(),
                                   timeout=10).nodes
            if len(nodes) == 2 and all(
                    n.state == s.controller_pb2.NODE_STATE_ACTIVE and
                    n.capacity.memory_mb > 0 for n in nodes):
                break
            time.sleep(0.5)
        pids = {"agent " + n: agents[n].pid for n in NODES}
        pids["controller"] = controller.pid
        pids["dockerd"] = dockerd.pid()
        cpid = containerd_pid(dockerd)
        if cpid:
            pids["containerd"] = cpid

        soak = Soak(args, s, stub)
        prefill_start = time.monotonic()
        for _ in range(args.instances):
            soak.call("spawn")
        print("prefill: %d instances in %.1f s" % (
            args.instances, time.monotonic() - prefill_start), flush=True)
        start = time.monotonic()
        end = start + 60 * args.minutes
        threads = [threading.Thread(target=soak.caller)
                   for _ in range(CALLERS)]
        threads += [threading.Thread(target=soak.poller),
                    threading.Thread(target=soak.periodic)]
        for t in threads:
            t.start()
        sched = threading.Thread(target=soak.scheduler, args=(end,))
        sched.start()
        kinds_start = {n: fd_kinds(pid) for n, pid in pids.items()}
        samples = []
        print("%7s %5s %6s  %s" % ("t(s)", "live", "errors", "  ".join(
            "%s rss/fds" % n for n in pids)), flush=True)
        next_sample = start
        while time.monotonic() < end:
            now = time.monotonic()
            if now >= next_sample:
                daemons = {n: proc_stats(pid) for n, pid in pids.items()}
                with soak.lock:
                    live, errors = len(soak.live), len(soak.errors)
                    running = sum(1 for st in soak.live.values()
                                  if st != "stopped")
                samples.append({"t": round(now - start, 1), "live": live,
                                "running": running, "errors": errors,
                                "daemons": daemons})
                print("%7.0f %5d %6d  %s" % (
                    now - start, live, errors, "  ".join(
                        "%s/%s" % (round(v[0] / 1024, 1) if v[0] else "-",
                                   v[1]) for v in daemons.values())),
                    flush=True)
                next_sample += args.sample_seconds
            time.sleep(min(1.0, max(0.0, next_sample - time.monotonic())))
        sched.join()
        kinds_end = {n: fd_kinds(pid) for n, pid in pids.items()}
        soak.stop.set()
        for t in threads:
            t.join(TIMEOUT_S + 10)
        channel.close()
        result = {
            "date": datetime.datetime.utcnow().isoformat() + "Z",
            "host": {"cpus": os.cpu_count(), "kernel": platform.release()},
            "minutes": args.minutes, "rate_per_s": args.rate,
            "instances_max": args.instances, "warmup_s": warmup_s,
            "event_buffer": args.event_buffer or 10000,
            "calls": dict(soak.counts),
            "calls_total": sum(v for k, v in soak.counts.items()
                               if not k.startswith("skipped")),
            "events": soak.events, "event_gaps": soak.event_gaps,
            "late": soak.late, "errors": len(soak.errors),
            "error_samples": soak.errors[:20],
            "daemons": verdict(samples, warmup_s),
            "fd_kinds": {"start": kinds_start, "end": kinds_end},
            "samples": samples,
        }
    finally:
        for proc in reversed(procs):
            tl.stop_agent(proc)
        dockerd.stop()
    print(json.dumps({k: v for k, v in result.items() if k != "samples"},
                     indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    ok = result["errors"] == 0 and all(
        d.get("verdict") == "flat" for d in result["daemons"].values())
    print("SOAK %s: %d calls, %d errors, %d late; %s" % (
        "PASS" if ok else "FAIL", result["calls_total"], result["errors"],
        result["late"], ", ".join("%s %s" % (n, d.get("verdict"))
                                  for n, d in result["daemons"].items())))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
