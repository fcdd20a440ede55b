#!/usr/bin/python3
"""novadock-controller re-reads --agents_file on SIGHUP: a node added to the
file appears; a broken file changes nothing and the controller keeps
serving. Real controller and agent processes over a private dockerd.
Binaries from NOVADOCK_AGENT_BINARY / NOVADOCK_CONTROLLER_BINARY."""

import os
import signal
import sys
import tempfile
import time
import unittest

import grpc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "py"))
import novadock_testlib as testlib  # noqa: E402

_env = {}


def node_names(stub, pb2):
    return sorted(n.name for n in stub.ListNodes(pb2.ListNodesRequest(),
                                                  timeout=10).nodes)


class SighupTest(unittest.TestCase):

    def setUp(self):
        agent_binary = os.environ["NOVADOCK_AGENT_BINARY"]
        controller_binary = os.environ["NOVADOCK_CONTROLLER_BINARY"]
        self.procs = []
        self.dockerd = testlib.PrivateDockerd()
        self.dockerd.start()
        ports = {}
        for name in ("compute-docker-h1", "compute-docker-h2"):
            proc, ports[name] = testlib.start_agent(
                agent_binary, self.dockerd.host, name)
            self.procs.append(proc)
        self.ports = ports
        self.dir = tempfile.mkdtemp(prefix="ndhup.", dir="/tmp")
        self.agents_file = os.path.join(self.dir, "agents")
        self.write("# the pool\ncompute-docker-h1=127.0.0.1:%d\n" %
                   ports["compute-docker-h1"])
        self.controller, port = testlib.start_controller(
            controller_binary, {},
            extra_args=["--agents_file=" + self.agents_file])
        self.procs.append(self.controller)
        self.s = testlib.stubs()
        self.channel = grpc.insecure_channel("127.0.0.1:%d" % port)
        self.stub = self.s.controller_pb2_grpc.ControllerStub(self.channel)

    def tearDown(self):
        self.channel.close()
        for proc in reversed(self.procs):
            testlib.stop_agent(proc)
        self.dockerd.stop()
        for f in os.listdir(self.dir):
            os.unlink(os.path.join(self.dir, f))
        os.rmdir(self.dir)

    def write(self, text):
        with open(self.agents_file, "w") as f:
            f.write(text)

    def wait_names(self, expected, timeout=10):
        deadline = time.monotonic() + timeout
        names = None
        while time.monotonic() < deadline:
            names = node_names(self.stub, self.s.controller_pb2)
            if names == expected:
                return names
            time.sleep(0.1)
        return names

    def test_sighup_rereads_the_agents_file(self):
        self.assertEqual(node_names(self.stub, self.s.controller_pb2),
                         ["compute-docker-h1"])
        self.write("compute-docker-h1=127.0.0.1:%d\n"
                   "compute-docker-h2=127.0.0.1:%d\n" %
                   (self.ports["compute-docker-h1"],
                    self.ports["compute-docker-h2"]))
        self.controller.send_signal(signal.SIGHUP)
        self.assertEqual(self.wait_names(["compute-docker-h1",
                                          "compute-docker-h2"]),
                         ["compute-docker-h1", "compute-docker-h2"])
        # A broken file: refused, the pool unchanged, still serving.
        self.write("compute-docker-h1=no-port-here\n")
        self.controller.send_signal(signal.SIGHUP)
        refused = False
        deadline = time.monotonic() + 10
        while not refused and time.monotonic() < deadline:
            with open(self.controller.novadock_log) as log:
                refused = "agent list not changed" in log.read()
            if not refused:
                time.sleep(0.1)
        self.assertTrue(refused)
        self.assertIsNone(self.controller.poll())
        self.assertEqual(node_names(self.stub, self.s.controller_pb2),
                         ["compute-docker-h1", "compute-docker-h2"])


def main():
    result = unittest.TextTestRunner(verbosity=2).run(
        unittest.defaultTestLoader.loadTestsFromModule(sys.modules[__name__]))
    failed = len(result.failures) + len(result.errors)
    print("%d passed, %d failed" % (result.testsRun - failed, failed),
          flush=True)
    return 0 if failed == 0 and result.testsRun > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
