#!/usr/bin/python3
"""The Debian packages on this machine: build them with CPack from the build
directory, install them with dpkg -i, start the installed daemons the way
their systemd units would (ExecStart, as the unit's user and groups, with
no new privileges), boot an instance through the installed Nova shim ->
installed controller -> installed agent -> a private dockerd, then purge
and check that nothing is left: files, user, group, directories.

The machine is left as it was even on failure (purge in tearDownClass).
Refuses to run if any novadock package or the novadock user is already
there (it would destroy them). Needs root.

  NOVADOCK_BUILD_DIR   the configured and built build directory
"""

import grp
import json
import os
import pwd
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "py"))
import novadock_testlib as testlib  # noqa: E402

PACKAGES = ("novadock-common", "novadock-agent", "novadock-controller",
            "novadock-glance-loader", "python3-novadock-nova")
UNIT_DIR = "/lib/systemd/system"
SHIM_DIR = "/usr/lib/python3/dist-packages/nova/virt/novadock"
NODE = "pkgtest-docker-1"
IMAGE = "novadock-pkgtest:busybox"
DPKG_LOCK_WAIT_S = 300


def run(argv, timeout=300, check=True, env=None):
    """Runs argv (no shell); returns CompletedProcess with text output."""
    out = subprocess.run(argv, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         close_fds=True, timeout=timeout, env=env, text=True)
    if check and out.returncode != 0:
        raise AssertionError("%s failed (%d):\n%s" %
                             (" ".join(argv), out.returncode, out.stdout))
    return out


def dpkg(args, check=True):
    """dpkg with args, waiting (bounded) while another apt/dpkg holds the
    lock: other work on this machine may be installing packages."""
    deadline = time.monotonic() + DPKG_LOCK_WAIT_S
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    while True:
        out = run(["dpkg"] + args, check=False, env=env)
        locked = out.returncode != 0 and "lock" in out.stdout and (
            "dpkg frontend" in out.stdout or "locked" in out.stdout)
        if not locked or time.monotonic() > deadline:
            break
        time.sleep(2)
    if check and out.returncode != 0:
        raise AssertionError("dpkg %s failed (%d):\n%s" %
                             (" ".join(args), out.returncode, out.stdout))
    return out


def package_status(name):
    out = run(["dpkg-query", "-W", "-f=${db:Status-Status}", name],
              check=False)
    return out.stdout.strip() if out.returncode == 0 else "not-installed"


def unit_service_section(path):
    """The [Service] keys of a unit file (last value wins, as systemd)."""
    values, section = {}, None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith(("#", ";")):
                continue
            if line.startswith("["):
                section = line
                continue
            if section == "[Service]" and "=" in line:
                key, value = line.split("=", 1)
                values[key.strip()] = value.strip()
    return values


def exec_argv(service, hostname):
    """ExecStart as argv, with the specifiers the unit uses expanded."""
    cmd = service["ExecStart"].replace("%H", hostname).replace("%%", "%")
    if re.search(r"%[a-zA-Z]", cmd):
        raise AssertionError("unit uses a specifier this test cannot "
                             "expand: " + cmd)
    return shlex.split(cmd)


def start_as_unit_user(service, argv, log_path):
    """Starts argv as the unit's User/Group/SupplementaryGroups with no new
    privileges and no capabilities (what NoNewPrivileges= and an empty
    CapabilityBoundingSet= give)."""
    user = pwd.getpwnam(service["User"])
    group = grp.getgrnam(service.get("Group", service["User"]))
    extra = [grp.getgrnam(g).gr_gid
             for g in service.get("SupplementaryGroups", "").split()]
    wrapper = ["setpriv", "--reuid=%d" % user.pw_uid,
               "--regid=%d" % group.gr_gid,
               "--groups=" + ",".join(str(g) for g in extra)
               if extra else "--clear-groups",
               "--no-new-privs", "--inh-caps=-all", "--bounding-set=-all",
               "--"]
    log = open(log_path, "wb")
    try:
        return subprocess.Popen(
            wrapper + argv, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, close_fds=True, start_new_session=True,
            cwd="/", env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
                          "LANG": "C.UTF-8"})
    finally:
        log.close()


def proc_status(pid):
    fields = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out after %ss waiting for %s" %
                         (timeout, what))


def tail(path, n=3000):
    try:
        with open(path, "rb") as f:
            return f.read()[-n:].decode("utf-8", "replace")
    except OSError:
        return ""


class PackageInstallTest(unittest.TestCase):
    """One ordered scenario: the steps share the installed state."""

    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0:
            raise AssertionError("needs root (dpkg -i, a private dockerd)")
        for name in PACKAGES:
            status = package_status(name)
            if status != "not-installed":
                raise AssertionError(
                    "%s is already on this machine (%s): this test installs "
                    "and purges it; remove it first" % (name, status))
        for getent in (pwd.getpwnam, grp.getgrnam):
            try:
                getent("novadock")
                raise AssertionError(
                    "user or group novadock exists already: this test "
                    "creates and removes it; remove it first")
            except KeyError:
                pass
        cls.work = tempfile.mkdtemp(prefix="ndpkg.", dir="/tmp")
        os.chmod(cls.work, 0o755)
        cls.debs = {}
        cls.installed = False
        cls.files = {}

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, "installed", False):
            dpkg(["--purge"] + list(PACKAGES), check=False)
        if getattr(cls, "work", None):
            shutil.rmtree(cls.work, ignore_errors=True)

    # -- steps, run in name order ------------------------------------------

    def test_1_build(self):
        build = os.environ["NOVADOCK_BUILD_DIR"]
        out_dir = os.path.join(self.work, "debs")
        t0 = time.monotonic()
        run(["cpack", "-G", "DEB", "-B", out_dir, "--config",
             os.path.join(build, "CPackConfig.cmake")], timeout=600)
        print("cpack: %.1f s" % (time.monotonic() - t0), flush=True)
        for name in PACKAGES:
            found = [f for f in os.listdir(out_dir)
                     if f.startswith(name + "_") and f.endswith(".deb")]
            self.assertEqual(len(found), 1, "%s: %s" % (name, found))
            type(self).debs[name] = os.path.join(out_dir, found[0])
        fields = run(["dpkg-deb", "-f", self.debs["novadock-agent"],
                      "Depends"]).stdout
        # dpkg-shlibdeps found the libraries the binary links.
        for lib in ("libgrpc++1.51", "libprotobuf32", "libcurl4",
                    "libarchive13", "adduser"):
            self.assertIn(lib, fields)
        shim = run(["dpkg-deb", "-f", self.debs["python3-novadock-nova"],
                    "Architecture", "Depends"]).stdout
        self.assertIn("Architecture: all", shim)
        self.assertIn("python3-nova", shim)
        self.assertIn("python3-grpcio", shim)
        contents = run(["dpkg-deb", "-c",
                        self.debs["python3-novadock-nova"]]).stdout
        self.assertIn("./usr/lib/python3/dist-packages/nova/virt/novadock/"
                      "_proto/controller_pb2_grpc.py", contents)
        self.assertNotIn("__pycache__", contents)
        for name, conffiles in (
                ("novadock-agent", ["/etc/novadock/agent.flags"]),
                ("novadock-controller", ["/etc/novadock/controller.flags",
                                         "/etc/novadock/agents"])):
            ctrl = os.path.join(self.work, "ctrl-" + name)
            run(["dpkg-deb", "-e", self.debs[name], ctrl])
            with open(os.path.join(ctrl, "conffiles")) as f:
                self.assertEqual(f.read().split(), conffiles)

    def test_2_install(self):
        self.assertTrue(self.debs, "build step failed")
        type(self).installed = True  # From here on, purge at the end.
        t0 = time.monotonic()
        dpkg(["-i"] + [self.debs[n] for n in PACKAGES])
        print("dpkg -i: %.1f s" % (time.monotonic() - t0), flush=True)
        for name in PACKAGES:
            self.assertEqual(package_status(name), "installed", name)
            type(self).files[name] = [
                p for p in run(["dpkg", "-L", name]).stdout.split()
                if os.path.isfile(p)]
        user = pwd.getpwnam("novadock")
        self.assertLess(user.pw_uid, 1000, "not a system user")
        self.assertEqual(user.pw_shell, "/usr/sbin/nologin")
        self.assertEqual(user.pw_dir, "/var/lib/novadock")
        self.assertEqual(grp.getgrgid(user.pw_gid).gr_name, "novadock")
        self.assertIn("novadock", grp.getgrnam("docker").gr_mem)
        for path, owner, group, mode in (
                ("/var/lib/novadock", "novadock", "novadock", 0o750),
                ("/var/lib/novadock/images", "novadock", "novadock", 0o750),
                ("/etc/novadock/tls", "root", "novadock", 0o750)):
            st = os.stat(path)
            self.assertEqual((pwd.getpwuid(st.st_uid).pw_name,
                              grp.getgrgid(st.st_gid).gr_name,
                              st.st_mode & 0o7777),
                             (owner, group, mode), path)
        for binary in ("novadock-agent", "novadock-controller",
                       "novadock-glance-loader"):
            self.assertTrue(os.access("/usr/bin/" + binary, os.X_OK))
        self.assertTrue(os.path.isfile(os.path.join(SHIM_DIR, "driver.py")))
        # postinst byte-compiled the shim (py3compile).
        self.assertTrue(os.path.isdir(os.path.join(SHIM_DIR, "__pycache__")))
        conffiles = run(["dpkg-query", "-W", "-f=${Conffiles}",
                         "novadock-controller"]).stdout
        self.assertIn("/etc/novadock/agents", conffiles)

    def test_3_units_verify(self):
        if not shutil.which("systemd-analyze"):
            self.fail("systemd-analyze missing (apt-get install systemd)")
        units = [os.path.join(UNIT_DIR, u) for u in
                 ("novadock-agent.service", "novadock-controller.service")]
        out = run(["systemd-analyze", "verify"] + units, check=False)
        ours = [line for line in out.stdout.splitlines()
                if "novadock" in line]
        self.assertEqual(out.returncode, 0, out.stdout)
        self.assertEqual(ours, [], out.stdout)
        for unit in units:
            service = unit_service_section(unit)
            self.assertEqual(service.get("Restart"), "on-failure", unit)
            self.assertEqual(service.get("User"), "novadock", unit)
            self.assertEqual(service.get("NoNewPrivileges"), "yes", unit)
            self.assertEqual(service.get("ProtectSystem"), "strict", unit)
            score = run(["systemd-analyze", "security", "--offline=yes",
                         unit], check=False).stdout
            m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", score)
            self.assertIsNotNone(m, score[-500:])
            print("%s: exposure %s" % (os.path.basename(unit), m.group(1)))
            self.assertLess(float(m.group(1)), 3.0, score[-2000:])

    def test_4_run_and_spawn(self):
        self.assertTrue(self.installed, "install step failed")
        agent_unit = unit_service_section(
            os.path.join(UNIT_DIR, "novadock-agent.service"))
        ctl_unit = unit_service_section(
            os.path.join(UNIT_DIR, "novadock-controller.service"))
        procs = []
        dockerd = testlib.PrivateDockerd()
        dockerd.start()
        try:
            # The novadock user reaches the socket through group docker
            # (dockerd gives its socket to that group); let it traverse.
            os.chmod(dockerd.dir, 0o711)
            sock_group = grp.getgrgid(os.stat(dockerd.sock).st_gid).gr_name
            self.assertEqual(sock_group, "docker")
            archive = self._image_archive(dockerd)

            run_dir = os.path.join(self.work, "run")
            os.mkdir(run_dir)
            novadock = pwd.getpwnam("novadock")
            os.chown(run_dir, novadock.pw_uid, novadock.pw_gid)
            port_file = os.path.join(run_dir, "agent.port")
            # The unit's own command line, then what this test overrides:
            # its private dockerd and a free loopback port.
            argv = exec_argv(agent_unit, NODE) + [
                "--docker_host=" + dockerd.host, "--listen=127.0.0.1:0",
                "--port_file=" + port_file]
            agent = start_as_unit_user(agent_unit, argv,
                                       os.path.join(self.work, "agent.log"))
            procs.append(agent)

            def agent_port():
                if agent.poll() is not None:
                    raise AssertionError("agent exited %s:\n%s" % (
                        agent.returncode, tail(agent_log)))
                try:
                    with open(port_file) as f:
                        text = f.read()
                except OSError:
                    return None
                return int(text) if text.strip().isdigit() else None
            agent_log = os.path.join(self.work, "agent.log")
            port = wait_for(agent_port, 20, "the agent's port file")
            status = proc_status(agent.pid)
            self.assertEqual(status["Uid"].split()[0], str(novadock.pw_uid))
            self.assertIn(str(grp.getgrnam("docker").gr_gid),
                          status["Groups"].split())
            self.assertEqual(status["NoNewPrivs"], "1")
            self.assertEqual(int(status["CapEff"], 16), 0)

            ctl_port = testlib.free_loopback_port()
            argv = exec_argv(ctl_unit, NODE) + [
                "--listen=127.0.0.1:%d" % ctl_port,
                "--agents=%s=127.0.0.1:%d" % (NODE, port)]
            ctl_log = os.path.join(self.work, "controller.log")
            controller = start_as_unit_user(ctl_unit, argv, ctl_log)
            procs.append(controller)

            def ctl_up():
                if controller.poll() is not None:
                    raise AssertionError("controller exited %s:\n%s" % (
                        controller.returncode, tail(ctl_log)))
                return testlib._port_open(ctl_port)
            wait_for(ctl_up, 20, "the controller's port")
            status = proc_status(controller.pid)
            self.assertEqual(status["Uid"].split()[0], str(novadock.pw_uid))
            self.assertEqual(int(status["CapEff"], 16), 0)

            # The installed glance-loader sees the archive the agent will use.
            listing = run(["/usr/bin/novadock-glance-loader",
                           "--docker_host=" + dockerd.host, "list"])
            self.assertIn(os.path.basename(archive), listing.stdout)

            # Nova's loader -> installed shim -> controller -> agent.
            marker = "pkgtest-%d" % os.getpid()
            out = run(["/usr/bin/python3", "-I",
                       os.path.join(HERE, "installed_shim_boot.py"),
                       "--controller", "127.0.0.1:%d" % ctl_port,
                       "--node", NODE, "--image", IMAGE, "--marker", marker],
                      timeout=180, check=False)
            self.assertEqual(out.returncode, 0, out.stdout + "\nagent:\n" +
                             tail(agent_log) + "\ncontroller:\n" +
                             tail(ctl_log))
            seen = json.loads(out.stdout.strip().splitlines()[-1])
            self.assertEqual(seen["driver_module"], "nova.virt.novadock.driver")
            self.assertTrue(seen["driver_file"].startswith(SHIM_DIR + "/"),
                            seen["driver_file"])
            self.assertEqual(seen["nodes"], [NODE])
            self.assertEqual(seen["power_state"], 1)  # RUNNING
            self.assertIn(marker, seen["console"])
            self.assertTrue(seen["listed"])
            self.assertFalse(seen["exists_after_destroy"])
            # The image really came from the node's image directory.
            status, _ = testlib.docker_request(
                dockerd.sock, "GET", dockerd.api + "/images/%s/json" % IMAGE)
            self.assertEqual(status, 200)
        finally:
            for proc in procs:
                testlib.stop_agent(proc)
            dockerd.stop()

    def _image_archive(self, dockerd):
        """Saves the offline busybox image as IMAGE into the installed
        image directory (owned by novadock) and removes it from dockerd, so
        that the agent must load it from there."""
        testlib.import_busybox_image(dockerd.sock, *IMAGE.split(":"))
        status, data = testlib.docker_request(
            dockerd.sock, "GET", dockerd.api + "/images/%s/get" % IMAGE,
            timeout=60)
        self.assertEqual(status, 200, data[:300])
        path = "/var/lib/novadock/images/pkgtest.tar"
        with open(path, "wb") as f:
            f.write(data)
        novadock = pwd.getpwnam("novadock")
        os.chown(path, novadock.pw_uid, novadock.pw_gid)
        os.chmod(path, 0o640)
        status, data = testlib.docker_request(
            dockerd.sock, "DELETE", dockerd.api + "/images/%s" % IMAGE)
        self.assertEqual(status, 200, data[:300])
        return path

    def test_5_purge(self):
        self.assertTrue(self.installed, "install step failed")
        t0 = time.monotonic()
        dpkg(["--purge"] + list(PACKAGES))
        print("dpkg --purge: %.1f s" % (time.monotonic() - t0), flush=True)
        type(self).installed = False
        for name in PACKAGES:
            self.assertEqual(package_status(name), "not-installed", name)
            left = [p for p in self.files.get(name, []) if
                    os.path.lexists(p)]
            self.assertEqual(left, [], name)
        for path in ("/var/lib/novadock", "/etc/novadock", SHIM_DIR,
                     "/etc/systemd/system/multi-user.target.wants/"
                     "novadock-agent.service",
                     "/var/lib/systemd/deb-systemd-helper-enabled/"
                     "novadock-agent.service.dsh-also"):
            self.assertFalse(os.path.lexists(path), path)
        self.assertRaises(KeyError, pwd.getpwnam, "novadock")
        self.assertRaises(KeyError, grp.getgrnam, "novadock")
        self.assertNotIn("novadock", grp.getgrnam("docker").gr_mem)


def main():
    t0 = time.monotonic()
    loader = unittest.defaultTestLoader
    result = unittest.TextTestRunner(verbosity=2, failfast=True).run(
        loader.loadTestsFromTestCase(PackageInstallTest))
    print("package_install_test: %.1f s" % (time.monotonic() - t0))
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
