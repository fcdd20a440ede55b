#!/usr/bin/python3
"""Proof under faults: the whole path controller -> agents -> dockerd while
processes die (issue "Proof under faults and bad input", parts 1 and 2).

Two private dockerds, one agent on each (nodes compute-docker-f1/f2), one
controller, all real processes on loopback. Each phase drives a storm of
calls from 8 concurrent callers through the controller's gRPC API and, in
turn, SIGKILLs one agent, the controller and one dockerd, restarting each
where its clients expect it. Every caller retries a failed call with the
same uuid until it is acknowledged (Spawn and Destroy are idempotent by
uuid). Afterwards, on the raw Docker API of both dockerds:

  * every acknowledged Spawn exists exactly once (one container, one node);
  * every acknowledged Destroy is gone;
  * no container lacks the contract's labels;
  * the controller's node usage equals the sum of its instances after a
    check, and nothing stays reserved;
  * events resume (PollEvents and WatchEvents deliver new events from
    every node).

Then: a container left by an interrupted create (never started) is reported
by ListInstances as an orphan and removed by the agent's reaper after its
grace period; and an agent stopped with SIGSTOP neither slows calls to the
other node beyond their deadline nor stays ACTIVE, and comes back ACTIVE
after SIGCONT.

Binaries from NOVADOCK_AGENT_BINARY / NOVADOCK_CONTROLLER_BINARY. Run with
/usr/bin/python3 (python3-grpcio). NOVADOCK_FAULTS_INSTANCES changes the
storm size (default 50).
"""

import collections
import json
import os
import queue
import shutil
import signal
import sys
import tempfile
import threading
import time
import unittest
import uuid as uuidlib

import grpc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "py"))
import novadock_testlib as tl  # noqa: E402

NODES = ("compute-docker-f1", "compute-docker-f2")
INSTANCES = int(os.environ.get("NOVADOCK_FAULTS_INSTANCES", "50"))
CALLERS = 8
STORM_DEADLINE_S = 240  # Bound of one storm, retries included.
MEMORY_MB = 32
REQUIRED_LABELS = ("org.openstack.nova.instance-uuid",
                   "org.openstack.nova.instance-name", "io.novadock.node",
                   "io.novadock.image", "io.novadock.flavor",
                   "io.novadock.created-by")
# The agent's orphan reaper, short for the test (docs/agent.md).
ORPHAN_GRACE_S = 4
AGENT_ARGS = ["--grace_period_seconds=1",
              "--orphan_grace_seconds=%d" % ORPHAN_GRACE_S,
              "--orphan_check_interval_seconds=1"]
CONTROLLER_ARGS = ["--check_interval_seconds=1", "--failure_threshold=2"]
CHANNEL_OPTIONS = [("grpc.initial_reconnect_backoff_ms", 100),
                   ("grpc.min_reconnect_backoff_ms", 100),
                   ("grpc.max_reconnect_backoff_ms", 500)]


def log(*args):
    print("[faults %7.2f]" % (time.monotonic() - _T0), *args,
          file=sys.stderr, flush=True)


_T0 = time.monotonic()


class Cluster(object):
    """Two dockerds, two agents, one controller; each restartable in place."""

    def __init__(self):
        self.agent_binary = os.environ["NOVADOCK_AGENT_BINARY"]
        self.controller_binary = os.environ["NOVADOCK_CONTROLLER_BINARY"]
        self.s = tl.stubs()
        self.dockerds = {}
        self.agents = {}
        self.agent_ports = {}
        self.controller = None
        self.controller_port = None
        # Agents' logs and image dirs; kept with NOVADOCK_KEEP_LOGS.
        self.dir = tempfile.mkdtemp(prefix="ndf.", dir="/tmp")

    def start(self):
        for node in NODES:
            d = tl.PrivateDockerd()
            self.dockerds[node] = d
            d.start()
            tl.import_busybox_image(d.sock)
        for node in NODES:
            self.start_agent(node)
        self.start_controller()

    def start_agent(self, node):
        proc, port = tl.start_agent(
            self.agent_binary, self.dockerds[node].host, node,
            extra_args=AGENT_ARGS, port=self.agent_ports.get(node, 0),
            work_dir=os.path.join(self.dir, node))
        self.agents[node] = proc
        self.agent_ports[node] = port

    def start_controller(self):
        proc, port = tl.start_controller(
            self.controller_binary, self.agent_ports,
            extra_args=CONTROLLER_ARGS, port=self.controller_port or 0)
        self.controller = proc
        self.controller_port = port

    def stop(self):
        procs = [self.controller] + list(self.agents.values())
        for proc in procs:
            if proc is not None:
                if proc.poll() is None:
                    os.kill(proc.pid, signal.SIGCONT)
                tl.stop_agent(proc)
        for d in self.dockerds.values():
            d.stop()
        if os.environ.get("NOVADOCK_KEEP_LOGS"):
            log("logs kept in", self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    # -- faults

    def kill_agent(self, node):
        proc = self.agents[node]
        proc.kill()
        proc.wait(10)
        tl.stop_agent(proc)  # Removes its work dir.

    def kill_controller(self):
        self.controller.kill()
        self.controller.wait(10)
        tl.stop_agent(self.controller)

    # -- clients

    def channel(self):
        return grpc.insecure_channel("127.0.0.1:%d" % self.controller_port,
                                     options=CHANNEL_OPTIONS)

    def controller_stub(self, channel):
        return self.s.controller_pb2_grpc.ControllerStub(channel)

    def agent_stub(self, node):
        ch = grpc.insecure_channel("127.0.0.1:%d" % self.agent_ports[node])
        return ch, self.s.agent_pb2_grpc.AgentStub(ch)

    def containers(self, node):
        """Every container of the node's dockerd (raw Engine API)."""
        d = self.dockerds[node]
        status, data = tl.docker_request(
            d.sock, "GET", d.api + "/containers/json?all=1", timeout=30)
        if status != 200:
            raise RuntimeError("docker ps -a on %s: HTTP %d %r" %
                               (node, status, data[:300]))
        return json.loads(data)

    def spawn_request(self, uuid, index):
        pb = self.s.controller_pb2
        req = pb.SpawnRequest()
        inst = req.instance
        inst.uuid = uuid
        inst.name = "instance-%08x" % index
        inst.image.name = tl.TEST_IMAGE
        inst.flavor.name = "m1.faults"
        inst.flavor.memory_mb = MEMORY_MB
        inst.flavor.vcpus = 1
        inst.command.extend(["sleep", "100000"])
        return req


def new_uuid():
    return str(uuidlib.uuid4())


class Storm(object):
    """CALLERS threads take work from a queue; each item is retried with the
    same uuid until acknowledged or the storm's deadline. `on_ack` runs in
    the caller's thread after each acknowledgement (it may queue more)."""

    def __init__(self, cluster, call, on_ack=None):
        self.cluster = cluster
        self.call = call  # (stub, item) -> result; raises grpc.RpcError.
        self.on_ack = on_ack
        self.work = queue.Queue()
        self.lock = threading.Condition()
        self.acked = collections.OrderedDict()  # item -> result
        self.failures = collections.Counter()  # status code name -> count
        self.failed_items = set()  # Items that failed at least once.
        self.given_up = []
        self.pending = 0

    def add(self, item):
        with self.lock:
            self.pending += 1
        self.work.put(item)

    def acked_count(self):
        with self.lock:
            return len(self.acked)

    def wait_acked(self, n, timeout):
        deadline = time.monotonic() + timeout
        with self.lock:
            while len(self.acked) < n and self.pending > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.lock.wait(left)
            return len(self.acked) >= n

    def _caller(self, deadline):
        channel = self.cluster.channel()
        stub = self.cluster.controller_stub(channel)
        try:
            while True:
                try:
                    item = self.work.get(timeout=0.2)
                except queue.Empty:
                    with self.lock:
                        if self.pending == 0 or time.monotonic() > deadline:
                            return
                    continue
                backoff = 0.1
                while True:
                    try:
                        result = self.call(stub, item)
                    except grpc.RpcError as e:
                        with self.lock:
                            self.failures[e.code().name] += 1
                            self.failed_items.add(item)
                        if time.monotonic() > deadline:
                            with self.lock:
                                self.given_up.append((item, e.code().name,
                                                      e.details()))
                                self.pending -= 1
                                self.lock.notify_all()
                            break
                        time.sleep(backoff)
                        backoff = min(backoff * 2, 1.0)
                        continue
                    with self.lock:
                        self.acked[item] = result
                        self.pending -= 1
                        self.lock.notify_all()
                    if self.on_ack is not None:
                        self.on_ack(item, result)
                    break
        finally:
            channel.close()

    def run(self, faults):
        """Runs the callers and `faults` (a function of this storm, in its
        own thread) until every item is acknowledged or given up."""
        deadline = time.monotonic() + STORM_DEADLINE_S
        threads = [threading.Thread(target=self._caller, args=(deadline,))
                   for _ in range(CALLERS)]
        errors = []

        def fault_thread():
            try:
                faults(self)
            except Exception as e:  # Reported by the test.
                errors.append(e)
        injector = threading.Thread(target=fault_thread)
        for t in threads:
            t.start()
        injector.start()
        injector.join()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]


class FaultsTest(unittest.TestCase):
    cluster = None

    @classmethod
    def setUpClass(cls):
        cls.cluster = Cluster()
        try:
            cls.cluster.start()
            cls.wait_active(cls.cluster, NODES, timeout=30)
        except Exception:
            cls.cluster.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.cluster.stop()

    # ---- helpers

    @staticmethod
    def wait_active(cluster, nodes, timeout):
        pb = cluster.s.controller_pb2
        ch = cluster.channel()
        try:
            stub = cluster.controller_stub(ch)
            deadline = time.monotonic() + timeout
            states = None
            while time.monotonic() < deadline:
                try:
                    listed = stub.ListNodes(pb.ListNodesRequest(), timeout=5)
                    states = {n.name: n for n in listed.nodes}
                    if all(n in states and
                           states[n].state == pb.NODE_STATE_ACTIVE and
                           states[n].capacity.memory_mb > 0 for n in nodes):
                        return states
                except grpc.RpcError:
                    pass
                time.sleep(0.2)
            raise AssertionError("nodes %s not ACTIVE within %ss: %s" %
                                 (nodes, timeout, states))
        finally:
            ch.close()

    def ctl(self):
        ch = self.cluster.channel()
        self.addCleanup(ch.close)
        return self.cluster.controller_stub(ch)

    def all_containers(self):
        """{uuid: [(node, container)]} over both dockerds, and the list of
        containers lacking the contract's labels."""
        by_uuid = collections.defaultdict(list)
        unlabelled = []
        for node in NODES:
            for c in self.cluster.containers(node):
                labels = c.get("Labels") or {}
                name = c["Names"][0].lstrip("/")
                missing = [k for k in REQUIRED_LABELS if not labels.get(k)]
                uuid = labels.get("org.openstack.nova.instance-uuid", "")
                if (missing or name != "nova-" + uuid or
                        labels.get("io.novadock.node") != node):
                    unlabelled.append((node, name, missing, labels))
                    continue
                by_uuid[uuid].append((node, c))
        return by_uuid, unlabelled

    def assert_usage_matches_instances(self, timeout=20):
        """After a check, each node's usage equals the sum of its listed
        instances and nothing is reserved."""
        pb = self.cluster.s.controller_pb2
        stub = self.ctl()
        deadline = time.monotonic() + timeout
        mismatch = None
        while time.monotonic() < deadline:
            listed = stub.ListInstances(pb.ControllerListInstancesRequest(),
                                        timeout=30)
            sums = collections.defaultdict(lambda: [0, 0])
            for inst in listed.instances:
                sums[inst.node][0] += inst.flavor.memory_mb
                sums[inst.node][1] += 1
            nodes = stub.ListNodes(pb.ListNodesRequest(), timeout=10).nodes
            mismatch = []
            for n in nodes:
                want = sums[n.name]
                got = [n.usage.memory_mb, n.usage.instances]
                reserved = [n.reserved.memory_mb, n.reserved.instances]
                if got != want or reserved != [0, 0]:
                    mismatch.append((n.name, "usage", got, "instances", want,
                                     "reserved", reserved))
            if not mismatch and not listed.unreachable_nodes:
                return
            time.sleep(0.5)
        self.fail("node usage != sum of instances (leaked reservations?): "
                  "%s" % mismatch)

    def assert_events_resume(self, uuids_by_node):
        """A PowerOff then PowerOn of one instance per node: PollEvents and a
        WatchEvents stream both deliver that node's events."""
        pb = self.cluster.s.controller_pb2
        types_pb2 = self.cluster.s.types_pb2
        stub = self.ctl()
        cursor = stub.PollEvents(pb.PollEventsRequest(after_sequence=0),
                                 timeout=10).next_sequence
        ch = self.cluster.channel()
        self.addCleanup(ch.close)
        stream = self.cluster.controller_stub(ch).WatchEvents(
            pb.ControllerWatchEventsRequest(after_sequence=cursor),
            timeout=60)
        streamed = []

        def read_stream():
            try:
                for e in stream:
                    streamed.append(e)
            except grpc.RpcError:
                pass
        reader = threading.Thread(target=read_stream)
        reader.start()
        try:
            for node, uuid in uuids_by_node.items():
                req = pb.InstanceCallRequest(uuid=uuid, grace_period_seconds=1)
                stub.PowerOff(req, timeout=60)
                stub.PowerOn(req, timeout=60)
            want = {(uuid, types_pb2.EVENT_TYPE_STARTED)
                    for uuid in uuids_by_node.values()}
            polled = set()
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not want <= polled:
                r = stub.PollEvents(pb.PollEventsRequest(
                    after_sequence=cursor, wait_ms=1000), timeout=10)
                cursor = r.next_sequence
                polled |= {(e.event.uuid, e.event.type) for e in r.events}
            self.assertLessEqual(want, polled, "PollEvents after the faults")
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                if want <= {(e.event.uuid, e.event.type) for e in streamed}:
                    break
                time.sleep(0.1)
            self.assertLessEqual(
                want, {(e.event.uuid, e.event.type) for e in streamed},
                "WatchEvents after the faults")
        finally:
            stream.cancel()
            reader.join(10)

    def report(self, phase, storm, faults_done):
        log("%s: %d acknowledged, failed calls by code %s, %d items failed "
            "at least once; faults: %s" %
            (phase, len(storm.acked), dict(storm.failures),
             len(storm.failed_items), faults_done))

    # ---- the crash matrix

    def crash_in_turn(self, storm, total, agent_node, dockerd_node, done):
        """SIGKILL agent_node's agent, then the controller, then
        dockerd_node's dockerd, each after a share of the storm has been
        acknowledged; each is restarted where its clients expect it."""
        c = self.cluster
        storm.wait_acked(max(total // 8, 1), 120)
        log("SIGKILL agent", agent_node)
        c.kill_agent(agent_node)
        time.sleep(1.5)
        c.start_agent(agent_node)
        done.append("agent %s" % agent_node)
        storm.wait_acked(total * 3 // 8, 120)
        log("SIGKILL controller")
        c.kill_controller()
        time.sleep(0.5)
        c.start_controller()
        done.append("controller")
        storm.wait_acked(total * 5 // 8, 120)
        log("SIGKILL dockerd of", dockerd_node)
        c.dockerds[dockerd_node].crash()
        time.sleep(1.5)
        c.dockerds[dockerd_node].restart()
        done.append("dockerd %s" % dockerd_node)

    def boot_storm(self, total, agent_node, dockerd_node, destroy_every=0):
        """Spawns `total` new uuids; with destroy_every=k, each k-th
        acknowledged instance is then destroyed by the same caller. Returns
        (acked spawn uuids -> node, acked destroy uuids)."""
        c = self.cluster
        index = {}
        destroyed = set()
        dlock = threading.Lock()

        def call(stub, item):
            kind, uuid = item
            if kind == "spawn":
                return stub.Spawn(c.spawn_request(uuid, index[uuid]),
                                  timeout=60).node
            r = stub.Destroy(c.s.controller_pb2.InstanceCallRequest(
                uuid=uuid, grace_period_seconds=1), timeout=60)
            with dlock:
                destroyed.add(uuid)
            return r.existed

        def on_ack(item, result):
            kind, uuid = item
            if kind == "spawn" and destroy_every and \
                    index[uuid] % destroy_every == 0:
                storm.add(("destroy", uuid))

        storm = Storm(c, call, on_ack)
        for i in range(total):
            u = new_uuid()
            index[u] = i + 1
            storm.add(("spawn", u))
        done = []
        t0 = time.monotonic()
        storm.run(lambda s: self.crash_in_turn(s, total, agent_node,
                                               dockerd_node, done))
        self.report("boot storm (%.1f s)" % (time.monotonic() - t0), storm,
                    done)
        self.assertEqual(storm.given_up, [], "calls never acknowledged")
        self.assertEqual(len(done), 3, "not every fault was injected")
        self.assertGreater(sum(storm.failures.values()), 0,
                           "no call failed: the faults hit nothing in flight")
        spawned = {uuid: node for (kind, uuid), node in storm.acked.items()
                   if kind == "spawn"}
        return spawned, destroyed

    def check_invariants(self, spawned, destroyed):
        by_uuid, unlabelled = self.all_containers()
        self.assertEqual(unlabelled, [], "containers without their labels")
        for uuid, node in spawned.items():
            if uuid in destroyed:
                continue
            where = [n for n, _ in by_uuid.get(uuid, [])]
            self.assertEqual(where, [node],
                             "acknowledged %s must exist exactly once, on "
                             "the node Spawn answered" % uuid)
        for uuid in destroyed:
            self.assertNotIn(uuid, by_uuid, "destroy of %s acknowledged, "
                             "container still there" % uuid)
        unknown = set(by_uuid) - set(spawned)
        self.assertEqual(unknown, set(), "containers nobody spawned")
        # Nothing an acknowledged create left behind is an orphan.
        pb = self.cluster.s.controller_pb2
        listed = self.ctl().ListInstances(
            pb.ControllerListInstancesRequest(), timeout=30)
        self.assertEqual(list(listed.unreachable_nodes), [])
        self.assertEqual([i.uuid for i in listed.instances if i.orphan], [])
        self.assertEqual(sorted(i.uuid for i in listed.instances),
                         sorted(set(spawned) - destroyed))

    def test_1_boot_storm_under_crashes(self):
        t0 = time.monotonic()
        spawned, destroyed = self.boot_storm(
            INSTANCES, agent_node=NODES[0], dockerd_node=NODES[1],
            destroy_every=5)
        self.wait_active(self.cluster, NODES, timeout=30)
        self.check_invariants(spawned, destroyed)
        self.assert_usage_matches_instances()
        alive = {}
        for uuid, node in spawned.items():
            if uuid not in destroyed:
                alive.setdefault(node, uuid)
        self.assertEqual(sorted(alive), sorted(NODES),
                         "the storm should have used both nodes")
        self.assert_events_resume(alive)
        FaultsTest.survivors = {u: n for u, n in spawned.items()
                                if u not in destroyed}
        log("boot storm phase: %.1f s" % (time.monotonic() - t0))

    def test_2_destroy_storm_under_crashes(self):
        t0 = time.monotonic()
        c = self.cluster
        pb = c.s.controller_pb2
        # The boot storm's survivors; alone (-k) or after its failure, what
        # is there.
        survivors = dict(getattr(FaultsTest, "survivors", {}))
        if not survivors:
            by_uuid, _ = self.all_containers()
            survivors = {u: where[0][0] for u, where in by_uuid.items()}
        stub = self.ctl()
        index = 1000
        while len(survivors) < INSTANCES:  # Alone (-k) or after a failure.
            u = new_uuid()
            index += 1
            survivors[u] = stub.Spawn(c.spawn_request(u, index),
                                      timeout=60).node

        def call(stub, uuid):
            return stub.Destroy(pb.InstanceCallRequest(
                uuid=uuid, grace_period_seconds=1), timeout=60).existed

        storm = Storm(c, call)
        for u in survivors:
            storm.add(u)
        done = []
        storm.run(lambda s: self.crash_in_turn(
            s, len(survivors), agent_node=NODES[1], dockerd_node=NODES[0],
            done=done))
        self.report("destroy storm", storm, done)
        self.assertEqual(storm.given_up, [])
        self.assertEqual(len(done), 3)
        self.assertGreater(sum(storm.failures.values()), 0)
        self.wait_active(c, NODES, timeout=30)
        self.check_invariants(survivors, set(survivors))
        self.assert_usage_matches_instances()
        # Events resume: a fresh instance on each node.
        fresh = {}
        for node in NODES:
            u = new_uuid()
            req = c.spawn_request(u, 5000 + len(fresh))
            req.node = node
            stub.Spawn(req, timeout=60)
            fresh[node] = u
        self.assert_events_resume(fresh)
        for u in fresh.values():
            stub.Destroy(pb.InstanceCallRequest(uuid=u, grace_period_seconds=1),
                         timeout=60)
        log("destroy storm phase: %.1f s" % (time.monotonic() - t0))

    # ---- orphans

    def make_orphan(self, node, uuid):
        """The state a create interrupted between Docker's create and start
        leaves (agent or dockerd killed in between): nova-<uuid> with every
        label, asked to start, never started. Made through the raw Docker
        API, since the moment of the kill cannot be chosen."""
        d = self.cluster.dockerds[node]
        labels = {"org.openstack.nova.instance-uuid": uuid,
                  "org.openstack.nova.instance-name": "instance-orphan",
                  "io.novadock.node": node,
                  "io.novadock.image": tl.TEST_IMAGE,
                  "io.novadock.flavor": "m1.faults",
                  "io.novadock.created-by": "novadock-agent",
                  "io.novadock.memory-mb": str(MEMORY_MB),
                  "io.novadock.vcpus": "1", "io.novadock.disk-gb": "0",
                  "io.novadock.start-on-create": "true"}
        status, data = tl.docker_request(
            d.sock, "POST", d.api + "/containers/create?name=nova-" + uuid,
            body={"Image": tl.TEST_IMAGE, "Cmd": ["sleep", "100000"],
                  "Labels": labels, "HostConfig": {"NetworkMode": "none"}})
        self.assertEqual(status, 201, data)

    def listed(self, uuid):
        pb = self.cluster.s.controller_pb2
        for inst in self.ctl().ListInstances(
                pb.ControllerListInstancesRequest(), timeout=30).instances:
            if inst.uuid == uuid:
                return inst
        return None

    def test_3_orphans_reported_then_reaped(self):
        t0 = time.monotonic()
        c = self.cluster
        pb = c.s.controller_pb2
        stub = self.ctl()
        orphan, retried, stopped = new_uuid(), new_uuid(), new_uuid()
        node = NODES[0]
        self.make_orphan(node, orphan)
        self.make_orphan(node, retried)
        # A create asked not to start is no orphan, however old.
        req = c.spawn_request(stopped, 7001)
        req.node = node
        req.instance.no_start = True
        stub.Spawn(req, timeout=60)
        # Reported, never silently: ListInstances shows both as orphans.
        for u in (orphan, retried):
            inst = self.listed(u)
            self.assertIsNotNone(inst, u)
            self.assertTrue(inst.orphan, inst)
            self.assertEqual(inst.docker_state, "created")
        self.assertFalse(self.listed(stopped).orphan)
        # The caller of `retried` retries its create within the grace
        # period: the agent starts the container; it is no orphan any more.
        req = c.spawn_request(retried, 7002)
        inst = stub.Spawn(req, timeout=60)
        self.assertEqual(inst.node, node)
        self.assertEqual(inst.docker_state, "running")
        self.assertFalse(inst.orphan)
        # After the grace period the reaper removes the orphan only.
        deadline = time.monotonic() + ORPHAN_GRACE_S + 15
        while time.monotonic() < deadline and self.listed(orphan) is not None:
            time.sleep(0.5)
        by_uuid, _ = self.all_containers()
        self.assertNotIn(orphan, by_uuid, "orphan not reaped")
        self.assertIn(retried, by_uuid)
        self.assertIn(stopped, by_uuid)
        with open(c.agents[node].novadock_log, errors="replace") as f:
            text = f.read()
        self.assertIn("reaped orphan instance " + orphan, text)
        self.assertNotIn("reaped orphan instance " + retried, text)
        for u in (retried, stopped):
            stub.Destroy(pb.InstanceCallRequest(uuid=u, grace_period_seconds=1),
                         timeout=60)
        log("orphan phase: %.1f s" % (time.monotonic() - t0))

    # ---- an agent that stops answering

    def test_4_sigstopped_agent(self):
        t0 = time.monotonic()
        c = self.cluster
        pb = c.s.controller_pb2
        stub = self.ctl()
        hung, healthy = NODES
        self.wait_active(c, NODES, timeout=30)
        keep = {}
        for node in NODES:
            u = new_uuid()
            req = c.spawn_request(u, 8000 + len(keep))
            req.node = node
            stub.Spawn(req, timeout=60)
            keep[node] = u
        c.agents[hung].send_signal(signal.SIGSTOP)
        try:
            # Calls that need only the healthy node finish well within a
            # caller's deadline while the hung node's checks time out.
            deadline_s = 10
            slowest = collections.defaultdict(float)  # call -> seconds
            rounds = 0
            state = None
            listed = None

            def timed(name, fn, *args, **kwargs):
                begin = time.monotonic()
                result = fn(*args, **kwargs)
                slowest[name] = max(slowest[name], time.monotonic() - begin)
                return result
            end = time.monotonic() + 60
            while time.monotonic() < end:
                u = new_uuid()
                req = c.spawn_request(u, 8100 + rounds)
                req.node = healthy
                timed("Spawn", stub.Spawn, req, timeout=deadline_s)
                timed("GetInstance", stub.GetInstance,
                      pb.InstanceCallRequest(uuid=keep[healthy]),
                      timeout=deadline_s)
                timed("PowerOff", stub.PowerOff, pb.InstanceCallRequest(
                    uuid=u, grace_period_seconds=1), timeout=deadline_s)
                timed("Destroy", stub.Destroy, pb.InstanceCallRequest(
                    uuid=u, grace_period_seconds=1), timeout=deadline_s)
                # A list over every node answers within its caller's
                # deadline, with the healthy node's instances.
                listed = timed("ListInstances", stub.ListInstances,
                               pb.ControllerListInstancesRequest(), timeout=4)
                self.assertIn(keep[healthy],
                              [i.uuid for i in listed.instances])
                rounds += 1
                nodes = {n.name: n for n in timed(
                    "ListNodes", stub.ListNodes, pb.ListNodesRequest(),
                    timeout=deadline_s).nodes}
                state = nodes[hung].state
                if state == pb.NODE_STATE_FAILED:
                    break
            log("SIGSTOP: %d rounds of calls to %s; slowest (s): %s" % (
                rounds, healthy,
                {k: round(v, 2) for k, v in sorted(slowest.items())}))
            self.assertEqual(state, pb.NODE_STATE_FAILED,
                             "stopped agent not FAILED")
            self.assertIn(hung, listed.unreachable_nodes)
            # Every call answered within its deadline (an exception
            # otherwise); those that need only the healthy node and know
            # where the instance is do not wait for the hung one at all.
            for name in ("GetInstance", "PowerOff", "Destroy", "ListNodes"):
                self.assertLess(slowest[name], 3.0, name)
            # Placement avoids the FAILED node.
            u = new_uuid()
            self.assertEqual(stub.Spawn(c.spawn_request(u, 8999),
                                        timeout=deadline_s).node, healthy)
            stub.Destroy(pb.InstanceCallRequest(uuid=u, grace_period_seconds=1),
                         timeout=deadline_s)
        finally:
            c.agents[hung].send_signal(signal.SIGCONT)
        self.wait_active(c, NODES, timeout=30)
        inst = stub.GetInstance(pb.InstanceCallRequest(uuid=keep[hung]),
                                timeout=30)
        self.assertEqual(inst.node, hung)
        for u in keep.values():
            stub.Destroy(pb.InstanceCallRequest(uuid=u, grace_period_seconds=1),
                         timeout=60)
        log("SIGSTOP phase: %.1f s" % (time.monotonic() - t0))


if __name__ == "__main__":
    unittest.main(verbosity=2)
