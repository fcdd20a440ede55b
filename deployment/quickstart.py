#!/usr/bin/python3
"""The all-in-one demo behind deployment/quickstart.sh (see there).

It uses the dockerd at --docker-host, else the system one if
/var/run/docker.sock answers, else starts a private dockerd of its own.
Everything it starts is stopped again on Ctrl-C, SIGTERM, --check's end or
`quickstart.sh --down`.
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "tests", "py"))
import novadock_testlib as lib  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
STATE_FILE = "/tmp/novadock-quickstart.json"
NODE = "compute-docker-1"
DEMO_REPO, DEMO_TAG = "novadock-demo", "busybox"
BANNER = "novadock demo instance is up"


def say(msg):
    print("novadock-quickstart: " + msg, flush=True)


def down():
    try:
        with open(STATE_FILE) as f:
            state = json.load(f)
    except (OSError, ValueError):
        say("no demo is running")
        return 0
    pid = state.get("pid", 0)
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        say("demo process %d is gone; removing its state" % pid)
        os.unlink(STATE_FILE)
        return 0
    for _ in range(600):
        if not os.path.exists(STATE_FILE):
            say("stopped")
            return 0
        time.sleep(0.1)
    say("demo process %d did not stop within 60 s" % pid)
    return 1


class Demo:
    def __init__(self, args):
        self.args = args
        self.dockerd = None
        self.agent = None
        self.controller = None
        self.image_dir = None
        self.stub = None
        self.ctl = None
        self.uuid = None

    def docker_host(self):
        if self.args.docker_host:
            return self.args.docker_host
        if lib.ping("/var/run/docker.sock"):
            say("using the running dockerd at /var/run/docker.sock")
            return "unix:///var/run/docker.sock"
        say("no dockerd answers: starting a private one")
        self.dockerd = lib.PrivateDockerd()
        self.dockerd.start()
        return self.dockerd.host

    def up(self):
        host = self.docker_host()
        if not host.startswith("unix://"):
            raise SystemExit("--docker-host must be unix:///path for the demo")
        sock = host[len("unix://"):]
        # The demo image as operators ship images to nodes: a docker-save
        # archive in the node's image directory, not (yet) in Docker.
        image = lib.import_busybox_image(sock, repo=DEMO_REPO, tag=DEMO_TAG)
        api = "/v" + lib.docker_api_version(sock)
        status, archive = lib.docker_request(
            sock, "GET", "%s/images/%s/get" % (api, image), timeout=120)
        if status != 200:
            raise SystemExit("docker save %s: HTTP %d" % (image, status))
        self.image_dir = tempfile.mkdtemp(prefix="ndq-images.", dir="/tmp")
        with open(os.path.join(self.image_dir, "demo-busybox.tar"), "wb") as f:
            f.write(archive)
        lib.docker_request(sock, "DELETE",
                           "%s/images/%s?force=1" % (api, image))
        say("demo image %s built offline from busybox-static, saved as %s "
            "and removed from Docker: the agent loads it when Nova boots it" %
            (image, os.path.join(self.image_dir, "demo-busybox.tar")))
        binary = os.environ.get("NOVADOCK_AGENT_BINARY", "build/agent/novadock-agent")
        self.agent, agent_port = lib.start_agent(binary, host, NODE,
                                                 image_dir=self.image_dir)
        self.agent_address = "127.0.0.1:%d" % agent_port
        say("novadock-agent %s listening on %s (log %s)" %
            (NODE, self.agent_address, self.agent.novadock_log))
        controller_binary = os.environ.get(
            "NOVADOCK_CONTROLLER_BINARY", "build/controller/novadock-controller")
        self.controller, port = lib.start_controller(
            controller_binary, {NODE: agent_port},
            extra_args=["--check_interval_seconds=2"])
        self.address = "127.0.0.1:%d" % port
        say("novadock-controller listening on %s over that agent (log %s)" %
            (self.address, self.controller.novadock_log))
        import grpc
        s = lib.stubs()
        self.s = s
        self.stub = s.agent_pb2_grpc.AgentStub(
            grpc.insecure_channel(self.agent_address))
        self.ctl = s.controller_pb2_grpc.ControllerStub(
            grpc.insecure_channel(self.address))
        # Boot through the Nova shim path: nova.virt.novadock loaded by
        # Nova's own driver loader, spawn() with real Nova objects.
        command = ("echo '%s'; i=0; while true; do i=$((i+1)); "
                   "echo tick $i; sleep 5; done" % BANNER)
        boot = subprocess.run(
            ["/usr/bin/python3", os.path.join(HERE, "nova_boot.py"),
             "--controller", self.address, "--node", NODE, "--image", image,
             "--command", command],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, timeout=300, check=False)
        lines = boot.stdout.decode("utf-8", "replace").strip().splitlines()
        for line in lines[:-1]:
            say(line)
        if boot.returncode != 0 or not lines:
            raise SystemExit("boot through the Nova shim failed:\n" +
                             boot.stderr.decode("utf-8", "replace")[-3000:])
        self.uuid = lines[-1].strip()
        inst = self.ctl.GetInstance(
            s.controller_pb2.InstanceCallRequest(uuid=self.uuid), timeout=30)
        say("instance %s runs on node %s as container %s: power state %s" %
            (inst.uuid, inst.node, inst.container_name,
             s.types_pb2.PowerState.Name(inst.power_state)))
        console = b""
        for _ in range(50):
            console = self.stub.GetConsoleOutput(
                s.agent_pb2.GetConsoleOutputRequest(uuid=self.uuid),
                timeout=10).output
            if BANNER.encode() in console:
                break
            time.sleep(0.1)
        say("console output:\n" + console.decode("utf-8", "replace"))
        for node in self.ctl.ListNodes(s.controller_pb2.ListNodesRequest(),
                                       timeout=10).nodes:
            say("node %s (%s): %s, docker %s, %d vcpus, %d MiB, %d/%d "
                "instances" %
                (node.name, node.address,
                 s.controller_pb2.NodeState.Name(node.state),
                 node.docker_version, node.capacity.vcpus,
                 node.capacity.memory_mb, node.usage.instances,
                 node.capacity.instances))
        return BANNER.encode() in console and inst.power_state == \
            s.types_pb2.POWER_STATE_RUNNING

    def explain(self):
        a = self.agent_address
        c = self.address
        print("""
Explore it with grpcurl (server reflection is on). The controller:
  grpcurl -plaintext %(c)s list
  grpcurl -plaintext %(c)s novadock.v1.Controller/ListNodes
  grpcurl -plaintext %(c)s novadock.v1.Controller/ListInstances
  grpcurl -plaintext -d '{"name": "compute-docker-1"}' %(c)s novadock.v1.Controller/DrainNode
  grpcurl -plaintext -d '{"after_sequence": 0, "wait_ms": 10000}' %(c)s novadock.v1.Controller/PollEvents
  grpcurl -plaintext %(c)s novadock.v1.Controller/WatchEvents
The agent of node compute-docker-1:
  grpcurl -plaintext %(a)s list
  grpcurl -plaintext %(a)s describe novadock.v1.Agent
  grpcurl -plaintext %(a)s grpc.health.v1.Health/Check
  grpcurl -plaintext %(a)s novadock.v1.Agent/GetNode
  grpcurl -plaintext %(a)s novadock.v1.Agent/ListInstances
  grpcurl -plaintext -d '{"uuid": "%(u)s"}' %(a)s novadock.v1.Agent/GetConsoleOutput
  grpcurl -plaintext -d '{"uuid": "%(u)s"}' %(a)s novadock.v1.Agent/PauseInstance
  grpcurl -plaintext %(a)s novadock.v1.Agent/WatchEvents
Ctrl-C (or deployment/quickstart.sh --down) stops the demo and removes it.
""" % {"a": a, "c": c, "u": self.uuid}, flush=True)

    def teardown(self):
        if self.ctl is not None and self.uuid is not None:
            try:
                self.ctl.Destroy(self.s.controller_pb2.InstanceCallRequest(
                    uuid=self.uuid, grace_period_seconds=1), timeout=60)
                say("deleted instance %s" % self.uuid)
            except Exception as e:  # Report and carry on cleaning up.
                say("could not delete instance %s: %s" % (self.uuid, e))
        if self.controller is not None:
            lib.stop_agent(self.controller)
            say("stopped novadock-controller")
        if self.agent is not None:
            lib.stop_agent(self.agent)
            say("stopped novadock-agent")
        if self.dockerd is not None:
            self.dockerd.stop()
        if self.image_dir is not None:
            shutil.rmtree(self.image_dir, ignore_errors=True)
            say("stopped the private dockerd")


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--check", action="store_true",
                   help="verify the demo works, tear it down, exit 0/1")
    p.add_argument("--down", action="store_true",
                   help="stop a demo running in another terminal")
    p.add_argument("--docker-host", default=os.environ.get("NOVADOCK_DOCKER_HOST"),
                   help="unix:///path of the dockerd to use")
    args = p.parse_args()
    if args.down:
        return down()
    if os.path.exists(STATE_FILE):
        say("a demo seems to run already (%s); stop it with --down" % STATE_FILE)
        return 1
    demo = Demo(args)
    stop = {"now": False}

    def on_signal(signum, frame):
        stop["now"] = True
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    ok = False
    try:
        with open(STATE_FILE, "w") as f:
            json.dump({"pid": os.getpid()}, f)
        ok = demo.up()
        demo.explain()
        if not args.check:
            while not stop["now"]:
                time.sleep(0.2)
    finally:
        demo.teardown()
        os.unlink(STATE_FILE)
    if args.check:
        say("check %s" % ("passed" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
