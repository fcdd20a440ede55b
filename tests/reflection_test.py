#!/usr/bin/python3
"""novadock-agent through server reflection only, the way grpcurl sees it.

Knows none of novadock's .proto files: it carries only the public
grpc.reflection.v1alpha API (tests/py/reflection.proto), asks the agent for
its services and file descriptors, builds message classes from those with
descriptor_pool + message_factory, and calls Health/Check and Agent/GetNode
with them. Then it stops dockerd and expects Health to turn NOT_SERVING.

Starts its own private dockerd and agent. Run with Debian's python:
  /usr/bin/python3 tests/reflection_test.py \
      --agent-binary BUILD/agent/novadock-agent
The last line printed is 'N passed, N failed'; the exit code is non-zero on
any failure.
"""

import argparse
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "py"))

import grpc  # noqa: E402
from google.protobuf import descriptor_pb2  # noqa: E402
from google.protobuf import descriptor_pool  # noqa: E402
from google.protobuf import message_factory  # noqa: E402

import novadock_testlib as testlib  # noqa: E402

AGENT_SERVICE = "novadock.v1.Agent"
HEALTH_SERVICE = "grpc.health.v1.Health"
REFLECTION_SERVICE = "grpc.reflection.v1alpha.ServerReflection"
NODE_NAME = "docker-reflection-test"
CALL_TIMEOUT_S = 10
NOT_SERVING_WAIT_S = 15  # The agent pings dockerd every 5 s by default.

AGENT_BINARY = None  # Set by main() from --agent-binary.
_env = {}


def _reflection_stubs():
    py_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "py")
    testlib.generate_stubs(py_dir, ["reflection.proto"])
    import reflection_pb2
    import reflection_pb2_grpc
    return reflection_pb2, reflection_pb2_grpc


def setUpModule():
    if not AGENT_BINARY or not os.access(AGENT_BINARY, os.X_OK):
        raise RuntimeError("--agent-binary %r is not an executable" %
                           AGENT_BINARY)
    dockerd = testlib.PrivateDockerd()
    dockerd.start()
    _env["dockerd"] = dockerd
    try:
        proc, port = testlib.start_agent(AGENT_BINARY, dockerd.host, NODE_NAME)
    except Exception:
        dockerd.stop()
        raise
    _env["agent"] = proc
    _env["channel"] = grpc.insecure_channel("127.0.0.1:%d" % port)
    grpc.channel_ready_future(_env["channel"]).result(timeout=10)


def tearDownModule():
    channel = _env.pop("channel", None)
    if channel is not None:
        channel.close()
    agent = _env.pop("agent", None)
    if agent is not None:
        rc = testlib.stop_agent(agent)
        if rc != 0:
            print("novadock-agent exited with %s" % rc, file=sys.stderr)
    dockerd = _env.pop("dockerd", None)
    if dockerd is not None:
        dockerd.stop()


class ReflectionClient:
    """A grpcurl-like client: one ServerReflectionInfo stream per request."""

    def __init__(self, channel):
        self.pb2, pb2_grpc = _reflection_stubs()
        self.stub = pb2_grpc.ServerReflectionStub(channel)

    def ask(self, **request):
        req = self.pb2.ServerReflectionRequest(**request)
        responses = list(self.stub.ServerReflectionInfo(
            iter([req]), timeout=CALL_TIMEOUT_S))
        if len(responses) != 1:
            raise AssertionError("%d responses to %s" % (len(responses),
                                                         request))
        return responses[0]

    def list_services(self):
        resp = self.ask(list_services="*")
        if resp.WhichOneof("message_response") != "list_services_response":
            raise AssertionError("list_services: %s" % resp)
        return [s.name for s in resp.list_services_response.service]

    def _files(self, resp, what):
        kind = resp.WhichOneof("message_response")
        if kind != "file_descriptor_response":
            raise LookupError("%s: %s %s" % (what, kind, resp.error_response))
        files = []
        for raw in resp.file_descriptor_response.file_descriptor_proto:
            fdp = descriptor_pb2.FileDescriptorProto()
            fdp.ParseFromString(raw)
            files.append(fdp)
        return files

    def files_for_symbol(self, symbol):
        """The file defining `symbol` and all its dependencies, the missing
        ones fetched with file_by_filename; dependencies first."""
        found = {}
        for fdp in self._files(self.ask(file_containing_symbol=symbol),
                               symbol):
            found.setdefault(fdp.name, fdp)
        pending = [d for f in list(found.values()) for d in f.dependency]
        while pending:
            name = pending.pop()
            if name in found:
                continue
            for fdp in self._files(self.ask(file_by_filename=name), name):
                if fdp.name not in found:
                    found[fdp.name] = fdp
                    pending.extend(fdp.dependency)
        ordered, seen = [], set()

        def visit(name):
            if name in seen:
                return
            seen.add(name)
            for dep in found[name].dependency:
                visit(dep)
            ordered.append(found[name])

        for name in sorted(found):
            visit(name)
        return ordered


class DynamicMessages:
    """Message classes built from reflected descriptors only."""

    def __init__(self):
        self.pool = descriptor_pool.DescriptorPool()
        self._added = set()
        self._factory = None
        if not hasattr(message_factory, "GetMessageClass"):
            self._factory = message_factory.MessageFactory(self.pool)

    def add(self, file_protos):
        for fdp in file_protos:
            if fdp.name not in self._added:
                self.pool.Add(fdp)
                self._added.add(fdp.name)

    def message_class(self, descriptor):
        if self._factory is None:
            return message_factory.GetMessageClass(descriptor)
        return self._factory.GetPrototype(descriptor)

    def unary_call(self, channel, service, method, fields=None):
        """Calls /service/method with a request built from the dict
        `fields`."""
        service_desc = self.pool.FindServiceByName(service)
        method_desc = service_desc.methods_by_name[method]
        request_cls = self.message_class(method_desc.input_type)
        response_cls = self.message_class(method_desc.output_type)
        call = channel.unary_unary(
            "/%s/%s" % (service, method),
            request_serializer=request_cls.SerializeToString,
            response_deserializer=response_cls.FromString)
        return call(request_cls(**(fields or {})), timeout=CALL_TIMEOUT_S)


class ReflectionTest(unittest.TestCase):
    """Ordered by name: test_z_* stops dockerd and must run last."""

    @classmethod
    def setUpClass(cls):
        cls.channel = _env["channel"]
        cls.reflection = ReflectionClient(cls.channel)
        cls.messages = DynamicMessages()

    def _health_status(self, service=""):
        self.messages.add(self.reflection.files_for_symbol(HEALTH_SERVICE))
        resp = self.messages.unary_call(self.channel, HEALTH_SERVICE, "Check",
                                        {"service": service})
        enum = resp.DESCRIPTOR.fields_by_name["status"].enum_type
        return enum.values_by_number[resp.status].name

    def test_a_list_services(self):
        services = self.reflection.list_services()
        for want in (AGENT_SERVICE, HEALTH_SERVICE, REFLECTION_SERVICE):
            self.assertIn(want, services)

    def test_b_describe_agent_and_health(self):
        agent_files = self.reflection.files_for_symbol(AGENT_SERVICE)
        self.assertIn("novadock/v1/agent.proto",
                      [f.name for f in agent_files])
        self.assertIn("novadock/v1/types.proto",
                      [f.name for f in agent_files])
        self.messages.add(agent_files)
        agent = self.messages.pool.FindServiceByName(AGENT_SERVICE)
        for method in ("GetNode", "CreateInstance", "DeleteInstance",
                       "WatchEvents"):
            self.assertIn(method, agent.methods_by_name)
        agent_proto = next(f for f in agent_files
                           if f.name == "novadock/v1/agent.proto")
        watch = next(m for s in agent_proto.service if s.name == "Agent"
                     for m in s.method if m.name == "WatchEvents")
        self.assertTrue(watch.server_streaming)
        health_files = self.reflection.files_for_symbol(HEALTH_SERVICE)
        self.messages.add(health_files)
        health = self.messages.pool.FindServiceByName(HEALTH_SERVICE)
        self.assertIn("Check", health.methods_by_name)

    def test_c_method_symbol_and_unknown_symbol(self):
        files = self.reflection.files_for_symbol(AGENT_SERVICE + ".GetNode")
        self.assertIn("novadock/v1/agent.proto", [f.name for f in files])
        resp = self.reflection.ask(file_containing_symbol="novadock.v1.Nope")
        self.assertEqual(resp.WhichOneof("message_response"), "error_response")
        self.assertEqual(resp.error_response.error_code,
                         grpc.StatusCode.NOT_FOUND.value[0])

    def test_d_health_serving(self):
        self.assertEqual(self._health_status(""), "SERVING")
        self.assertEqual(self._health_status(AGENT_SERVICE), "SERVING")

    def test_e_get_node(self):
        self.messages.add(self.reflection.files_for_symbol(AGENT_SERVICE))
        node = self.messages.unary_call(self.channel, AGENT_SERVICE, "GetNode")
        self.assertEqual(node.name, NODE_NAME)
        self.assertGreater(node.capacity.vcpus, 0)
        self.assertGreater(node.capacity.memory_mb, 0)
        self.assertTrue(node.docker_version, "docker_version empty")
        # Not a generated class: it came from the reflected descriptors.
        self.assertEqual(node.DESCRIPTOR.file.pool, self.messages.pool)

    def test_z_health_not_serving_without_dockerd(self):
        self.assertEqual(self._health_status(""), "SERVING")
        _env["dockerd"].kill_daemon()
        deadline = time.monotonic() + NOT_SERVING_WAIT_S
        status = None
        while time.monotonic() < deadline:
            status = self._health_status("")
            if status == "NOT_SERVING":
                break
            time.sleep(0.25)
        self.assertEqual(status, "NOT_SERVING",
                         "Health still %s %ss after dockerd stopped" %
                         (status, NOT_SERVING_WAIT_S))
        self.assertEqual(self._health_status(AGENT_SERVICE), "NOT_SERVING")


def main():
    global AGENT_BINARY
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agent-binary",
                        default=os.environ.get("NOVADOCK_AGENT_BINARY"),
                        help="path of novadock-agent")
    args, rest = parser.parse_known_args()
    AGENT_BINARY = args.agent_binary
    suite = unittest.defaultTestLoader.loadTestsFromModule(
        sys.modules[__name__])
    if rest:
        suite = unittest.TestSuite(
            t for t in _flatten(suite) if any(r in t.id() for r in rest))
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    failed = (len(result.failures) + len(result.errors) +
              len(result.unexpectedSuccesses))
    failing_cases = {id(t) for t, _ in result.failures + result.errors
                     if isinstance(t, unittest.TestCase)}
    passed = result.testsRun - len(failing_cases) - len(result.skipped)
    sys.stderr.flush()
    print("%d passed, %d failed" % (passed, failed), flush=True)
    return 0 if failed == 0 and result.testsRun > 0 else 1


def _flatten(suite):
    for t in suite:
        if isinstance(t, unittest.TestSuite):
            yield from _flatten(t)
        else:
            yield t


if __name__ == "__main__":
    sys.exit(main())
