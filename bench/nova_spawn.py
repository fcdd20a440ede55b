#!/usr/bin/python3
"""Spawn benchmark: Nova's driver call (nova.virt.novadock spawn()) vs the raw
Docker API.

In one run, on one private dockerd and the same offline busybox image, it
creates and starts N containers (`sleep 3600`, 64 MiB) through:

- nova: NovaDockDriver.spawn() with real Nova objects, inside nova-compute's
  world (nova.monkey_patch first, the driver loaded by Nova's own
  load_compute_driver, every gRPC call through eventlet.tpool), which calls
  the controller's Spawn, which places the instance and calls the agent's
  CreateInstance. With the shim's defaults: a config drive is built and
  mounted into every instance;
- raw: POST /containers/create + /start on dockerd's socket (the same
  request bench/agent_spawn.py's raw path makes);

sequentially and with 8 concurrent callers (green threads, as
nova-compute's), deleting everything between phases (untimed). It reports
p50/p90 latency per path and the nova/raw ratio. Target (issue [4/7]):
nova p50 within 10% of raw Docker's, Python overhead included.

  /usr/bin/python3 bench/nova_spawn.py \
      --controller-binary BUILD/controller/novadock-controller \
      --agent-binary BUILD/agent/novadock-agent

The phase runner and the raw path are bench/agent_spawn.py's (imported);
dockerd, the image, the agent, the controller and the shim's install come
from tests/py/novadock_testlib.py.
"""

import nova.monkey_patch  # noqa: F401  (first, as in nova-compute)

import datetime  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "py"))
sys.path.insert(0, HERE)

import agent_spawn as base  # noqa: E402  (bench/agent_spawn.py)
import novadock_testlib as testlib  # noqa: E402

import nova.conf  # noqa: E402
from nova import context as nova_context  # noqa: E402
from nova import objects  # noqa: E402
from nova.tests.unit import fake_instance  # noqa: E402
from nova.virt import driver as virt_driver  # noqa: E402
from oslo_utils import uuidutils  # noqa: E402

CONF = nova.conf.CONF
PATHS = ("raw", "nova")
NODE_NAME = base.NODE_NAME
DRIVER = "novadock.driver.NovaDockDriver"


class NovaPath:
    """NovaDockDriver.spawn() with a fresh Nova Instance per call."""
    name = "nova"

    def __init__(self, env):
        self.driver, self.ctx = env.driver, env.ctx
        self.image_meta = objects.ImageMeta.from_dict({
            "id": uuidutils.generate_uuid(), "name": env.image,
            "container_format": "docker", "disk_format": "raw",
            "properties": {}})
        self.flavor = objects.Flavor(
            id=1, name="m1.bench", memory_mb=base.MEMORY_MB, vcpus=1,
            root_gb=0, ephemeral_gb=0, flavorid="b1", swap=0,
            rxtx_factor=1.0, vcpu_weight=1, disabled=False, is_public=True,
            extra_specs={}, projects=[])

    def worker(self):
        def spawn(i):
            inst = fake_instance.fake_instance_obj(
                self.ctx, id=i + 1, uuid=uuidutils.generate_uuid(),
                node=NODE_NAME, host="bench", flavor=self.flavor,
                hostname="bench-%d" % i)
            inst.metadata = {"novadock_command": " ".join(base.COMMAND)}
            inst.system_metadata = {}
            self.driver.spawn(self.ctx, inst, self.image_meta, [], None, {})

        spawn.close = lambda: None
        return spawn


def wait_node_idle(driver, timeout):
    """Until the controller's usage of the node shows no instances (its
    check lags removals by up to one interval)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        res = driver.get_available_resource(NODE_NAME)
        if res["memory_mb_used"] <= CONF.novadock.reserved_host_memory_mb:
            return
        time.sleep(0.2)
    raise RuntimeError("node not idle within %ss" % timeout)


def main():
    args, concurrencies = base.parse_run_args(
        __doc__, ("controller", "agent"), 30, "1,8", 2)

    run_date = datetime.datetime.now().astimezone().isoformat(
        timespec="seconds")
    env = type("Env", (), {})()
    agent = controller = driver = None
    shim_dir = tempfile.mkdtemp(prefix="ndshim.", dir="/tmp")
    samples = {}
    with testlib.PrivateDockerd() as dockerd:
        env.sock, env.api = dockerd.sock, dockerd.api
        env.image = testlib.import_busybox_image(dockerd.sock, api=dockerd.api)
        try:
            agent, agent_port = testlib.start_agent(
                args.agent_binary, dockerd.host, NODE_NAME,
                extra_args=["--max_instances=%d" % max(100, 4 * args.n)])
            controller, controller_port = testlib.start_controller(
                args.controller_binary, {NODE_NAME: agent_port},
                extra_args=["--check_interval_seconds=1"])
            testlib.build_nova_shim(shim_dir, python=sys.executable)
            CONF([], project="nova", default_config_files=[])
            objects.register_all()
            from nova.virt.novadock import conf as nd_conf
            nd_conf.register_opts(CONF)
            CONF.set_override("controller_address",
                              "127.0.0.1:%d" % controller_port, "novadock")
            CONF.set_override("reserved_host_memory_mb", 0, "novadock")
            driver = virt_driver.load_compute_driver(None, DRIVER)
            driver.init_host("bench")
            env.driver = driver
            env.ctx = nova_context.RequestContext(user_id="u",
                                                  project_id="p")
            wait_node_idle(driver, 20)
            paths = {"raw": base.RawApiPath(env), "nova": NovaPath(env)}
            for p in PATHS:
                if args.warmup:
                    base.run_phase(paths[p], args.warmup, 1)
            base.remove_all(env)
            wait_node_idle(driver, 20)
            for rnd in range(args.rounds):
                order = PATHS if rnd % 2 == 0 else tuple(reversed(PATHS))
                for c in concurrencies:
                    for p in order:
                        lat, wall = base.run_phase(paths[p], args.n, c)
                        key = (p, c)
                        acc = samples.setdefault(key, [[], 0.0])
                        acc[0].extend(lat)
                        acc[1] += wall
                        base.remove_all(env)
                        # Removing bypassed the controller: wait until its
                        # usage shows the node empty again.
                        wait_node_idle(driver, 20)
                        base.settle([dockerd.pid(),
                                     base.containerd_pid(dockerd)])
        finally:
            if driver is not None:
                driver.cleanup_host("bench")
            for proc in (controller, agent):
                if proc is not None:
                    testlib.stop_agent(proc)
            shutil.rmtree(shim_dir, ignore_errors=True)

    results = {"date": run_date, "machine": platform.machine(),
               "n": args.n, "rounds": args.rounds, "phases": []}
    print("bench/nova_spawn: %d spawns per phase x %d rounds, %s" %
          (args.n, args.rounds, run_date))
    print("%-6s %4s %9s %9s %9s %8s" % ("path", "c", "p50 ms", "p90 ms",
                                         "per s", "p50/raw"))
    for c in concurrencies:
        raw = sorted(samples[("raw", c)][0])
        raw_p50 = base.percentile(raw, 0.5)
        for p in PATHS:
            lat, wall = samples[(p, c)]
            lat = sorted(lat)
            p50, p90 = base.percentile(lat, 0.5), base.percentile(lat, 0.9)
            phase = {"path": p, "concurrency": c, "p50_ms": p50 * 1e3,
                     "p90_ms": p90 * 1e3, "per_s": len(lat) / wall,
                     "p50_ratio_to_raw": p50 / raw_p50}
            results["phases"].append(phase)
            print("%-6s %4d %9.1f %9.1f %9.1f %7.2fx" % (
                p, c, phase["p50_ms"], phase["p90_ms"], phase["per_s"],
                phase["p50_ratio_to_raw"]))
    worst = max(ph["p50_ratio_to_raw"] for ph in results["phases"]
                if ph["path"] == "nova")
    verdict = "MET" if worst <= 1.10 else "MISSED"
    print("target nova p50 <= 1.10x raw at every concurrency: %s "
          "(worst %.2fx)" % (verdict, worst))
    results["target"] = {"max_p50_ratio": 1.10, "worst": worst,
                         "verdict": verdict}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
