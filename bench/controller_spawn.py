#!/usr/bin/python3
"""Spawn benchmark: novadock-controller -> novadock-agent vs the raw Docker API.

In one run, on one private dockerd and the same offline busybox image, it
creates and starts N containers (`sleep 3600`, NetworkMode none, 64 MiB)
through the controller's Spawn (placed by the controller onto its one
agent), straight into the agent's CreateInstance, and straight into the
Docker Engine API, sequentially and with 32 concurrent callers, deleting
everything between phases (untimed). It reports latency, throughput, their
ratios to raw Docker, and the controller's and the agent's CPU time per
spawn and RSS. See bench/README.md.

  /usr/bin/python3 bench/controller_spawn.py \
      --controller-binary BUILD/controller/novadock-controller \
      --agent-binary BUILD/agent/novadock-agent

The phase runner, the raw and agent paths and the /proc readings are
bench/agent_spawn.py's (imported, not copied); dockerd, the image, the agent
and the controller come from tests/py/novadock_testlib.py.
"""

import datetime
import importlib
import json
import os
import platform
import sys
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "tests", "py"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import grpc  # noqa: E402

import agent_spawn as base  # noqa: E402  (bench/agent_spawn.py)
import novadock_testlib as testlib  # noqa: E402

CONTROLLER_PROTO = "novadock/v1/controller.proto"
# raw first: the others compare to it. "agent" (direct) separates the
# controller's share from the agent's.
PATHS = ("raw", "agent", "controller")
NODE_NAME = base.NODE_NAME


def controller_stubs(ns):
    """Adds controller_pb2 and controller_pb2_grpc to testlib.stubs()'s
    namespace `ns` (generated into their own cache dir; novadock.v1 is a
    namespace package, so the new dir on sys.path extends it)."""
    testlib.generate_stubs(testlib.PROTO_ROOT, (CONTROLLER_PROTO,))
    importlib.invalidate_caches()
    ns.controller_pb2 = importlib.import_module("novadock.v1.controller_pb2")
    ns.controller_pb2_grpc = importlib.import_module(
        "novadock.v1.controller_pb2_grpc")
    return ns


class ControllerPath:
    """novadock.v1.Controller/Spawn without a node (the controller places
    it) over one shared channel; the controller then asks every node for
    the uuid (GetInstance), reserves capacity and calls the agent's
    CreateInstance."""
    name = "controller"

    def __init__(self, env):
        self.pb = env.stubs
        self.stub = self.pb.controller_pb2_grpc.ControllerStub(
            env.controller_channel)
        self.image = env.image

    def worker(self):
        types_pb2, agent_pb2 = self.pb.types_pb2, self.pb.agent_pb2
        controller_pb2 = self.pb.controller_pb2

        def spawn(i):
            req = controller_pb2.SpawnRequest(
                instance=agent_pb2.CreateInstanceRequest(
                    uuid=str(uuid.uuid4()), name="instance-%08x" % i,
                    image=types_pb2.ImageRef(name=self.image),
                    flavor=types_pb2.Flavor(name="m1.bench",
                                            memory_mb=base.MEMORY_MB,
                                            vcpus=1),
                    command=base.COMMAND))
            inst = self.stub.Spawn(req, timeout=base.CALL_TIMEOUT_S)
            if inst.power_state != types_pb2.POWER_STATE_RUNNING:
                raise RuntimeError("instance %s is %s" % (inst.uuid,
                                                          inst.docker_state))

        spawn.close = lambda: None
        return spawn


def wait_node_idle(env, timeout):
    """Waits until the controller sees NODE_NAME ACTIVE with no instances
    and no reservations: its usage is refreshed by the periodic check, so
    after a phase's containers are removed this takes up to one
    --check_interval_seconds. Untimed. Returns the NodeStatus."""
    pb = env.stubs.controller_pb2
    stub = env.stubs.controller_pb2_grpc.ControllerStub(env.controller_channel)
    deadline = time.monotonic() + timeout
    while True:
        node = stub.GetNode(pb.NodeNameRequest(name=NODE_NAME), timeout=10)
        if node.state == pb.NODE_STATE_ACTIVE and node.usage.instances == 0 \
                and node.reserved.instances == 0:
            return node
        if time.monotonic() > deadline:
            raise RuntimeError("controller's view of %s not idle after %.0f s:"
                               "\n%s" % (NODE_NAME, timeout, node))
        time.sleep(0.1)


def main():
    def check_interval(parser):
        parser.add_argument("--check-interval", type=int, default=10,
                            help="controller --check_interval_seconds "
                            "(default 10, the controller's own default)")
    args, concurrencies = base.parse_run_args(
        __doc__, ("controller", "agent"), 40, "1,32", 4, extra=check_interval)
    if args.check_interval < 1:
        raise SystemExit("--check-interval must be >= 1")

    run_start = time.monotonic()
    run_date = datetime.datetime.now().astimezone().isoformat(
        timespec="seconds")
    env = type("Env", (), {})()
    env.stubs = controller_stubs(testlib.stubs())
    agent = controller = None
    env.channel = env.controller_channel = None
    with testlib.PrivateDockerd() as dockerd:
        env.sock, env.host, env.api = dockerd.sock, dockerd.host, dockerd.api
        env.image = testlib.import_busybox_image(dockerd.sock, api=dockerd.api)
        _, version = testlib.docker_request(dockerd.sock, "GET",
                                            env.api + "/version")
        docker_version = json.loads(version).get("Version", "?")
        try:
            # Slots: the controller's usage lags removals by up to one check.
            agent, agent_port = testlib.start_agent(
                args.agent_binary, dockerd.host, NODE_NAME,
                extra_args=["--max_instances=%d" % max(100, 4 * args.n)])
            controller, controller_port = testlib.start_controller(
                args.controller_binary, {NODE_NAME: agent_port},
                extra_args=["--check_interval_seconds=%d" %
                            args.check_interval])
            env.channel = grpc.insecure_channel("127.0.0.1:%d" % agent_port)
            env.controller_channel = grpc.insecure_channel(
                "127.0.0.1:%d" % controller_port)
            grpc.channel_ready_future(env.channel).result(timeout=10)
            grpc.channel_ready_future(env.controller_channel).result(
                timeout=10)
            idle_wait = args.check_interval + 10
            node = wait_node_idle(env, idle_wait)
            time.sleep(1.0)  # Let both settle before the idle readings.
            idle = {}
            for who, pid in (("controller", controller.pid),
                             ("agent", agent.pid)):
                idle[who] = {k: base.status_kb(pid, k)
                             for k in ("VmRSS", "RssAnon", "RssFile")}
            paths = {p.name: p for p in (base.RawApiPath(env),
                                         base.AgentPath(env),
                                         ControllerPath(env))}
            for p in PATHS:  # Warm-up: connections, caches, image lookups.
                if args.warmup:
                    base.run_phase(paths[p], args.warmup, 1)
            base.remove_all(env)

            samplers = {"controller": base.RssSampler(controller.pid),
                        "agent": base.RssSampler(agent.pid)}
            for s in samplers.values():
                s.start()
            # cpu[path][process] seconds over that path's timed phases.
            procs = {"controller": controller.pid, "agent": agent.pid,
                     "dockerd": dockerd.pid(),
                     "containerd": base.containerd_pid(dockerd)}
            cpu = {p: {who: 0.0 for who in procs} for p in PATHS}
            created = {p: 0 for p in PATHS}
            samples = {}  # (path, c) -> [latencies, wall seconds]
            for rnd in range(args.rounds):
                order = PATHS if rnd % 2 == 0 else tuple(reversed(PATHS))
                for c in concurrencies:
                    for p in order:
                        if p == "controller":
                            wait_node_idle(env, idle_wait)
                        base.settle([pid for pid in procs.values() if pid])
                        before = {w: base.cpu_seconds(pid) if pid else 0.0
                                  for w, pid in procs.items()}
                        lat, wall = base.run_phase(paths[p], args.n, c)
                        for w, pid in procs.items():
                            if pid:
                                cpu[p][w] += base.cpu_seconds(pid) - before[w]
                        created[p] += len(lat)
                        entry = samples.setdefault((p, c), [[], 0.0])
                        entry[0].extend(lat)
                        entry[1] += wall
                        removed = base.remove_all(env)
                        if removed != args.n:
                            raise RuntimeError(
                                "%s x%d: %d containers, want %d" %
                                (p, c, removed, args.n))
            for s in samplers.values():
                s.stop()
            vmhwm = {"controller": base.status_kb(controller.pid, "VmHWM"),
                     "agent": base.status_kb(agent.pid, "VmHWM")}
            after_rss = {"controller": base.status_kb(controller.pid,
                                                      "VmRSS"),
                         "agent": base.status_kb(agent.pid, "VmRSS")}
        finally:
            for ch in (env.channel, env.controller_channel):
                if ch is not None:
                    ch.close()
            rcs = {}
            if controller is not None:
                rcs["novadock-controller"] = testlib.stop_controller(controller)
            if agent is not None:
                rcs["novadock-agent"] = testlib.stop_agent(agent)
    for name, rc in rcs.items():
        if rc != 0:
            print("warning: %s exited with %s" % (name, rc), file=sys.stderr)

    results = []
    for c in concurrencies:
        for p in PATHS:
            lat, wall = samples[(p, c)]
            lat.sort()
            results.append({
                "path": p, "concurrency": c, "n": len(lat),
                "p50_ms": base.percentile(lat, 0.5) * 1e3,
                "p95_ms": base.percentile(lat, 0.95) * 1e3,
                "throughput_per_s": len(lat) / wall,
                "wall_s": wall})
    raw = {r["concurrency"]: r for r in results if r["path"] == "raw"}
    for r in results:
        b = raw[r["concurrency"]]
        r["p50_ratio_to_raw"] = r["p50_ms"] / b["p50_ms"]
        r["throughput_ratio_to_raw"] = (r["throughput_per_s"] /
                                        b["throughput_per_s"])

    def per_spawn_ms(path, who):
        return cpu[path][who] * 1e3 / max(created[path], 1)

    processes = {}
    for who in ("controller", "agent"):
        processes[who] = {
            "idle_rss_kb": idle[who]["VmRSS"],
            "idle_rss_anon_kb": idle[who]["RssAnon"],
            "idle_rss_file_kb": idle[who]["RssFile"],
            "peak_rss_kb_sampled": samplers[who].peak_kb,
            "vmhwm_kb": vmhwm[who],
            "end_rss_kb": after_rss[who],
        }
    summary = {
        "date": run_date,
        "host": {"cpus": os.cpu_count(), "kernel": platform.release(),
                 "docker_version": docker_version,
                 "docker_api": env.api.lstrip("/v"),
                 "node_vcpus": node.capacity.vcpus},
        "n": args.n, "rounds": args.rounds, "concurrency": concurrencies,
        "check_interval_seconds": args.check_interval,
        "results": results,
        "processes": processes,
        "spawns": created,
        # CPU seconds of each process over each path's timed phases.
        "cpu_s": cpu,
        "cpu_ms_per_spawn": {
            "controller_path": {
                "controller": per_spawn_ms("controller", "controller"),
                "agent": per_spawn_ms("controller", "agent"),
                "total": per_spawn_ms("controller", "controller") +
                per_spawn_ms("controller", "agent")},
            "agent_path": {"agent": per_spawn_ms("agent", "agent")},
        },
        "dockerd_cpu_ms_per_container": {
            p: per_spawn_ms(p, "dockerd") for p in PATHS},
        "containerd_cpu_ms_per_container": {
            p: per_spawn_ms(p, "containerd") for p in PATHS},
        "clk_tck": base.CLK_TCK,
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
        r = by[("controller", c)]
        out.append({"target": "controller p50 within 5%% of raw, x%d" % c,
                    "value": "%.2fx" % r["p50_ratio_to_raw"],
                    "met": r["p50_ratio_to_raw"] <= 1.05})
    top = max(s["concurrency"])
    r = by[("controller", top)]
    out.append({"target": "controller throughput >= 0.97x raw, x%d" % top,
                "value": "%.2fx" % r["throughput_ratio_to_raw"],
                "met": r["throughput_ratio_to_raw"] >= 0.97})
    total = s["cpu_ms_per_spawn"]["controller_path"]["total"]
    out.append({"target": "controller + agent CPU <= 3 ms/spawn",
                "value": "%.2f ms" % total, "met": total <= 3.0})
    return out


def print_report(s):
    h = s["host"]
    print("novadock controller spawn benchmark %s: %d cpus, kernel %s, "
          "docker %s (API %s)" % (s["date"], h["cpus"], h["kernel"],
                                  h["docker_version"], h["docker_api"]))
    print("N=%d per phase, %d round(s); create+start `%s`, NetworkMode none, "
          "%d MiB; controller checks every %d s\n" % (
              s["n"], s["rounds"], " ".join(base.COMMAND), base.MEMORY_MB,
              s["check_interval_seconds"]))
    print("%-10s %5s %9s %9s %10s %9s %9s" % (
        "path", "conc", "p50 ms", "p95 ms", "thru/s", "p50/raw", "thru/raw"))
    for r in sorted(s["results"], key=lambda r: (r["concurrency"],
                                                 PATHS.index(r["path"]))):
        print("%-10s %5d %9.1f %9.1f %10.1f %9.2f %9.2f" % (
            r["path"], r["concurrency"], r["p50_ms"], r["p95_ms"],
            r["throughput_per_s"], r["p50_ratio_to_raw"],
            r["throughput_ratio_to_raw"]))
    print()
    for who in ("controller", "agent"):
        a = s["processes"][who]
        print("%s RSS: idle %.1f MB (anon %.1f MB, file-backed %.1f MB), "
              "peak %.1f MB sampled (VmHWM %.1f MB), at end %.1f MB" % (
                  who, a["idle_rss_kb"] / 1024, a["idle_rss_anon_kb"] / 1024,
                  a["idle_rss_file_kb"] / 1024,
                  a["peak_rss_kb_sampled"] / 1024, a["vmhwm_kb"] / 1024,
                  a["end_rss_kb"] / 1024))
    cp = s["cpu_ms_per_spawn"]["controller_path"]
    n = s["spawns"]["controller"]
    print("CPU per spawn through the controller: controller %.2f ms + agent "
          "%.2f ms = %.2f ms (%.2f + %.2f s over %d spawns)" % (
              cp["controller"], cp["agent"], cp["total"],
              s["cpu_s"]["controller"]["controller"],
              s["cpu_s"]["controller"]["agent"], n))
    print("CPU per spawn straight into the agent: agent %.2f ms "
          "(%d spawns); controller while idle: %.2f s over the raw and "
          "agent phases" % (
              s["cpu_ms_per_spawn"]["agent_path"]["agent"],
              s["spawns"]["agent"],
              s["cpu_s"]["raw"]["controller"] +
              s["cpu_s"]["agent"]["controller"]))
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
