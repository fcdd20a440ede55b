"""The Nova shim (nova.virt.novadock) inside Nova's own world, against a real
novadock-controller, a real novadock-agent and a private dockerd.

    /usr/bin/python3 tests/nova_shim_test.py \
        --controller-binary BUILD/novadock-controller \
        --agent-binary BUILD/novadock-agent

Runs under eventlet monkey patching exactly as nova-compute does (nova's
own `import nova.monkey_patch` comes first), loads the driver through
nova.virt.driver.load_compute_driver, and uses real Nova objects. Exit
status is non-zero on any failure; the last line is "N passed, N failed".
Only loopback and unix sockets; the test image is built offline.
"""

import nova.monkey_patch  # noqa: F401  (first, as in nova-compute)

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import unittest  # noqa: E402

import eventlet  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "py"))
import novadock_testlib as tl  # noqa: E402

import nova.conf  # noqa: E402
from nova.compute import power_state  # noqa: E402
from nova.compute import provider_tree  # noqa: E402
from nova.compute import task_states  # noqa: E402
from nova import context as nova_context  # noqa: E402
from nova import exception  # noqa: E402
from nova import objects  # noqa: E402
from nova.tests.unit import fake_instance  # noqa: E402
from nova.virt import driver as virt_driver  # noqa: E402
from nova.virt import event as virtevent  # noqa: E402
from oslo_utils import uuidutils  # noqa: E402

CONF = nova.conf.CONF
NODE = "compute-docker-1"
DRIVER = "novadock.driver.NovaDockDriver"
# PID 1 is a shell that exits on SIGTERM within a second.
QUICK_CMD = ("sh -c \"trap 'exit 0' TERM; echo hello-novadock; "
             "while true; do sleep 1; done\"")
# PID 1 ignores SIGTERM: a stop waits its whole grace period.
STUBBORN_CMD = "sleep 100000"


class Env(object):
    """Everything the tests share: dockerd, agent, controller, the driver."""
    args = None
    dockerd = None
    agent = None
    controller = None
    controller_port = None
    agent_port = None
    glance = None
    shim_dir = None
    driver = None
    events = []
    ctx = None
    next_id = 100


def docker_inspect(uuid):
    status, data = tl.docker_request(
        Env.dockerd.sock, "GET",
        "%s/containers/nova-%s/json" % (Env.dockerd.api, uuid))
    return status, (json.loads(data) if status == 200 else None)


def docker_state(uuid):
    status, info = docker_inspect(uuid)
    return info["State"]["Status"] if status == 200 else status


def set_up_environment(args):
    Env.args = args
    Env.dockerd = tl.PrivateDockerd().start()
    tl.import_busybox_image(Env.dockerd.sock)
    Env.glance = tl.PrivateGlance().start()
    Env.agent, Env.agent_port = tl.start_agent(
        args.agent_binary, Env.dockerd.host, NODE,
        extra_args=["--grace_period_seconds=2",
                    "--glance_endpoint=" + Env.glance.endpoint])
    Env.controller, Env.controller_port = tl.start_controller(
        args.controller_binary, {NODE: Env.agent_port},
        extra_args=["--check_interval_seconds=1"])
    Env.shim_dir = tempfile.mkdtemp(prefix="ndshim.", dir="/tmp")
    tl.build_nova_shim(Env.shim_dir, python=sys.executable)

    CONF([], project="nova", default_config_files=[])
    objects.register_all()
    # The driver module registers [novadock]; import it through Nova's own
    # loader in the tests, but the options must exist for overrides now.
    from nova.virt.novadock import conf as nd_conf
    nd_conf.register_opts(CONF)
    CONF.set_override("controller_address",
                      "127.0.0.1:%d" % Env.controller_port, "novadock")
    CONF.set_override("graceful_shutdown_timeout", 2, "novadock")
    CONF.set_override("event_poll_wait_ms", 1000, "novadock")
    CONF.set_override("retries", 1, "novadock")
    CONF.set_override("call_timeout", 30, "novadock")
    CONF.set_override("cpu_allocation_ratio", 4.0, "novadock")
    CONF.set_override("reserved_host_memory_mb", 64, "novadock")
    CONF.set_override("compute_driver", DRIVER)
    CONF.set_override("api_servers", [Env.glance.endpoint], "glance")
    Env.ctx = nova_context.RequestContext(
        user_id="u1", project_id="p1", auth_token="secret-token")
    wait_node_active()


def wait_node_active(timeout=20):
    """Until the controller has checked the agent (ACTIVE, capacity)."""
    from nova.virt.novadock import client as nd_client
    from nova.virt.novadock._proto import controller_pb2
    c = nd_client.ControllerClient(CONF.novadock)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            nodes = c.list_nodes()
            if nodes and all(n.state == controller_pb2.NODE_STATE_ACTIVE and
                             n.capacity.memory_mb > 0 for n in nodes):
                return
            time.sleep(0.2)
        raise RuntimeError("node not ACTIVE within %ss: %s" %
                           (timeout, nodes))
    finally:
        c.close()


def tear_down_environment():
    if Env.driver is not None:
        try:
            Env.driver.cleanup_host("test")
        except Exception as e:  # Keep tearing down.
            print("cleanup_host: %s" % e, file=sys.stderr)
    for proc in (Env.controller, Env.agent):
        if proc is not None:
            tl.stop_agent(proc)
    if Env.dockerd is not None:
        Env.dockerd.stop()
    if Env.glance is not None:
        Env.glance.stop()
    if Env.shim_dir:
        shutil.rmtree(Env.shim_dir, ignore_errors=True)


def new_instance(command=QUICK_CMD, memory_mb=64, vcpus=1, metadata=None,
                 sysmeta=None, node=NODE):
    Env.next_id += 1
    flavor = objects.Flavor(id=1, name="m1.docker", memory_mb=memory_mb,
                            vcpus=vcpus, root_gb=1, ephemeral_gb=0,
                            flavorid="d1", swap=0, rxtx_factor=1.0,
                            vcpu_weight=1, disabled=False, is_public=True,
                            extra_specs={}, projects=[])
    inst = fake_instance.fake_instance_obj(
        Env.ctx, id=Env.next_id, uuid=uuidutils.generate_uuid(),
        node=node, host="test", flavor=flavor,
        hostname="vm-%d" % Env.next_id)
    md = dict(metadata or {})
    if command is not None:
        md.setdefault("novadock_command", command)
    inst.metadata = md
    inst.system_metadata = dict(sysmeta or {})
    return inst


def image_meta():
    return objects.ImageMeta.from_dict({
        "id": uuidutils.generate_uuid(),
        "name": tl.TEST_IMAGE,
        "container_format": "docker",
        "disk_format": "raw",
        "properties": {},
    })


def wait_for(predicate, timeout=15, interval=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()


class T01Loading(unittest.TestCase):

    def test_nova_loader_and_init_host(self):
        CONF.set_override("compute_driver", DRIVER)
        d = virt_driver.load_compute_driver(None)  # From CONF, as Nova does.
        self.assertEqual(type(d).__module__, "nova.virt.novadock.driver")
        self.assertIsInstance(d, virt_driver.ComputeDriver)
        base = set(virt_driver.ComputeDriver.capabilities)
        self.assertEqual(base - set(d.capabilities), set())
        self.assertFalse(d.capabilities["supports_pcpus"])
        self.assertFalse(d.capabilities["supports_evacuate"])
        self.assertFalse(d.capabilities["supports_multiattach"])
        d.register_event_listener(Env.events.append)
        d.init_host("test")
        Env.driver = d
        d2 = virt_driver.load_compute_driver(None, DRIVER)
        self.assertIsNot(d2, d)

    def test_unreachable_controller_names_address(self):
        port = tl.free_loopback_port()
        CONF.set_override("controller_address", "127.0.0.1:%d" % port,
                          "novadock")
        try:
            d = virt_driver.load_compute_driver(None, DRIVER)
            t0 = time.monotonic()
            with self.assertRaises(exception.HypervisorUnavailable) as cm:
                d.init_host("test")
            self.assertIn("127.0.0.1:%d" % port, str(cm.exception))
            self.assertLess(time.monotonic() - t0, 20)
            d.cleanup_host("test")
        finally:
            CONF.set_override("controller_address",
                              "127.0.0.1:%d" % Env.controller_port,
                              "novadock")

    def test_plain_text_refused_off_loopback(self):
        CONF.set_override("controller_address", "192.0.2.10:50050",
                          "novadock")
        try:
            d = virt_driver.load_compute_driver(None, DRIVER)
            with self.assertRaises(exception.InvalidConfiguration) as cm:
                d.init_host("test")
            self.assertIn("192.0.2.10:50050", str(cm.exception))
            self.assertIn("tls", str(cm.exception).lower())
        finally:
            CONF.set_override("controller_address",
                              "127.0.0.1:%d" % Env.controller_port,
                              "novadock")


class T02Resources(unittest.TestCase):

    def test_nodes_and_resource(self):
        d = Env.driver
        self.assertEqual(d.get_available_nodes(), [NODE])
        self.assertTrue(d.node_is_available(NODE))
        self.assertFalse(d.node_is_available("no-such-node"))
        r = d.get_available_resource(NODE)
        for key in ("vcpus", "memory_mb", "local_gb", "vcpus_used",
                    "memory_mb_used", "local_gb_used", "hypervisor_type",
                    "hypervisor_version", "hypervisor_hostname", "cpu_info",
                    "numa_topology", "supported_instances"):
            self.assertIn(key, r)
        self.assertEqual(r["hypervisor_type"], "docker")
        self.assertEqual(r["hypervisor_hostname"], NODE)
        self.assertIsInstance(r["hypervisor_version"], int)
        self.assertGreater(r["hypervisor_version"], 1000000)
        self.assertGreater(r["memory_mb"], 0)
        self.assertGreater(r["vcpus"], 0)
        self.assertIsNone(r["numa_topology"])
        self.assertIsInstance(json.loads(r["cpu_info"]), dict)
        self.assertEqual(r["supported_instances"][0][1:], ("docker", "exe"))
        # Nova's own object accepts the dict (as the resource tracker does).
        cn = objects.ComputeNode()
        cn.update_from_virt_driver(r)
        self.assertEqual(cn.hypervisor_type, "docker")
        self.assertTrue(d.get_host_uptime().startswith(NODE))

    def test_update_provider_tree(self):
        d = Env.driver
        r = d.get_available_resource(NODE)
        pt = provider_tree.ProviderTree()
        pt.new_root(NODE, uuidutils.generate_uuid())
        d.update_provider_tree(pt, NODE)
        inv = pt.data(NODE).inventory
        self.assertEqual(inv["VCPU"]["total"], r["vcpus"])
        self.assertEqual(inv["VCPU"]["allocation_ratio"], 4.0)
        self.assertEqual(inv["VCPU"]["reserved"], 0)
        self.assertEqual(inv["MEMORY_MB"]["total"], r["memory_mb"])
        self.assertEqual(inv["MEMORY_MB"]["reserved"], 64)
        # Unset in [novadock]: Nova's initial_ram_allocation_ratio.
        self.assertEqual(inv["MEMORY_MB"]["allocation_ratio"],
                         CONF.initial_ram_allocation_ratio)
        if r["local_gb"] > 0:
            self.assertEqual(inv["DISK_GB"]["total"], r["local_gb"])
        for rc in inv.values():
            self.assertLessEqual(rc["reserved"], rc["total"])
            self.assertEqual(rc["max_unit"], rc["total"])
        # A second pass leaves it unchanged (no needless placement update).
        self.assertFalse(pt.has_inventory_changed(NODE, dict(inv)))


class T02bNodesOption(unittest.TestCase):
    """[novadock] nodes: a service sees only its own nodes and their
    instances (nova-compute on every docker node)."""

    def test_only_listed_nodes(self):
        d = Env.driver
        inst = new_instance()
        d.spawn(Env.ctx, inst, image_meta(), [], None, {})
        try:
            CONF.set_override("nodes", ["compute-docker-2"], "novadock")
            self.assertEqual(d.get_available_nodes(refresh=True), [])
            self.assertNotIn(inst.uuid, d.list_instance_uuids())
            self.assertFalse(d.node_is_available(NODE))
            CONF.set_override("nodes", [NODE], "novadock")
            self.assertEqual(d.get_available_nodes(refresh=True), [NODE])
            self.assertIn(inst.uuid, d.list_instance_uuids())
        finally:
            CONF.clear_override("nodes", "novadock")
            d.destroy(Env.ctx, inst, None)


class T03Lifecycle(unittest.TestCase):

    def assertState(self, inst, nova_state, docker):
        self.assertEqual(Env.driver.get_info(inst).state, nova_state)
        self.assertEqual(docker_state(inst.uuid), docker)

    def test_round_trip(self):
        d = Env.driver
        inst = new_instance(metadata={"novadock_env_GREETING": "hi",
                                      "plain": "kept"},
                            sysmeta={"image_novadock_env_GREETING": "image",
                                     "image_novadock_env_FROM_IMAGE": "1"})
        d.spawn(Env.ctx, inst, image_meta(), [], None, {})
        try:
            self.assertState(inst, power_state.RUNNING, "running")
            _, info = docker_inspect(inst.uuid)
            env = info["Config"]["Env"]
            self.assertIn("GREETING=hi", env)  # Instance metadata wins.
            self.assertIn("FROM_IMAGE=1", env)
            self.assertEqual(info["Config"]["Hostname"], inst.hostname)
            self.assertEqual(info["HostConfig"]["Memory"], 64 * 1024 * 1024)
            self.assertTrue(d.instance_exists(inst))
            self.assertIn(inst.uuid, d.list_instance_uuids())
            self.assertIn(inst.name, d.list_instances())
            out = wait_for(lambda: b"hello-novadock" in
                           d.get_console_output(Env.ctx, inst), 10)
            self.assertTrue(out, "console output lacks the greeting")

            d.power_off(inst, timeout=5)
            self.assertState(inst, power_state.SHUTDOWN, "exited")
            d.power_on(Env.ctx, inst, None)
            self.assertState(inst, power_state.RUNNING, "running")
            d.pause(inst)
            self.assertState(inst, power_state.PAUSED, "paused")
            d.unpause(inst)
            self.assertState(inst, power_state.RUNNING, "running")

            started = docker_inspect(inst.uuid)[1]["State"]["StartedAt"]
            d.reboot(Env.ctx, inst, None, "SOFT")
            self.assertState(inst, power_state.RUNNING, "running")
            started2 = docker_inspect(inst.uuid)[1]["State"]["StartedAt"]
            self.assertNotEqual(started, started2)
            d.power_off(inst)  # Forced (timeout 0).
            d.reboot(Env.ctx, inst, None, "HARD")  # Starts a stopped one.
            self.assertState(inst, power_state.RUNNING, "running")
        finally:
            d.destroy(Env.ctx, inst, None)
        self.assertEqual(docker_state(inst.uuid), 404)
        with self.assertRaises(exception.InstanceNotFound):
            d.get_info(inst)
        self.assertFalse(d.instance_exists(inst))
        self.assertNotIn(inst.uuid, d.list_instance_uuids())
        d.destroy(Env.ctx, inst, None)  # Missing: fine.
        d.cleanup(Env.ctx, inst, None)

    def test_spawn_powered_off(self):
        d = Env.driver
        inst = new_instance()
        d.spawn(Env.ctx, inst, image_meta(), [], None, {}, power_on=False)
        try:
            self.assertState(inst, power_state.SHUTDOWN, "created")
            d.power_on(Env.ctx, inst, None)
            self.assertState(inst, power_state.RUNNING, "running")
        finally:
            d.destroy(Env.ctx, inst, None)

    def test_stopped_behind_novas_back_emits_event(self):
        d = Env.driver
        inst = new_instance()
        d.spawn(Env.ctx, inst, image_meta(), [], None, {})
        try:
            def lifecycle(transition):
                return [e for e in list(Env.events)
                        if isinstance(e, virtevent.LifecycleEvent) and
                        e.get_instance_uuid() == inst.uuid and
                        e.get_transition() == transition]
            self.assertTrue(wait_for(lambda: lifecycle(
                virtevent.EVENT_LIFECYCLE_STARTED), 15),
                "no STARTED event after spawn")
            status, _ = tl.docker_request(
                Env.dockerd.sock, "POST",
                "%s/containers/nova-%s/stop?t=5" % (Env.dockerd.api,
                                                    inst.uuid))
            self.assertIn(status, (204, 304))
            self.assertTrue(wait_for(lambda: lifecycle(
                virtevent.EVENT_LIFECYCLE_STOPPED), 15),
                "no STOPPED event after a stop behind Nova's back")
            self.assertEqual(d.get_info(inst).state, power_state.SHUTDOWN)
            d.power_on(Env.ctx, inst, None)
            d.pause(inst)
            self.assertTrue(wait_for(lambda: lifecycle(
                virtevent.EVENT_LIFECYCLE_PAUSED), 15), "no PAUSED event")
            d.unpause(inst)
            self.assertTrue(wait_for(lambda: lifecycle(
                virtevent.EVENT_LIFECYCLE_RESUMED), 15), "no RESUMED event")
        finally:
            d.destroy(Env.ctx, inst, None)

    def test_green_threads_run_during_a_call(self):
        d = Env.driver
        inst = new_instance(command=STUBBORN_CMD)
        d.spawn(Env.ctx, inst, image_meta(), [], None, {})
        ticks = [0]
        running = [True]

        def ticker():
            while running[0]:
                ticks[0] += 1
                eventlet.sleep(0.01)
        g = eventlet.spawn(ticker)
        try:
            eventlet.sleep(0.05)
            before = ticks[0]
            t0 = time.monotonic()
            d.power_off(inst, timeout=2)  # PID 1 ignores SIGTERM: ~2 s.
            took = time.monotonic() - t0
            during = ticks[0] - before
            self.assertGreaterEqual(took, 1.5)
            # ~100 ticks a second if the hub kept running.
            self.assertGreater(during, took * 30,
                               "green threads starved: %d ticks in %.1f s" %
                               (during, took))
            self.assertEqual(d.get_info(inst).state, power_state.SHUTDOWN)
        finally:
            running[0] = False
            g.wait()
            d.destroy(Env.ctx, inst, None)

    def test_parallel_calls_overlap(self):
        # Several green threads' calls run at once in tpool's threads.
        d = Env.driver
        t0 = time.monotonic()
        pool = eventlet.GreenPool()
        results = list(pool.imap(lambda _: d.get_available_nodes(),
                                 range(8)))
        self.assertEqual(results, [[NODE]] * 8)
        self.assertLess(time.monotonic() - t0, 10)


class T04Errors(unittest.TestCase):

    def test_not_found(self):
        inst = new_instance()
        with self.assertRaises(exception.InstanceNotFound) as cm:
            Env.driver.get_info(inst)
        self.assertIn(inst.uuid, str(cm.exception))
        with self.assertRaises(exception.InstanceNotFound):
            Env.driver.power_on(Env.ctx, inst, None)

    def test_resource_exhausted(self):
        node_mb = Env.driver.get_available_resource(NODE)["memory_mb"]
        inst = new_instance(memory_mb=node_mb * 4)
        with self.assertRaises(exception.ComputeResourcesUnavailable):
            Env.driver.spawn(Env.ctx, inst, image_meta(), [], None, {})
        self.assertEqual(docker_state(inst.uuid), 404)

    def test_invalid_argument(self):
        inst = new_instance(metadata={"novadock_env_1BAD": "x"})
        with self.assertRaises(exception.InvalidInput):
            Env.driver.spawn(Env.ctx, inst, image_meta(), [], None, {})
        self.assertEqual(docker_state(inst.uuid), 404)
        inst = new_instance(command='["sh", 1]')
        with self.assertRaises(exception.InvalidInput):
            Env.driver.spawn(Env.ctx, inst, image_meta(), [], None, {})

    def test_unsupported_operations(self):
        inst = new_instance()
        with self.assertRaises(NotImplementedError):
            Env.driver.suspend(Env.ctx, inst)
        with self.assertRaises(NotImplementedError):
            Env.driver.rescue(Env.ctx, inst, None, image_meta(), "pw", None)
        with self.assertRaises(NotImplementedError):
            Env.driver.migrate_disk_and_power_off(Env.ctx, inst, "h", None,
                                                  None)


class T05Snapshot(unittest.TestCase):
    """Nova's side of a snapshot: task-state order and the Glance record.
    The controller's Snapshot (agent commit + upload) needs a Glance; this
    test stops the upload with a fake image API that records the calls and
    checks what the driver sends."""

    def test_task_states_and_image_record(self):
        d = Env.driver
        calls = []

        class FakeImageApi(object):
            def update(self, context, image_id, meta, purge_props=True):
                calls.append(("update", image_id, dict(meta), purge_props))
                return {"id": image_id}

            def create(self, context, meta):
                calls.append(("create", dict(meta)))
                return {"id": uuidutils.generate_uuid()}

        states = []

        def update_task_state(task_state, expected_state=None):
            states.append((task_state, expected_state))

        class Stop(Exception):
            pass

        def no_snapshot(*a, **kw):
            calls.append(("snapshot", a, kw))
            raise Stop()

        inst = new_instance()
        image_id = uuidutils.generate_uuid()
        saved_api, saved_snapshot = d._image_api_obj, d._client.snapshot
        d._image_api_obj = FakeImageApi()
        d._client.snapshot = no_snapshot
        try:
            with self.assertRaises(Stop):
                d.snapshot(Env.ctx, inst, image_id, update_task_state)
        finally:
            d._image_api_obj = saved_api
            d._client.snapshot = saved_snapshot
        self.assertEqual(states, [
            (task_states.IMAGE_PENDING_UPLOAD, None),
            (task_states.IMAGE_UPLOADING, task_states.IMAGE_PENDING_UPLOAD)])
        self.assertEqual(calls[0][0], "update")
        self.assertEqual(calls[0][1], image_id)
        self.assertEqual(calls[0][2]["container_format"], "docker")
        self.assertEqual(calls[0][2]["disk_format"], "raw")
        self.assertFalse(calls[0][3])
        self.assertEqual(calls[1][0], "snapshot")
        self.assertEqual(calls[1][2]["glance_image_id"], image_id)
        self.assertEqual(calls[1][2]["auth_token"], "secret-token")


class T05SnapshotToGlance(unittest.TestCase):
    """The whole snapshot path: Nova's image API creates the record in a
    real glance-api, the driver has the controller's agent commit the
    container and upload it there, and a second instance boots from that
    Glance image after the node forgot it (so the agent downloads it)."""

    def test_snapshot_uploads_and_boots(self):
        import io
        import tarfile
        from nova.image import glance
        from nova.virt.novadock._proto import agent_pb2
        from nova.virt.novadock._proto import agent_pb2_grpc
        import grpc
        d = Env.driver
        inst = new_instance(
            command="sh -c \"echo in-the-snapshot > /tmp/marker; "
                    "while true; do sleep 1; done\"")
        d.spawn(Env.ctx, inst, image_meta(), [], None, {})
        second = None
        try:
            self.assertTrue(wait_for(lambda: docker_state(
                inst.uuid) == "running", 10))
            time.sleep(0.5)  # The marker is written at once; be generous.
            image = glance.API().create(Env.ctx, {"name": "snap-test"})
            states = []
            d.snapshot(Env.ctx, inst, image["id"],
                       lambda task_state, expected_state=None:
                       states.append(task_state))
            self.assertEqual(states, [task_states.IMAGE_PENDING_UPLOAD,
                                      task_states.IMAGE_UPLOADING])
            status, body = Env.glance.request(
                "GET", "/v2/images/%s" % image["id"])
            self.assertEqual(status, 200)
            record = json.loads(body)
            self.assertEqual(record["status"], "active")
            self.assertEqual(record["container_format"], "docker")
            self.assertEqual(record["disk_format"], "raw")
            status, data = Env.glance.request(
                "GET", "/v2/images/%s/file" % image["id"])
            self.assertEqual(status, 200)
            self.assertEqual(len(data), record["size"])
            with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                self.assertIn("manifest.json", tar.getnames())

            # The node forgets the image: the next boot must fetch it.
            channel = grpc.insecure_channel("127.0.0.1:%d" % Env.agent_port)
            try:
                agent_pb2_grpc.AgentStub(channel).RemoveImage(
                    agent_pb2.RemoveImageRequest(glance_id=image["id"],
                                                 remove_archive=True),
                    timeout=60)
            finally:
                channel.close()
            second = new_instance(
                command="sh -c \"cat /tmp/marker; echo END; "
                        "while true; do sleep 1; done\"")
            meta = objects.ImageMeta.from_dict({
                "id": image["id"], "name": "snap-test",
                "container_format": "docker", "disk_format": "raw",
                "properties": {}})
            d.spawn(Env.ctx, second, meta, [], None, {})
            out = wait_for(lambda: (lambda o: o if b"END" in o else None)(
                d.get_console_output(Env.ctx, second)), 15)
            self.assertTrue(out and b"in-the-snapshot" in out, out)
        finally:
            d.destroy(Env.ctx, inst, None)
            if second is not None:
                d.destroy(Env.ctx, second, None)


class T06ConfigDriveAndNetwork(unittest.TestCase):
    """What the container sees: its config drive (read through its own
    console) and its address on a Docker network of this test's own."""

    DRIVE_CMD = ("sh -c \"cat $NOVADOCK_CONFIG_DRIVE/openstack/latest/"
                 "meta_data.json; echo; echo USERDATA; "
                 "cat $NOVADOCK_CONFIG_DRIVE/openstack/latest/user_data; "
                 "echo; cat $NOVADOCK_CONFIG_DRIVE/openstack/content/0000; "
                 "echo; echo END; while true; do sleep 1; done\"")

    def console_until_end(self, inst):
        out = wait_for(lambda: (lambda o: o if b"END" in o else None)(
            Env.driver.get_console_output(Env.ctx, inst)), 15)
        self.assertTrue(out, "no END in the console")
        return out.decode("utf-8", "replace")

    def test_config_drive_contents(self):
        import base64
        d = Env.driver
        inst = new_instance(command=self.DRIVE_CMD,
                            metadata={"role": "web"})
        inst.user_data = base64.b64encode(b"#cloud-config\nhello: 1").decode()
        inst.key_name = "k1"
        inst.key_data = "ssh-ed25519 AAAAC3Nza test@novadock"
        d.spawn(Env.ctx, inst, image_meta(), [("/etc/motd", b"injected!")],
                "s3cret-pass", {})
        try:
            out = self.console_until_end(inst)
            meta = json.loads(out.splitlines()[0])
            self.assertEqual(meta["uuid"], inst.uuid)
            self.assertEqual(meta["hostname"], inst.hostname)
            self.assertEqual(meta["meta"]["role"], "web")
            self.assertEqual(meta["admin_pass"], "s3cret-pass")
            self.assertEqual(meta["public_keys"],
                             {"k1": "ssh-ed25519 AAAAC3Nza test@novadock"})
            self.assertEqual(meta["files"], [
                {"path": "/etc/motd", "content_path": "/content/0000"}])
            self.assertIn("USERDATA\n#cloud-config\nhello: 1", out)
            self.assertIn("injected!", out)
            _, info = docker_inspect(inst.uuid)
            self.assertEqual(len(info["Mounts"]), 1)
            self.assertFalse(info["Mounts"][0]["RW"])
            self.assertEqual(info["Mounts"][0]["Destination"],
                             "/var/lib/cloud/seed/config_drive")
            drive = info["Mounts"][0]["Source"]
            self.assertTrue(os.path.isdir(drive))
        finally:
            d.destroy(Env.ctx, inst, None)
        self.assertFalse(os.path.exists(drive))

    def test_no_drive_when_not_required(self):
        d = Env.driver
        CONF.set_override("always_config_drive", False, "novadock")
        inst = new_instance()
        inst.config_drive = ""
        try:
            d.spawn(Env.ctx, inst, image_meta(), [], None, {})
            _, info = docker_inspect(inst.uuid)
            self.assertEqual(info["Mounts"], [])
        finally:
            CONF.clear_override("always_config_drive", "novadock")
            d.destroy(Env.ctx, inst, None)

    def test_static_address_on_docker_network(self):
        from nova.network import model as network_model
        net = "nd-shim-%d" % os.getpid()
        status, data = tl.docker_request(
            Env.dockerd.sock, "POST", "%s/networks/create" % Env.dockerd.api,
            body=json.dumps({
                "Name": net, "Driver": "bridge", "Internal": True,
                "IPAM": {"Config": [{"Subnet": "10.213.78.0/24"}]}}).encode(),
            headers={"Content-Type": "application/json"})
        self.assertEqual(status, 201, data)
        CONF.set_override("docker_network", net, "novadock")
        d = Env.driver
        inst = new_instance()
        subnet = network_model.Subnet(
            cidr="10.213.78.0/24", gateway=network_model.IP("10.213.78.1"),
            ips=[network_model.FixedIP(address="10.213.78.9")])
        nw_info = network_model.NetworkInfo([network_model.VIF(
            id=uuidutils.generate_uuid(), address="fa:16:3e:11:22:33",
            network=network_model.Network(
                id=uuidutils.generate_uuid(), bridge="br0",
                subnets=[subnet]))])
        try:
            d.spawn(Env.ctx, inst, image_meta(), [], None, {},
                    network_info=nw_info)
            _, info = docker_inspect(inst.uuid)
            endpoint = info["NetworkSettings"]["Networks"][net]
            self.assertEqual(endpoint["IPAddress"], "10.213.78.9")
            self.assertEqual(endpoint["MacAddress"], "fa:16:3e:11:22:33")
            self.assertEqual(info["HostConfig"]["NetworkMode"], net)
            d.plug_vifs(inst, nw_info)  # A logged no-op.
        finally:
            CONF.clear_override("docker_network", "novadock")
            d.destroy(Env.ctx, inst, None)
            tl.docker_request(Env.dockerd.sock, "DELETE",
                              "%s/networks/%s" % (Env.dockerd.api, net))


class T07EventGap(unittest.TestCase):
    """A controller restart loses its event buffer: the poller's cursor is
    from the old process, the new one answers gap=true, and the poller
    resyncs from the instances' current states, so a stop that happened
    while no controller was watching still reaches Nova."""

    def test_stop_while_controller_down_reaches_nova(self):
        d = Env.driver
        inst = new_instance()
        d.spawn(Env.ctx, inst, image_meta(), [], None, {})
        try:
            def stopped():
                return [e for e in list(Env.events)
                        if isinstance(e, virtevent.LifecycleEvent) and
                        e.get_instance_uuid() == inst.uuid and
                        e.get_transition() ==
                        virtevent.EVENT_LIFECYCLE_STOPPED]
            resyncs = d._poller.resyncs
            tl.stop_agent(Env.controller)
            status, _ = tl.docker_request(
                Env.dockerd.sock, "POST",
                "%s/containers/nova-%s/stop?t=5" % (Env.dockerd.api,
                                                    inst.uuid))
            self.assertIn(status, (204, 304))
            self.assertEqual(stopped(), [])
            Env.controller, _ = tl.start_controller(
                Env.args.controller_binary, {NODE: Env.agent_port},
                extra_args=["--check_interval_seconds=1"],
                port=Env.controller_port)
            self.assertTrue(wait_for(stopped, 30),
                            "no STOPPED event after the controller restart")
            self.assertGreater(d._poller.resyncs, resyncs)
            self.assertEqual(d.get_info(inst).state, power_state.SHUTDOWN)
        finally:
            d.destroy(Env.ctx, inst, None)


class T08MutualTls(unittest.TestCase):
    """The shim reaches a controller that serves mutual TLS (certificates
    from deployment/make-certs.sh), and is refused without the right
    client certificate."""

    def test_tls_controller(self):
        import subprocess
        from nova.virt.novadock import driver as nd_driver
        pki = tempfile.mkdtemp(prefix="ndpki.", dir="/tmp")
        other = tempfile.mkdtemp(prefix="ndpki.", dir="/tmp")
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                              "..", "deployment", "make-certs.sh")
        for d, args in ((pki, ["ca"]),
                        (pki, ["server", "controller", "IP:127.0.0.1"]),
                        (pki, ["client", "nova-compute"]),
                        (other, ["ca"]),
                        (other, ["client", "nova-compute"])):
            subprocess.run(["sh", script, d] + args, check=True,
                           stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        controller, port = tl.start_controller(
            Env.args.controller_binary, {NODE: Env.agent_port},
            extra_args=["--tls_ca=%s/ca.pem" % pki,
                        "--tls_cert=%s/controller.pem" % pki,
                        "--tls_key=%s/controller-key.pem" % pki])
        saved = {k: getattr(CONF.novadock, k) for k in (
            "controller_address", "tls_ca", "tls_cert", "tls_key",
            "retries")}

        def use(ca, cert, key):
            CONF.set_override("controller_address", "127.0.0.1:%d" % port,
                              "novadock")
            CONF.set_override("retries", 0, "novadock")
            for k, v in (("tls_ca", ca), ("tls_cert", cert),
                         ("tls_key", key)):
                CONF.set_override(k, v, "novadock")
            return nd_driver.NovaDockDriver(None)
        try:
            drv = use("%s/ca.pem" % pki, "%s/nova-compute.pem" % pki,
                      "%s/nova-compute-key.pem" % pki)
            drv.init_host("test")
            try:
                self.assertEqual(drv.get_available_nodes(), [NODE])
            finally:
                drv.cleanup_host("test")
            for ca, cert, key in (
                    # A client certificate from another CA.
                    ("%s/ca.pem" % pki, "%s/nova-compute.pem" % other,
                     "%s/nova-compute-key.pem" % other),
                    # Plain text to a TLS port (loopback allows trying).
                    ("", "", "")):
                drv = use(ca, cert, key)
                with self.assertRaises(exception.HypervisorUnavailable) as e:
                    drv.init_host("test")
                self.assertIn("127.0.0.1:%d" % port, str(e.exception))
                drv.cleanup_host("test")
        finally:
            for k, v in saved.items():
                CONF.set_override(k, v, "novadock")
            tl.stop_agent(controller)
            shutil.rmtree(pki, ignore_errors=True)
            shutil.rmtree(other, ignore_errors=True)


class T99Shutdown(unittest.TestCase):

    def test_cleanup_host_stops_poller(self):
        d = Env.driver
        poller = d._poller
        self.assertIsNotNone(poller)
        self.assertGreater(poller.polls, 0)
        t0 = time.monotonic()
        d.cleanup_host("test")
        self.assertLess(time.monotonic() - t0, 10)
        polls = poller.polls
        eventlet.sleep(1.5)
        self.assertEqual(poller.polls, polls)
        Env.driver = None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--controller-binary",
        default=os.environ.get("NOVADOCK_CONTROLLER_BINARY"))
    parser.add_argument("--agent-binary",
                        default=os.environ.get("NOVADOCK_AGENT_BINARY"))
    parser.add_argument("-k", dest="pattern", default=None,
                        help="run only tests whose id contains this")
    args, rest = parser.parse_known_args()
    for b in (args.controller_binary, args.agent_binary):
        if not os.access(b, os.X_OK):
            print("not executable: %s" % b, file=sys.stderr)
            print("0 passed, 1 failed")
            return 1
    loader = unittest.TestLoader()
    suite = loader.loadTestsFromModule(sys.modules[__name__])
    if args.pattern:
        def flat(s):
            for t in s:
                if isinstance(t, unittest.TestSuite):
                    yield from flat(t)
                else:
                    yield t
        keep = [t for t in flat(suite) if args.pattern in t.id() or
                "T01Loading.test_nova_loader" in t.id() or
                "T99" in t.id()]
        suite = unittest.TestSuite(keep)
    failed_setup = None
    try:
        set_up_environment(args)
    except Exception as e:  # Report as one failure.
        failed_setup = e
    if failed_setup is not None:
        import traceback
        traceback.print_exception(failed_setup)
        tear_down_environment()
        print("0 passed, 1 failed")
        return 1
    try:
        runner = unittest.TextTestRunner(verbosity=2, stream=sys.stdout)
        result = runner.run(suite)
        if result.failures or result.errors:
            for name, proc in (("controller", Env.controller),
                               ("agent", Env.agent)):
                print("---- %s log (tail) ----\n%s" %
                      (name, tl.agent_log_tail(proc)))
    finally:
        tear_down_environment()
    failed = len(result.failures) + len(result.errors)
    passed = result.testsRun - failed - len(result.skipped)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed or result.testsRun == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
