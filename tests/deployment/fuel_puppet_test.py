#!/usr/bin/python3
"""The Fuel plugin's Puppet code with Debian's puppet (7):

* `puppet parser validate` on every manifest, `ruby -c` on every function,
  the ERB templates compiled;
* the catalog each Fuel task compiles from hiera data like Fuel's, for a
  compute node named node-3-docker, a compute node node-4 and a
  controller: which resources, with which values;
* `puppet apply --noop` of the same, asserting what each would change on
  this machine, and that node-4 would change nothing;
* real applies in a sandbox of the parts that must not go wrong: a user
  added to a group keeps its other groups; certificates issued from the
  deployment CA; Glance's container formats get docker added, nothing
  removed. Each is applied twice: the second run changes nothing.

Needs root for the group test (useradd/groupadd of throwaway names).
"""

import glob
import grp
import json
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SCRIPTS = os.path.join(REPO, "fuel-plugin", "deployment_scripts")
MODULES = os.path.join(SCRIPTS, "modules")
MODULEPATH = MODULES + ":/usr/share/puppet/modules"  # + inifile (Debian)
MAKE_CERTS = os.path.join(REPO, "deployment", "make-certs.sh")
PUPPET_TIMEOUT_S = 180

NODES = {
    "node-1": ("1", "ctl-1", ["primary-controller"], "192.168.0.2"),
    "node-2": ("2", "ctl-2", ["controller"], "192.168.0.3"),
    "node-3": ("3", "node-3-docker", ["compute"], "192.168.0.5"),
    "node-4": ("4", "node-4", ["compute"], "192.168.0.6"),
    "node-5": ("5", "compute-docker-5", ["compute", "cinder"], "192.168.0.7"),
    "node-6": ("6", "docker-storage", ["cinder"], "192.168.0.8"),
}


def run(argv, timeout=PUPPET_TIMEOUT_S, check=True, cwd=None):
    out = subprocess.run(argv, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         close_fds=True, timeout=timeout, text=True, cwd=cwd)
    if check and out.returncode != 0:
        raise AssertionError("%s failed (%d):\n%s\n%s" % (
            " ".join(argv), out.returncode, out.stdout[-3000:],
            out.stderr[-3000:]))
    return out


class _RubyLoader(yaml.SafeLoader):
    """Reads Puppet's YAML reports: Ruby object tags become plain maps."""


def _ruby_object(loader, suffix, node):
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_scalar(node)


_RubyLoader.add_multi_constructor("!ruby/", _ruby_object)


class Sandbox:
    """A hiera hierarchy and Puppet's own directories under a temp dir."""

    def __init__(self, root, name, data):
        self.dir = os.path.join(root, name)
        os.makedirs(os.path.join(self.dir, "data"))
        with open(os.path.join(self.dir, "data", "node.yaml"), "w") as f:
            yaml.safe_dump(data, f)
        self.hiera = os.path.join(self.dir, "hiera.yaml")
        with open(self.hiera, "w") as f:
            yaml.safe_dump({
                "version": 5,
                "defaults": {"datadir": os.path.join(self.dir, "data"),
                             "data_hash": "yaml_data"},
                "hierarchy": [{"name": "node", "path": "node.yaml"}]}, f)

    def puppet_dirs(self):
        args = []
        for opt in ("vardir", "confdir", "codedir", "logdir", "rundir"):
            args += ["--" + opt, os.path.join(self.dir, opt)]
        return args

    def catalog(self, manifest):
        out = run(["ruby", os.path.join(HERE, "compile_catalog.rb"),
                   manifest, MODULEPATH, self.hiera, self.dir])
        resources = {}
        for r in json.loads(out.stdout)["resources"]:
            resources["%s[%s]" % (r["type"], r["title"])] = r.get(
                "parameters", {})
        return resources

    def noop(self, manifest):
        """puppet apply --noop; returns (exit code, report as a dict)."""
        report = os.path.join(self.dir, "report.yaml")
        out = run(["puppet", "apply", "--noop", "--color=false",
                   "--detailed-exitcodes", "--hiera_config", self.hiera,
                   "--modulepath", MODULEPATH, "--lastrunreport", report]
                  + self.puppet_dirs() + [manifest], check=False)
        with open(report) as f:
            data = yaml.load(f, Loader=_RubyLoader)
        data["_output"] = out.stdout + out.stderr
        return out.returncode, data


def hiera_data(uid, ca_cert, ca_key, **settings):
    name = [n for n, v in NODES.items() if v[0] == uid][0]
    nodes = {}
    for key, (nuid, label, roles, address) in NODES.items():
        nodes[key] = {"uid": nuid, "name": key, "user_node_name": label,
                      "fqdn": key + ".test.domain.local",
                      "node_roles": roles,
                      "network_roles": {"management": address,
                                        "mgmt/vip": address}}
    novadock = {"metadata": {"enabled": True, "plugin_id": 1},
                "node_pattern": "docker",
                "image_dir": "/var/lib/novadock/images",
                "glance_fetch": True, "tls": True,
                "tls_ca_cert": ca_cert, "tls_ca_key": ca_key,
                "max_instances": "40", "reserved_memory_mb": "1024",
                "reserved_vcpus": "1", "reserved_disk_gb": "5",
                "nova_in_docker_group": True}
    novadock.update(settings)
    return {"uid": uid, "user_node_name": NODES[name][1],
            "roles": NODES[name][2], "fqdn": name + ".test.domain.local",
            "management_vip": "192.168.0.10",
            "network_metadata": {"nodes": nodes, "vips": {}},
            "novadock": novadock}


def novadock_resources(catalog):
    """Every resource but Puppet's own Stage/Class/Node bookkeeping."""
    return {k: v for k, v in catalog.items()
            if not k.startswith(("Stage[", "Class[", "Node["))}


def dpkg_installed(name):
    out = run(["dpkg-query", "-W", "-f=${db:Status-Status}", name],
              check=False)
    return out.returncode == 0 and out.stdout.strip() == "installed"


def ini_value(path, section, key):
    current = None
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in lines:
        line = line.strip()
        m = re.match(r"^\[(.+)\]$", line)
        if m:
            current = m.group(1).strip()
        elif current == section and re.match(r"^%s\s*=" % re.escape(key),
                                             line):
            return line.split("=", 1)[1].strip()
    return None


class PuppetTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        for tool in ("puppet", "ruby", "erb", "openssl"):
            if not shutil.which(tool):
                raise AssertionError("%s missing: run deployment/"
                                     "install-deps.sh" % tool)
        cls.root = tempfile.mkdtemp(prefix="ndpup.")
        ca_dir = os.path.join(cls.root, "ca")
        run(["sh", MAKE_CERTS, ca_dir, "ca"])
        with open(os.path.join(ca_dir, "ca.pem")) as f:
            cls.ca_cert = f.read()
        with open(os.path.join(ca_dir, "ca-key.pem")) as f:
            cls.ca_key = f.read()
        cls.boxes = {}

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.root, ignore_errors=True)

    def box(self, name, uid, **settings):
        key = (name, uid, tuple(sorted(settings.items())))
        if key not in self.boxes:
            data = hiera_data(uid, self.ca_cert, self.ca_key, **settings)
            self.boxes[key] = Sandbox(self.root, "%s-%d" % (
                name, len(self.boxes)), data)
        return self.boxes[key]

    # -- syntax ------------------------------------------------------------

    def test_parser_validate_every_manifest(self):
        manifests = sorted(glob.glob(os.path.join(SCRIPTS, "**", "*.pp"),
                                     recursive=True))
        self.assertGreaterEqual(len(manifests), 8, manifests)
        run(["puppet", "parser", "validate", "--color=false"] + manifests)
        # ... and validate does reject a broken manifest.
        broken = os.path.join(self.root, "broken.pp")
        with open(broken, "w") as f:
            f.write("class broken { file { '/x': ensure => }\n")
        out = run(["puppet", "parser", "validate", "--color=false", broken],
                  check=False)
        self.assertNotEqual(out.returncode, 0)

    def test_functions_and_templates_compile(self):
        for rb in glob.glob(os.path.join(MODULES, "novadock", "lib", "**",
                                         "*.rb"), recursive=True):
            run(["ruby", "-c", rb])
        for erb in glob.glob(os.path.join(MODULES, "novadock", "templates",
                                          "*.erb")):
            code = run(["erb", "-P", "-x", "-T", "-", erb]).stdout
            src = os.path.join(self.root, os.path.basename(erb) + ".rb")
            with open(src, "w") as f:
                f.write(code)
            run(["ruby", "-c", src])

    # -- catalogs ----------------------------------------------------------

    def test_catalog_docker_compute_node(self):
        t0 = time.monotonic()
        cat = self.box("node-3-docker", "3").catalog(
            os.path.join(SCRIPTS, "compute.pp"))
        print("compile: %.1f s" % (time.monotonic() - t0))
        for res in ("Package[docker.io]", "Service[docker]",
                    "Package[novadock-agent]", "Service[novadock-agent]",
                    "Package[python3-novadock-nova]",
                    "File[/etc/novadock/tls/ca.pem]",
                    "File[/var/lib/novadock/images]",
                    "Exec[novadock-certificate-agent]",
                    "Exec[novadock-certificate-nova-compute]",
                    "Exec[novadock-restart-nova-compute]"):
            self.assertIn(res, cat)
        self.assertNotIn("Package[novadock-controller]", cat)
        flags = cat["File[/etc/novadock/agent.flags]"]["content"]
        for line in ("--node_name=node-3", "--listen=192.168.0.5:50051",
                     "--tls_ca=/etc/novadock/tls/ca.pem",
                     "--tls_cert=/etc/novadock/tls/agent.pem",
                     "--tls_key=/etc/novadock/tls/agent-key.pem",
                     "--image_dir=/var/lib/novadock/images",
                     "--max_instances=40",
                     "--glance_endpoint=http://192.168.0.10:9292"):
            self.assertIn(line + "\n", flags)
        cert = cat["Exec[novadock-certificate-agent]"]["command"]
        self.assertTrue(cert.endswith(
            "make-certs.sh /etc/novadock/tls server agent IP:192.168.0.5 "
            "DNS:node-3.test.domain.local"), cert)
        self.assertEqual(cat["File[/etc/novadock/tls/ca.pem]"]["content"],
                         self.ca_cert)
        self.assertEqual(cat["File[/etc/novadock/tls/ca-key.pem]"]["mode"],
                         "0600")
        nova = {p["setting"]: p["value"] for k, p in cat.items()
                if k.startswith("Ini_setting[") and
                p["path"] == "/etc/nova/nova.conf"}
        self.assertEqual(nova["compute_driver"],
                         "novadock.driver.NovaDockDriver")
        self.assertEqual(nova["controller_address"], "192.168.0.2:50050")
        self.assertEqual(nova["nodes"], "node-3")  # Its own node only.
        self.assertEqual(nova["tls_cert"],
                         "/etc/nova/novadock-tls/nova-compute.pem")
        self.assertEqual(nova["reserved_host_memory_mb"], "1024")
        self.assertEqual(nova["reserved_host_vcpus"], "1")
        self.assertEqual(nova["reserved_host_disk_gb"], "5")
        self.assertEqual(cat["Ini_setting[novadock nova-compute.conf "
                             "compute_driver]"]["value"],
                         "novadock.driver.NovaDockDriver")
        # nova joins docker without losing its groups: gpasswd -a, guarded.
        group = cat["Exec[novadock-group-docker-nova]"]
        self.assertEqual(group["command"], "gpasswd -a nova docker")
        self.assertIn("id -nG nova", group["unless"])
        self.assertFalse(any("usermod" in str(p.get("command", ""))
                             for p in cat.values()))

    def test_catalog_settings_change_the_node(self):
        cat = self.box("node-3-notls", "3", tls=False, glance_fetch=False,
                       nova_in_docker_group=False,
                       image_dir="/srv/images").catalog(
            os.path.join(SCRIPTS, "compute.pp"))
        flags = cat["File[/etc/novadock/agent.flags]"]["content"]
        self.assertIn("--listen=127.0.0.1:50051\n", flags)
        self.assertIn("--image_dir=/srv/images\n", flags)
        self.assertNotIn("--tls_", flags)
        self.assertNotIn("--glance_endpoint", flags)
        self.assertIn("File[/srv/images]", cat)
        dropin = cat["File[/etc/systemd/system/novadock-agent.service.d/"
                     "novadock-fuel.conf]"]["content"]
        self.assertIn("\n[Service]\nReadWritePaths=/srv/images\n", dropin)
        self.assertNotIn("Exec[novadock-group-docker-nova]", cat)
        self.assertFalse([k for k in cat if "certificate" in k])
        # A pattern that matches no node: the docker node is left alone.
        cat = self.box("node-3-other-pattern", "3",
                       node_pattern="^gpu-").catalog(
            os.path.join(SCRIPTS, "compute.pp"))
        self.assertEqual(novadock_resources(cat), {})

    def test_catalog_bad_pattern_is_named(self):
        box = self.box("node-3-badpattern", "3", node_pattern="dock(er")
        with self.assertRaises(AssertionError) as ctx:
            box.catalog(os.path.join(SCRIPTS, "compute.pp"))
        self.assertIn("node_pattern 'dock(er' is not a regular expression",
                      str(ctx.exception))

    def test_catalog_tls_without_ca_is_refused(self):
        box = self.box("node-3-noca", "3", tls_ca_cert="")
        with self.assertRaises(AssertionError) as ctx:
            box.catalog(os.path.join(SCRIPTS, "compute.pp"))
        self.assertIn("Deployment CA certificate", str(ctx.exception))

    def test_catalog_other_compute_node_is_empty(self):
        cat = self.box("node-4", "4").catalog(
            os.path.join(SCRIPTS, "compute.pp"))
        self.assertEqual(novadock_resources(cat), {})
        # compute.pp on a controller, controller.pp on node-4: nothing.
        cat = self.box("controller", "1").catalog(
            os.path.join(SCRIPTS, "compute.pp"))
        self.assertEqual(novadock_resources(cat), {})
        cat = self.box("node-4", "4").catalog(
            os.path.join(SCRIPTS, "controller.pp"))
        self.assertEqual(novadock_resources(cat), {})

    def test_catalog_controller(self):
        cat = self.box("controller", "1").catalog(
            os.path.join(SCRIPTS, "controller.pp"))
        for res in ("Package[novadock-controller]",
                    "Service[novadock-controller]",
                    "Exec[novadock-certificate-controller-server]",
                    "Exec[novadock-certificate-controller]",
                    "Exec[novadock-restart-glance-api]"):
            self.assertIn(res, cat)
        for res in ("Package[novadock-agent]", "Package[docker.io]"):
            self.assertNotIn(res, cat)
        # Only the docker-named compute nodes are agents: not node-4, not
        # the cinder node whose name contains docker.
        self.assertEqual(cat["File[/etc/novadock/agents]"]["content"].split(
            "\n", 1)[1], "node-3=192.168.0.5:50051\n"
                         "node-5=192.168.0.7:50051\n")
        flags = cat["File[/etc/novadock/controller.flags]"]["content"]
        for line in ("--listen=192.168.0.2:50050",
                     "--tls_cert=/etc/novadock/tls/controller-server.pem",
                     "--agent_tls_cert=/etc/novadock/tls/controller.pem",
                     "--agents_file=/etc/novadock/agents"):
            self.assertIn(line + "\n", flags)
        formats = cat["Ini_setting[novadock glance-api.conf "
                      "container_formats]"]
        self.assertEqual((formats["path"], formats["section"],
                          formats["setting"]),
                         ("/etc/glance/glance-api.conf", "image_format",
                          "container_formats"))
        self.assertIn("docker", formats["value"].split(","))

    # -- noop on this machine ----------------------------------------------

    def _noop(self, name, uid, manifest):
        t0 = time.monotonic()
        rc, report = self.box(name, uid).noop(os.path.join(SCRIPTS,
                                                           manifest))
        print("%s noop: %.1f s" % (name, time.monotonic() - t0))
        statuses = report.get("resource_statuses") or {}
        failed = [k for k, v in statuses.items() if v.get("failed")]
        self.assertEqual(failed, [], report["_output"][-3000:])
        self.assertNotIn(rc, (1, 4, 6), report["_output"][-3000:])
        changed = {k for k, v in statuses.items() if v.get("out_of_sync")}
        return rc, statuses, changed

    def test_noop_node_4_changes_nothing(self):
        rc, statuses, changed = self._noop("node-4", "4", "compute.pp")
        self.assertEqual(rc, 0)
        self.assertEqual(changed, set())
        # Only Puppet's built-in schedules and filebucket are evaluated.
        self.assertEqual([k for k in statuses if not k.startswith(
            ("Schedule[", "Filebucket["))], [])

    def test_noop_docker_compute_node(self):
        rc, statuses, changed = self._noop("node-3-docker", "3",
                                           "compute.pp")
        self.assertIn("Package[novadock-agent]", statuses)
        self.assertIn("Ini_setting[novadock nova.conf compute_driver]",
                      statuses)
        expect = set()
        for pkg in ("novadock-agent", "python3-novadock-nova"):
            if not dpkg_installed(pkg):
                expect.add("Package[%s]" % pkg)
        for path in ("/etc/novadock/agent.flags", "/etc/novadock/tls/ca.pem"):
            if not os.path.exists(path):
                expect.add("File[%s]" % path)
        if not os.path.exists("/etc/novadock/tls/agent.pem"):
            expect.add("Exec[novadock-certificate-agent]")
        if ini_value("/etc/nova/nova.conf", "DEFAULT", "compute_driver") != \
                "novadock.driver.NovaDockDriver":
            expect.add("Ini_setting[novadock nova.conf compute_driver]")
        try:
            in_docker = "nova" in grp.getgrnam("docker").gr_mem
        except KeyError:
            in_docker = False
        if not in_docker:
            expect.add("Exec[novadock-group-docker-nova]")
        self.assertTrue(expect, "this machine already looks deployed")
        self.assertEqual(expect - changed, set(), sorted(changed))

    def test_noop_controller(self):
        rc, statuses, changed = self._noop("controller", "1",
                                           "controller.pp")
        self.assertIn("Service[novadock-controller]", statuses)
        expect = set()
        if not dpkg_installed("novadock-controller"):
            expect.add("Package[novadock-controller]")
        for path in ("/etc/novadock/controller.flags",):
            if not os.path.exists(path):
                expect.add("File[%s]" % path)
        current = ini_value("/etc/glance/glance-api.conf", "image_format",
                            "container_formats")
        if current is None or "docker" not in [
                f.strip() for f in current.split(",")]:
            expect.add("Ini_setting[novadock glance-api.conf "
                       "container_formats]")
        self.assertEqual(expect - changed, set(), sorted(changed))
        self.assertFalse([k for k in changed if "novadock-agent" in k])

    # -- real applies in a sandbox -----------------------------------------

    def _apply(self, code, name):
        box = Sandbox(self.root, "apply-%s-%d" % (name, time.monotonic_ns()),
                      {})
        out = run(["puppet", "apply", "--color=false", "--detailed-exitcodes",
                   "--hiera_config", box.hiera, "--modulepath", MODULEPATH]
                  + box.puppet_dirs() + ["-e", code], check=False)
        self.assertIn(out.returncode, (0, 2), out.stdout + out.stderr)
        return out.returncode, out.stdout + out.stderr

    def test_apply_group_member_keeps_other_groups(self):
        if os.geteuid() != 0:
            self.fail("needs root (useradd/groupadd)")
        tag = "nd%d" % (os.getpid() % 100000)
        user, target, others = tag + "u", tag + "dock", [tag + "g1",
                                                         tag + "g2"]
        try:
            for g in [target] + others:
                run(["groupadd", "--system", g])
            run(["useradd", "--system", "--no-create-home", "--shell",
                 "/usr/sbin/nologin", "--groups", ",".join(others), user])
            code = ("novadock::group_member { 't': user => '%s', "
                    "group => '%s' }" % (user, target))
            rc, out = self._apply(code, "group")
            self.assertEqual(rc, 2, out)  # Changed something.
            groups = run(["id", "-nG", user]).stdout.split()
            self.assertEqual(sorted(groups),
                             sorted([user] + others + [target]))
            self.assertEqual(pwd.getpwnam(user).pw_gid,
                             grp.getgrnam(user).gr_gid)
            rc, out = self._apply(code, "group")
            self.assertEqual(rc, 0, out)  # Nothing left to do.
        finally:
            run(["userdel", user], check=False)
            for g in [target] + others + [user]:
                run(["groupdel", g], check=False)

    def test_apply_certificates(self):
        tls = os.path.join(self.root, "tls-apply")
        code = """
class { 'novadock::tls':
  ca_cert => %s, ca_key => %s, dir => '%s', group => 'root' }
novadock::certificate { 'agent':
  kind => 'server', dir => '%s', sans => 'IP:192.168.0.5 DNS:node-3.x',
  group => 'root', make_certs => '%s', require => Class['novadock::tls'] }
novadock::certificate { 'nova-compute':
  kind => 'client', dir => '%s', group => 'root', make_certs => '%s',
  require => Class['novadock::tls'] }
""" % (json.dumps(self.ca_cert), json.dumps(self.ca_key), tls, tls,
       MAKE_CERTS, tls, MAKE_CERTS)
        rc, out = self._apply(code, "tls")
        self.assertEqual(rc, 2, out)
        for name in ("agent", "nova-compute"):
            run(["openssl", "verify", "-CAfile", os.path.join(tls, "ca.pem"),
                 os.path.join(tls, name + ".pem")])
            self.assertEqual(os.stat(os.path.join(
                tls, name + "-key.pem")).st_mode & 0o777, 0o640)
        text = run(["openssl", "x509", "-noout", "-text", "-in",
                    os.path.join(tls, "agent.pem")]).stdout
        self.assertIn("IP Address:192.168.0.5", text)
        self.assertIn("DNS:node-3.x", text)
        self.assertEqual(os.stat(os.path.join(tls, "ca-key.pem")).st_mode &
                         0o777, 0o600)
        rc, out = self._apply(code, "tls")
        self.assertEqual(rc, 0, out)

    def test_apply_glance_container_formats(self):
        conf = os.path.join(self.root, "glance-api.conf")
        marker = os.path.join(self.root, "glance-restarted")
        with open(conf, "w") as f:
            f.write("[DEFAULT]\nbind_port = 9292\n[image_format]\n"
                    "disk_formats = raw,qcow2\ncontainer_formats = ami, bare"
                    "\n[glance_store]\nstores = file\n")
        code = """
ini_setting { 'formats':
  ensure => present, path => '%s', section => 'image_format',
  setting => 'container_formats',
  value => novadock_container_formats('%s', 'docker'),
  notify => Exec['restart'] }
exec { 'restart': command => 'touch %s', path => ['/usr/bin', '/bin'],
  refreshonly => true }
""" % (conf, conf, marker)
        rc, out = self._apply(code, "glance")
        self.assertEqual(rc, 2, out)
        self.assertEqual(ini_value(conf, "image_format", "container_formats"),
                         "ami,bare,docker")
        self.assertEqual(ini_value(conf, "image_format", "disk_formats"),
                         "raw,qcow2")
        self.assertEqual(ini_value(conf, "glance_store", "stores"), "file")
        self.assertTrue(os.path.exists(marker), "glance-api not restarted")
        os.remove(marker)
        rc, out = self._apply(code, "glance")
        self.assertEqual(rc, 0, out)
        self.assertFalse(os.path.exists(marker), "restarted for nothing")


def main():
    t0 = time.monotonic()
    result = unittest.TextTestRunner(verbosity=2).run(
        unittest.defaultTestLoader.loadTestsFromModule(sys.modules[__name__]))
    print("fuel_puppet_test: %.1f s" % (time.monotonic() - t0))
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
