#!/usr/bin/python3
"""Boots, checks and destroys one instance through the INSTALLED Nova shim
(python3-novadock-nova): Nova's own driver loader imports
nova.virt.novadock from Debian's dist-packages, under nova.monkey_patch as
in nova-compute. Nothing from a source checkout is on the path. Run by
package_install_test.py; prints one JSON line with what it saw.

  installed_shim_boot.py --controller 127.0.0.1:PORT --node NODE
                         --image NAME --marker TEXT
"""
import nova.monkey_patch  # noqa: F401  (first, as in nova-compute)

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

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
    p.add_argument("--marker", required=True)
    args = p.parse_args()

    CONF([], project="nova", default_config_files=[])
    objects.register_all()
    CONF.set_override("compute_driver", "novadock.driver.NovaDockDriver")
    # The [novadock] options are registered by the installed package itself
    # (nova.virt.novadock.conf), as nova-compute would see them.
    from nova.virt.novadock import conf as nd_conf
    nd_conf.register_opts(CONF)
    CONF.set_override("controller_address", args.controller, "novadock")
    driver = virt_driver.load_compute_driver(None)
    seen = {"driver_module": type(driver).__module__,
            "driver_file": sys.modules[type(driver).__module__].__file__}
    driver.init_host(host=args.node)
    seen["nodes"] = driver.get_available_nodes()

    ctx = nova_context.RequestContext(user_id="pkgtest", project_id="pkgtest")
    flavor = objects.Flavor(
        id=1, name="m1.docker", memory_mb=64, vcpus=1, root_gb=1,
        ephemeral_gb=0, flavorid="d1", swap=0, rxtx_factor=1.0,
        vcpu_weight=1, disabled=False, is_public=True, extra_specs={},
        projects=[])
    inst = fake_instance.fake_instance_obj(
        ctx, id=1, uuid=uuidutils.generate_uuid(), node=args.node,
        host=args.node, flavor=flavor, hostname="pkgtest-1")
    inst.metadata = {"novadock_command": json.dumps(
        ["/bin/sh", "-c", "echo %s; sleep 600" % args.marker])}
    inst.system_metadata = {}
    image = objects.ImageMeta.from_dict({
        "id": uuidutils.generate_uuid(), "name": args.image,
        "container_format": "docker", "disk_format": "raw",
        "properties": {}})
    driver.spawn(ctx, inst, image, [], None, {})
    seen["uuid"] = inst.uuid
    seen["power_state"] = driver.get_info(inst).state
    deadline = time.monotonic() + 20
    console = ""
    while time.monotonic() < deadline and args.marker not in console:
        console = driver.get_console_output(ctx, inst)
        if isinstance(console, bytes):
            console = console.decode("utf-8", "replace")
        time.sleep(0.2)
    seen["console"] = console[-200:]
    seen["listed"] = inst.uuid in driver.list_instance_uuids()
    driver.destroy(ctx, inst, [], None, True)
    seen["exists_after_destroy"] = driver.instance_exists(inst)
    driver.cleanup_host(host=args.node)
    print(json.dumps(seen), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
