#!/usr/bin/python3
"""Boots one instance the way nova-compute does: loads nova.virt.novadock
through Nova's own driver loader (compute_driver =
novadock.driver.NovaDockDriver), under nova.monkey_patch, and calls its
spawn() with real Nova objects. Used by the quickstart; prints the
instance's uuid on its last line.

  nova_boot.py --controller 127.0.0.1:PORT --node NODE --image NAME
               --command 'echo hi; sleep 1000'
"""
import nova.monkey_patch  # noqa: F401  (first, as in nova-compute)

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "tests", "py"))
import novadock_testlib as tl  # noqa: E402

from nova import context as nova_context  # noqa: E402
from nova import objects  # noqa: E402
from nova.conf import CONF  # noqa: E402
from nova.tests.unit import fake_instance  # noqa: E402
from nova.virt import driver as virt_driver  # noqa: E402
from oslo_utils import uuidutils  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--controller", required=True)
    p.add_argument("--node", required=True)
    p.add_argument("--image", required=True)
    p.add_argument("--command", required=True)
    args = p.parse_args()

    shim_dir = tempfile.mkdtemp(prefix="ndboot.", dir="/tmp")
    try:
        # A source checkout: build nova.virt.novadock and put it on
        # nova.virt's path (an installed package needs none of this).
        tl.build_nova_shim(shim_dir, python=sys.executable)
        CONF([], project="nova", default_config_files=[])
        objects.register_all()
        from nova.virt.novadock import conf as nd_conf
        nd_conf.register_opts(CONF)
        CONF.set_override("controller_address", args.controller, "novadock")
        CONF.set_override("compute_driver", "novadock.driver.NovaDockDriver")
        driver = virt_driver.load_compute_driver(None)
        driver.init_host(host=args.node)
        print("nova_boot: nova loaded %s.%s; nodes %s" %
              (type(driver).__module__, type(driver).__name__,
               driver.get_available_nodes()), flush=True)
        ctx = nova_context.RequestContext(user_id="demo", project_id="demo")
        flavor = objects.Flavor(
            id=1, name="m1.docker", memory_mb=64, vcpus=1, root_gb=1,
            ephemeral_gb=0, flavorid="d1", swap=0, rxtx_factor=1.0,
            vcpu_weight=1, disabled=False, is_public=True, extra_specs={},
            projects=[])
        inst = fake_instance.fake_instance_obj(
            ctx, id=1, uuid=uuidutils.generate_uuid(), node=args.node,
            host=args.node, flavor=flavor, hostname="demo-1")
        # The shim reads the command from instance metadata: a JSON list.
        inst.metadata = {
            "novadock_command": json.dumps(["/bin/sh", "-c", args.command])}
        inst.system_metadata = {}
        image = objects.ImageMeta.from_dict({
            "id": uuidutils.generate_uuid(), "name": args.image,
            "container_format": "docker", "disk_format": "raw",
            "properties": {}})
        driver.spawn(ctx, inst, image, [], None, {})
        info = driver.get_info(inst)
        print("nova_boot: spawned through the Nova driver, power state %s" %
              info.state, flush=True)
        driver.cleanup_host(host=args.node)
        print(inst.uuid, flush=True)
        return 0
    finally:
        shutil.rmtree(shim_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
