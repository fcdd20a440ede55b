"""Hostile input through the Nova shim (nova.virt.novadock) with real Nova
objects, against a real controller, agent and private dockerd: the part of
tests/bad_input_test.py that goes the way Nova's own values go (issue
"Proof under faults and bad input", part 3).

Each case is a spawn() whose instance, flavor, image or context carries a
hostile value. It must raise Nova's InvalidInput (what the shim makes of
INVALID_ARGUMENT) naming the field, create no container, and leave the
driver working. Runs under eventlet monkey patching as nova-compute does.
Binaries from NOVADOCK_AGENT_BINARY / NOVADOCK_CONTROLLER_BINARY.
"""

import nova.monkey_patch  # noqa: F401  (first, as in nova-compute)

import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import unittest  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "py"))
import novadock_testlib as tl  # noqa: E402

import nova.conf  # noqa: E402
from nova import context as nova_context  # noqa: E402
from nova import exception  # noqa: E402
from nova import objects  # noqa: E402
from nova.tests.unit import fake_instance  # noqa: E402
from nova.virt import driver as virt_driver  # noqa: E402
from oslo_utils import uuidutils  # noqa: E402

CONF = nova.conf.CONF
NODE = "compute-docker-s1"
DRIVER = "novadock.driver.NovaDockDriver"
MB = 1 << 20


class Env(object):
    dockerd = None
    agent = None
    controller = None
    shim_dir = None
    driver = None
    next_id = 500


def instance(memory_mb=64, vcpus=1, metadata=None, sysmeta=None,
             uuid=None):
    Env.next_id += 1
    flavor = objects.Flavor(id=1, name="m1.docker", memory_mb=memory_mb,
                            vcpus=vcpus, root_gb=1, ephemeral_gb=0,
                            flavorid="d1", swap=0, rxtx_factor=1.0,
                            vcpu_weight=1, disabled=False, is_public=True,
                            extra_specs={}, projects=[])
    inst = fake_instance.fake_instance_obj(
        nova_context.get_admin_context(), id=Env.next_id,
        uuid=uuid or uuidutils.generate_uuid(), node=NODE, host="test",
        flavor=flavor, hostname="vm-%d" % Env.next_id)
    md = {"novadock_command": "sleep 1000"}
    md.update(metadata or {})
    inst.metadata = md
    inst.system_metadata = dict(sysmeta or {})
    return inst


def image_meta(name=None):
    return objects.ImageMeta.from_dict({
        "id": uuidutils.generate_uuid(), "name": name or tl.TEST_IMAGE,
        "container_format": "docker", "disk_format": "raw",
        "properties": {}})


def context(token="secret-token"):
    return nova_context.RequestContext(user_id="u1", project_id="p1",
                                       auth_token=token)


def containers():
    d = Env.dockerd
    status, data = tl.docker_request(d.sock, "GET",
                                     d.api + "/containers/json?all=1")
    assert status == 200, data
    return json.loads(data)


# (case, spawn arguments (context, instance, image_meta), field named)
def cases():
    return [
        ("env key with =", (context(), instance(
            metadata={"novadock_env_A=B": "1"}), image_meta()), "env"),
        ("env key with NUL", (context(), instance(
            metadata={"novadock_env_A\x00B": "1"}), image_meta()), "env"),
        ("env value NUL", (context(), instance(
            metadata={"novadock_env_A": "x\x00y"}), image_meta()), "env[A]"),
        ("env key from image property with =", (context(), instance(
            sysmeta={"image_novadock_env_X=Y": "1"}), image_meta()), "env"),
        ("metadata value 1 MiB", (context(), instance(
            metadata={"big": "v" * MB}), image_meta()), "metadata[big]"),
        ("metadata 200 entries", (context(), instance(
            metadata={"k%d" % i: "v" for i in range(200)}), image_meta()),
         "metadata"),
        ("metadata key empty", (context(), instance(
            metadata={"": "v"}), image_meta()), "metadata key"),
        ("command with NUL", (context(), instance(
            metadata={"novadock_command": json.dumps(["sh", "x\x00"])}),
            image_meta()), "command[1]"),
        ("command empty argv0", (context(), instance(
            metadata={"novadock_command": json.dumps([""])}), image_meta()),
         "command[0]"),
        ("image name path traversal", (context(), instance(),
                                       image_meta("../../../etc/shadow")),
         "image.name"),
        ("image property huge", (context(), instance(
            sysmeta={"image_note": "n" * (70 << 10)}), image_meta()),
         "image.properties[note]"),
        ("flavor memory negative", (context(), instance(memory_mb=-64),
                                    image_meta()), "memory_mb"),
        ("flavor memory zero", (context(), instance(memory_mb=0),
                                image_meta()), "memory_mb"),
        ("flavor memory overflowing", (context(), instance(
            memory_mb=2 ** 40), image_meta()), "memory_mb"),
        ("flavor vcpus negative", (context(), instance(vcpus=-2),
                                   image_meta()), "vcpus"),
        ("flavor vcpus overflowing int32", (context(), instance(
            vcpus=2 ** 31), image_meta()), "vcpus"),
        ("token header injection", (context("tok\r\nX-Evil: 1"), instance(),
                                    image_meta()), "auth_token"),
        ("uuid path traversal", (context(), instance(uuid="../../etc/x"),
                                 image_meta()), "uuid"),
    ]


class ShimBadInputTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        Env.dockerd = tl.PrivateDockerd().start()
        tl.import_busybox_image(Env.dockerd.sock)
        Env.agent, agent_port = tl.start_agent(
            os.environ["NOVADOCK_AGENT_BINARY"], Env.dockerd.host, NODE)
        Env.controller, port = tl.start_controller(
            os.environ["NOVADOCK_CONTROLLER_BINARY"], {NODE: agent_port},
            extra_args=["--check_interval_seconds=1"])
        Env.shim_dir = tempfile.mkdtemp(prefix="ndbs.", dir="/tmp")
        tl.build_nova_shim(Env.shim_dir, python=sys.executable)
        CONF([], project="nova", default_config_files=[])
        objects.register_all()
        from nova.virt.novadock import conf as nd_conf
        nd_conf.register_opts(CONF)
        CONF.set_override("controller_address", "127.0.0.1:%d" % port,
                          "novadock")
        CONF.set_override("retries", 0, "novadock")
        CONF.set_override("compute_driver", DRIVER)
        Env.driver = virt_driver.load_compute_driver(None)
        Env.driver.init_host("test")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if Env.driver.get_available_nodes(refresh=True) == [NODE]:
                break
            time.sleep(0.2)

    @classmethod
    def tearDownClass(cls):
        if Env.driver is not None:
            Env.driver.cleanup_host("test")
        for proc in (Env.controller, Env.agent):
            if proc is not None:
                tl.stop_agent(proc)
        if Env.dockerd is not None:
            Env.dockerd.stop()
        if Env.shim_dir:
            shutil.rmtree(Env.shim_dir, ignore_errors=True)

    def test_hostile_values_are_refused_naming_the_field(self):
        failures = []
        for name, (ctx, inst, meta), field in cases():
            try:
                Env.driver.spawn(ctx, inst, meta, injected_files=[],
                                 admin_password=None, allocations={})
                failures.append("%s: accepted" % name)
            except exception.InvalidInput as e:
                if field not in str(e):
                    failures.append("%s: InvalidInput without %r: %s" %
                                    (name, field, e))
            except Exception as e:  # Anything else is a finding.
                failures.append("%s: %s: %s" % (name, type(e).__name__, e))
            # Still serving.
            Env.driver.list_instances()
        self.assertEqual(failures, [], "\n" + "\n".join(failures))
        self.assertEqual(containers(), [], "a container was created")

    def test_ten_mib_of_metadata_is_refused_by_the_size_limit(self):
        inst = instance(metadata={"k%d" % i: "v" * MB for i in range(10)})
        with self.assertRaises(exception.NovaException) as cm:
            Env.driver.spawn(context(), inst, image_meta(),
                             injected_files=[], admin_password=None,
                             allocations={})
        print("10 MiB: %s: %s" % (type(cm.exception).__name__, cm.exception),
              file=sys.stderr)
        self.assertIn("larger than", str(cm.exception))
        # Not ComputeResourcesUnavailable: Nova would reschedule it forever.
        self.assertIsInstance(cm.exception, exception.InvalidInput)
        self.assertEqual(containers(), [])
        self.assertEqual(Env.driver.list_instances(), [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
