#!/usr/bin/python3
"""The operators' view of the controller, as grpcurl sees it: a client that
knows no proto file lists the services through server reflection, calls
grpc.health.v1.Health/Check, lists the nodes and drains one. Against a real
novadock-controller over a real novadock-agent and a private dockerd.

Binaries from NOVADOCK_AGENT_BINARY and NOVADOCK_CONTROLLER_BINARY (CTest
sets them). The last line printed is 'N passed, N failed'.
"""

import os
import sys
import unittest

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "py"))
import novadock_testlib as testlib  # noqa: E402
import reflection_test as rt  # noqa: E402  (its reflection client)

NODE = "compute-docker-refl"
_env = {}


def setUpModule():
    agent_binary = os.environ.get("NOVADOCK_AGENT_BINARY", "")
    controller_binary = os.environ.get("NOVADOCK_CONTROLLER_BINARY", "")
    for b in (agent_binary, controller_binary):
        if not os.access(b, os.X_OK):
            raise RuntimeError("binary %r is not executable" % b)
    dockerd = testlib.PrivateDockerd()
    dockerd.start()
    _env["dockerd"] = dockerd
    agent, agent_port = testlib.start_agent(agent_binary, dockerd.host, NODE)
    _env["agent"] = agent
    controller, port = testlib.start_controller(
        controller_binary, {NODE: agent_port},
        extra_args=["--check_interval_seconds=1"])
    _env["controller"] = controller
    _env["channel"] = grpc.insecure_channel("127.0.0.1:%d" % port)
    grpc.channel_ready_future(_env["channel"]).result(timeout=10)


def tearDownModule():
    channel = _env.pop("channel", None)
    if channel is not None:
        channel.close()
    for name in ("controller", "agent"):
        proc = _env.pop(name, None)
        if proc is not None:
            testlib.stop_agent(proc)
    dockerd = _env.pop("dockerd", None)
    if dockerd is not None:
        dockerd.stop()


class ControllerReflectionTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        channel = _env["channel"]
        cls.reflection = rt.ReflectionClient(channel)
        cls.messages = rt.DynamicMessages()
        for symbol in ("novadock.v1.Controller", "grpc.health.v1.Health"):
            cls.messages.add(cls.reflection.files_for_symbol(symbol))

    def call(self, service, method, fields=None):
        return self.messages.unary_call(_env["channel"], service, method,
                                        fields)

    def test_a_lists_services(self):
        services = self.reflection.list_services()
        self.assertIn("novadock.v1.Controller", services)
        self.assertIn("grpc.health.v1.Health", services)

    def test_b_health(self):
        resp = self.call("grpc.health.v1.Health", "Check", {"service": ""})
        self.assertEqual(resp.status, 1)  # SERVING

    def test_c_list_nodes_and_drain(self):
        resp = self.call("novadock.v1.Controller", "ListNodes")
        names = [n.name for n in resp.nodes]
        self.assertEqual(names, [NODE])
        self.assertGreater(resp.nodes[0].capacity.vcpus, 0)
        drained = self.call("novadock.v1.Controller", "DrainNode",
                            {"name": NODE})
        # Empty, so drained at once (NODE_STATE_DRAINED = 3).
        self.assertEqual(drained.state, 3)
        self.assertTrue(drained.drain_requested)
        again = self.call("novadock.v1.Controller", "GetNode", {"name": NODE})
        self.assertEqual(again.state, 3)
        back = self.call("novadock.v1.Controller", "UndrainNode",
                         {"name": NODE})
        self.assertEqual(back.state, 1)  # ACTIVE

    def test_d_unknown_node_is_not_found(self):
        with self.assertRaises(grpc.RpcError) as err:
            self.call("novadock.v1.Controller", "GetNode", {"name": "nope"})
        self.assertEqual(err.exception.code(), grpc.StatusCode.NOT_FOUND)
        self.assertIn("nope", err.exception.details())


def main():
    result = unittest.TextTestRunner(verbosity=2).run(
        unittest.defaultTestLoader.loadTestsFromModule(sys.modules[__name__]))
    failed = len(result.failures) + len(result.errors)
    print("%d passed, %d failed" % (result.testsRun - failed, failed),
          flush=True)
    return 0 if failed == 0 and result.testsRun > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
