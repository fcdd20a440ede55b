#!/usr/bin/python3
"""Bad and hostile input for every request field of novadock.v1.Agent and
novadock.v1.Controller (issue "Proof under faults and bad input", part 3).

A table of cases, each sent to a real agent and a real controller (over a
private dockerd) as a plain gRPC call without the services' own client
code: requests are built with generated message classes, or, where Python's
protobuf refuses the value (non-UTF-8 in a string field), hand-serialized
bytes sent through a generic channel.unary_unary. Each case expects a code
(INVALID_ARGUMENT for bad values, RESOURCE_EXHAUSTED for messages over the
servers' 4 MiB limit) and the field's name in the message. After every case
the server must still answer, and after all of them no container may
exist.

The same hostile values also go through the Nova shim (nova.virt.novadock,
real Nova objects, under eventlet) in tests/bad_input_shim_test.py.

Binaries from NOVADOCK_AGENT_BINARY / NOVADOCK_CONTROLLER_BINARY; run with
/usr/bin/python3.
"""

import json
import os
import subprocess
import sys
import time
import unittest

import grpc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "py"))
import novadock_testlib as tl  # noqa: E402

NODE = "compute-docker-b1"
UUID = "3f2a1c9e-0b7d-4e52-9a1f-2c3d4e5f6a7b"
GLANCE_ID = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
MARK = "Qz7Xw9Kp"  # Replaced by non-UTF-8 bytes after serializing.
NOT_UTF8 = b"\xff\xfe\xc0\xaf\xed\xa0\x80\x80"  # Same length as MARK.
INT64_MAX = 2 ** 63 - 1
INT32_MAX = 2 ** 31 - 1
MB = 1 << 20

s = tl.stubs()
a_pb, c_pb, t_pb = s.agent_pb2, s.controller_pb2, s.types_pb2


def create_request(**overrides):
    """A valid CreateInstanceRequest (it would boot), then `overrides`:
    field=value, or field=callable(request) for nested and map fields."""
    r = a_pb.CreateInstanceRequest(uuid=UUID, name="instance-0000002a")
    r.image.name = tl.TEST_IMAGE
    r.flavor.name = "m1.tiny"
    r.flavor.memory_mb = 64
    r.flavor.vcpus = 1
    r.command.extend(["sleep", "1000"])
    for key, value in overrides.items():
        if callable(value):
            value(r)
        else:
            setattr(r, key, value)
    return r


def non_utf8(message, setter):
    """`message` serialized with `setter` (which puts MARK into one string
    field) and MARK replaced by non-UTF-8 bytes."""
    setter(message)
    data = message.SerializeToString()
    assert data.count(MARK.encode()) == 1, "MARK must occur once"
    return data.replace(MARK.encode(), NOT_UTF8)


def spawn(create):
    r = c_pb.SpawnRequest()
    r.instance.CopyFrom(create)
    return r


def fl(field, value):
    def set_it(r):
        setattr(r.flavor, field, value)
    return set_it


def img(field, value):
    def set_it(r):
        setattr(r.image, field, value)
    return set_it


def mapping(field, entries):
    def set_it(r):
        getattr(r, field).update(entries)
    return set_it


def no_image(r):
    r.ClearField("image")


def no_flavor(r):
    r.ClearField("flavor")


def cmd(*args):
    def set_it(r):
        del r.command[:]
        r.command.extend(args)
    return set_it


INVALID = grpc.StatusCode.INVALID_ARGUMENT
TOO_BIG = grpc.StatusCode.RESOURCE_EXHAUSTED

# (case name, CreateInstanceRequest or raw bytes of one, field named)
CREATE_CASES = [
    ("uuid empty", create_request(uuid=""), "uuid"),
    ("uuid not a uuid", create_request(uuid="not-a-uuid"), "uuid"),
    ("uuid uppercase", create_request(uuid=UUID.upper()), "uuid"),
    ("uuid path traversal", create_request(uuid="../../etc/passwd"), "uuid"),
    ("uuid huge", create_request(uuid="a" * MB), "uuid"),
    ("uuid non-UTF-8",
     non_utf8(create_request(), lambda r: setattr(r, "uuid", MARK)),
     "CreateInstanceRequest.uuid"),
    ("name empty", create_request(name=""), "name"),
    ("name path traversal", create_request(name="../../etc/passwd"), "name"),
    ("name slash", create_request(name="a/b"), "name"),
    ("name NUL", create_request(name="inst\x00ance"), "name"),
    ("name huge", create_request(name="n" * 300), "name"),
    ("name non-UTF-8",
     non_utf8(create_request(), lambda r: setattr(r, "name", MARK)),
     "CreateInstanceRequest.name"),
    ("image missing", create_request(image=no_image), "image"),
    ("image empty", create_request(image=img("name", "")), "image"),
    ("image.name path traversal",
     create_request(image=img("name", "../../../etc/shadow")), "image.name"),
    ("image.name control chars",
     create_request(image=img("name", "busybox\r\nX-Evil: 1")), "image.name"),
    ("image.name huge", create_request(image=img("name", "b" * 4096)),
     "image.name"),
    ("image.name non-UTF-8",
     non_utf8(create_request(), lambda r: setattr(r.image, "name", MARK)),
     "ImageRef.name"),
    ("image.glance_id traversal",
     create_request(image=img("glance_id", "../" + GLANCE_ID)),
     "image.glance_id"),
    ("image.checksum not hex",
     create_request(image=img("checksum", "z" * 32)), "image.checksum"),
    ("image.os_hash_algo unknown",
     create_request(image=lambda r: (setattr(r.image, "os_hash_algo", "rot13"),
                                     setattr(r.image, "os_hash_value", "ab"))),
     "image.os_hash_algo"),
    ("image.properties key non-UTF-8",
     non_utf8(create_request(),
              lambda r: r.image.properties.update({MARK: "v"})),
     "ImageRef.PropertiesEntry.key"),
    ("image.properties too many",
     create_request(image=lambda r: r.image.properties.update(
         {"p%d" % i: "v" for i in range(200)})), "image.properties"),
    ("flavor missing", create_request(flavor=no_flavor), "flavor"),
    ("flavor.memory_mb negative", create_request(flavor=fl("memory_mb", -1)),
     "flavor.memory_mb"),
    ("flavor.memory_mb zero", create_request(flavor=fl("memory_mb", 0)),
     "flavor.memory_mb"),
    ("flavor.memory_mb overflowing",
     create_request(flavor=fl("memory_mb", INT64_MAX)), "flavor.memory_mb"),
    ("flavor.vcpus negative", create_request(flavor=fl("vcpus", -4)),
     "flavor.vcpus"),
    ("flavor.vcpus overflowing",
     create_request(flavor=fl("vcpus", INT32_MAX)), "flavor.vcpus"),
    ("flavor.disk_gb negative", create_request(flavor=fl("disk_gb", -1)),
     "flavor.disk_gb"),
    ("flavor.disk_gb overflowing",
     create_request(flavor=fl("disk_gb", INT64_MAX)), "flavor.disk_gb"),
    ("flavor.name NUL", create_request(flavor=fl("name", "m1\x00")),
     "flavor.name"),
    ("hostname leading dash", create_request(hostname="-bad"), "hostname"),
    ("hostname empty label", create_request(hostname="a..b"), "hostname"),
    ("hostname huge", create_request(hostname="h" * 100), "hostname"),
    ("hostname traversal", create_request(hostname="../etc"), "hostname"),
    ("env key with =", create_request(env=mapping("env", {"A=B": "1"})),
     "env"),
    ("env key with NUL", create_request(env=mapping("env", {"A\x00B": "1"})),
     "env"),
    ("env key empty", create_request(env=mapping("env", {"": "1"})), "env"),
    ("env key digit first", create_request(env=mapping("env", {"1A": "1"})),
     "env"),
    ("env value NUL", create_request(env=mapping("env", {"A": "x\x00y"})),
     "env[A]"),
    ("env value huge",
     create_request(env=mapping("env", {"A": "v" * (40 << 10)})), "env[A]"),
    ("env too many",
     create_request(env=mapping("env", {"K%d" % i: "v" for i in range(300)})),
     "env"),
    ("env key non-UTF-8",
     non_utf8(create_request(), lambda r: r.env.update({MARK: "v"})),
     "CreateInstanceRequest.EnvEntry.key"),
    ("command empty argv0", create_request(command=cmd("")), "command[0]"),
    ("command NUL", create_request(command=cmd("sleep", "1\x00")),
     "command[1]"),
    ("command too many", create_request(command=cmd(*(["x"] * 300))),
     "command"),
    ("command huge arg", create_request(command=cmd("x" * (40 << 10))),
     "command[0]"),
    ("metadata too many",
     create_request(metadata=mapping("metadata",
                                     {"k%d" % i: "v" for i in range(200)})),
     "metadata"),
    ("metadata value huge (1 MiB)",
     create_request(metadata=mapping("metadata", {"k": "v" * MB})),
     "metadata[k]"),
    ("metadata key empty",
     create_request(metadata=mapping("metadata", {"": "v"})), "metadata"),
    ("metadata value non-UTF-8",
     non_utf8(create_request(), lambda r: r.metadata.update({"k": MARK})),
     "CreateInstanceRequest.MetadataEntry.value"),
    ("auth_token header injection",
     create_request(auth_token="tok\r\nX-Evil: 1"), "auth_token"),
    ("auth_token huge", create_request(auth_token="t" * (64 << 10)),
     "auth_token"),
]

# 10 MiB of metadata: over every server's 4 MiB receive limit.
HUGE_CREATE = create_request(
    metadata=mapping("metadata", {"k%d" % i: "v" * MB for i in range(10)}))


def agent_cases():
    """(rpc, request or raw bytes, response class, code, field)."""
    out = []
    for name, req, field in CREATE_CASES:
        out.append(("CreateInstance " + name, "CreateInstance", req,
                    t_pb.Instance, INVALID, field))
    out.append(("CreateInstance 10 MiB metadata", "CreateInstance",
                HUGE_CREATE, t_pb.Instance, TOO_BIG, "larger than"))
    for rpc, cls in (("DeleteInstance", a_pb.DeleteInstanceRequest),
                     ("StopInstance", a_pb.StopInstanceRequest),
                     ("RebootInstance", a_pb.StopInstanceRequest)):
        resp = a_pb.DeleteInstanceResponse if rpc == "DeleteInstance" \
            else t_pb.Instance
        out += [
            (rpc + " uuid traversal", rpc, cls(uuid="../../x"), resp, INVALID,
             "uuid"),
            (rpc + " grace negative", rpc,
             cls(uuid=UUID, grace_period_seconds=-1), resp, INVALID,
             "grace_period_seconds"),
            (rpc + " grace overflowing", rpc,
             cls(uuid=UUID, grace_period_seconds=INT32_MAX), resp, INVALID,
             "grace_period_seconds"),
        ]
    for rpc in ("StartInstance", "PauseInstance", "UnpauseInstance",
                "GetInstance", "GetInstanceStats"):
        resp = t_pb.InstanceStats if rpc == "GetInstanceStats" \
            else t_pb.Instance
        out += [
            (rpc + " uuid empty", rpc, a_pb.InstanceRequest(), resp, INVALID,
             "uuid"),
            (rpc + " uuid non-UTF-8", rpc,
             non_utf8(a_pb.InstanceRequest(),
                      lambda r: setattr(r, "uuid", MARK)), resp, INVALID,
             "InstanceRequest.uuid"),
        ]
    out += [
        ("GetConsoleOutput max_bytes negative", "GetConsoleOutput",
         a_pb.GetConsoleOutputRequest(uuid=UUID, max_bytes=-1),
         a_pb.GetConsoleOutputResponse, INVALID, "max_bytes"),
        ("GetConsoleOutput max_bytes overflowing", "GetConsoleOutput",
         a_pb.GetConsoleOutputRequest(uuid=UUID, max_bytes=INT64_MAX),
         a_pb.GetConsoleOutputResponse, INVALID, "max_bytes"),
        ("LoadImage file_name traversal", "LoadImage",
         a_pb.LoadImageRequest(file_name="../../etc/passwd"),
         a_pb.LoadImageResponse, INVALID, "file_name"),
        ("LoadImage file_name absolute", "LoadImage",
         a_pb.LoadImageRequest(file_name="/etc/passwd.tar"),
         a_pb.LoadImageResponse, INVALID, "file_name"),
        ("LoadImage nothing", "LoadImage", a_pb.LoadImageRequest(),
         a_pb.LoadImageResponse, INVALID, "file_name"),
        ("LoadImage glance_id traversal", "LoadImage",
         a_pb.LoadImageRequest(glance_id="../x"), a_pb.LoadImageResponse,
         INVALID, "glance_id"),
        ("LoadImage auth_token injection", "LoadImage",
         a_pb.LoadImageRequest(glance_id=GLANCE_ID,
                               auth_token="t\r\nX-Evil: 1"),
         a_pb.LoadImageResponse, INVALID, "auth_token"),
        ("RemoveImage ref traversal", "RemoveImage",
         a_pb.RemoveImageRequest(ref="../../etc/passwd"),
         a_pb.RemoveImageResponse, INVALID, "ref"),
        ("RemoveImage glance_id bad", "RemoveImage",
         a_pb.RemoveImageRequest(glance_id="x/../y"),
         a_pb.RemoveImageResponse, INVALID, "glance_id"),
        ("SnapshotInstance image_name traversal", "SnapshotInstance",
         a_pb.SnapshotInstanceRequest(uuid=UUID, image_name="../../x"),
         a_pb.SnapshotInstanceResponse, INVALID, "image_name"),
        ("SnapshotInstance glance_image_id bad", "SnapshotInstance",
         a_pb.SnapshotInstanceRequest(uuid=UUID, glance_image_id="nope"),
         a_pb.SnapshotInstanceResponse, INVALID, "glance_image_id"),
        ("SnapshotInstance auth_token injection", "SnapshotInstance",
         a_pb.SnapshotInstanceRequest(uuid=UUID, auth_token="a\nb"),
         a_pb.SnapshotInstanceResponse, INVALID, "auth_token"),
    ]
    return out


def controller_cases():
    out = []
    for name, req, field in CREATE_CASES:
        if isinstance(req, bytes):
            raw = c_pb.SpawnRequest()
            # Field 1 (instance), length-delimited, then the raw request.
            payload = bytes([0x0a]) + _varint(len(req)) + req
            out.append(("Spawn " + name, "Spawn", payload, t_pb.Instance,
                        INVALID, field))
            del raw
        else:
            out.append(("Spawn " + name, "Spawn", spawn(req), t_pb.Instance,
                        INVALID, field))
    out += [
        ("Spawn 10 MiB metadata", "Spawn", spawn(HUGE_CREATE), t_pb.Instance,
         TOO_BIG, "larger than"),
        ("Spawn node traversal", "Spawn",
         c_pb.SpawnRequest(instance=create_request(), node="../../x"),
         t_pb.Instance, INVALID, "node"),
    ]
    for rpc in ("Destroy", "Reboot", "PowerOn", "PowerOff", "Pause",
                "Unpause", "GetInstance"):
        resp = a_pb.DeleteInstanceResponse if rpc == "Destroy" \
            else t_pb.Instance
        out += [
            (rpc + " uuid traversal", rpc,
             c_pb.InstanceCallRequest(uuid="../../x"), resp, INVALID, "uuid"),
            (rpc + " uuid non-UTF-8", rpc,
             non_utf8(c_pb.InstanceCallRequest(),
                      lambda r: setattr(r, "uuid", MARK)), resp, INVALID,
             "InstanceCallRequest.uuid"),
            (rpc + " node traversal", rpc,
             c_pb.InstanceCallRequest(uuid=UUID, node="../x"), resp, INVALID,
             "node"),
            (rpc + " grace negative", rpc,
             c_pb.InstanceCallRequest(uuid=UUID, grace_period_seconds=-1),
             resp, INVALID, "grace_period_seconds"),
            (rpc + " grace overflowing", rpc,
             c_pb.InstanceCallRequest(uuid=UUID,
                                      grace_period_seconds=INT32_MAX),
             resp, INVALID, "grace_period_seconds"),
        ]
    for rpc, cls in (("GetNode", c_pb.NodeNameRequest),
                     ("DrainNode", c_pb.DrainNodeRequest),
                     ("UndrainNode", c_pb.UndrainNodeRequest)):
        out += [
            (rpc + " name empty", rpc, cls(), c_pb.NodeStatus, INVALID,
             "name"),
            (rpc + " name traversal", rpc, cls(name="../../etc"),
             c_pb.NodeStatus, INVALID, "name"),
            (rpc + " name non-UTF-8", rpc,
             non_utf8(cls(), lambda r: setattr(r, "name", MARK)),
             c_pb.NodeStatus, INVALID, cls.DESCRIPTOR.name + ".name"),
        ]
    out += [
        ("ListInstances node traversal", "ListInstances",
         c_pb.ControllerListInstancesRequest(node="../x"),
         c_pb.ControllerListInstancesResponse, INVALID, "node"),
        ("GetConsoleOutput uuid bad", "GetConsoleOutput",
         c_pb.ControllerConsoleRequest(uuid="x"),
         a_pb.GetConsoleOutputResponse, INVALID, "uuid"),
        ("GetConsoleOutput max_bytes negative", "GetConsoleOutput",
         c_pb.ControllerConsoleRequest(uuid=UUID, max_bytes=-1),
         a_pb.GetConsoleOutputResponse, INVALID, "max_bytes"),
        ("GetConsoleOutput max_bytes overflowing", "GetConsoleOutput",
         c_pb.ControllerConsoleRequest(uuid=UUID, max_bytes=INT64_MAX),
         a_pb.GetConsoleOutputResponse, INVALID, "max_bytes"),
        ("Snapshot uuid bad", "Snapshot", c_pb.SnapshotRequest(uuid="../x"),
         c_pb.SnapshotResponse, INVALID, "uuid"),
        ("Snapshot image_name traversal", "Snapshot",
         c_pb.SnapshotRequest(uuid=UUID, image_name="../../x"),
         c_pb.SnapshotResponse, INVALID, "image_name"),
        ("Snapshot glance_image_id bad", "Snapshot",
         c_pb.SnapshotRequest(uuid=UUID, glance_image_id="../x"),
         c_pb.SnapshotResponse, INVALID, "glance_image_id"),
        ("Snapshot auth_token injection", "Snapshot",
         c_pb.SnapshotRequest(uuid=UUID, auth_token="t\r\nX-Evil: 1"),
         c_pb.SnapshotResponse, INVALID, "auth_token"),
        ("PrefetchImage file_name traversal", "PrefetchImage",
         c_pb.PrefetchImageRequest(file_name="../../etc/passwd"),
         c_pb.PrefetchImageResponse, INVALID, "file_name"),
        ("PrefetchImage file_name empty", "PrefetchImage",
         c_pb.PrefetchImageRequest(), c_pb.PrefetchImageResponse, INVALID,
         "file_name"),
        ("PrefetchImage glance_id bad", "PrefetchImage",
         c_pb.PrefetchImageRequest(file_name="a.tar", glance_id="../x"),
         c_pb.PrefetchImageResponse, INVALID, "glance_id"),
        ("PrefetchImage nodes traversal", "PrefetchImage",
         c_pb.PrefetchImageRequest(file_name="a.tar", nodes=["../x"]),
         c_pb.PrefetchImageResponse, INVALID, "nodes"),
        ("PollEvents after_sequence negative", "PollEvents",
         c_pb.PollEventsRequest(after_sequence=-1),
         c_pb.PollEventsResponse, INVALID, "after_sequence"),
        ("PollEvents wait_ms negative", "PollEvents",
         c_pb.PollEventsRequest(wait_ms=-1), c_pb.PollEventsResponse,
         INVALID, "wait_ms"),
        ("PollEvents wait_ms overflowing", "PollEvents",
         c_pb.PollEventsRequest(wait_ms=INT32_MAX), c_pb.PollEventsResponse,
         INVALID, "wait_ms"),
        ("PollEvents max_events negative", "PollEvents",
         c_pb.PollEventsRequest(max_events=-1), c_pb.PollEventsResponse,
         INVALID, "max_events"),
    ]
    return out


def _varint(n):
    out = bytearray()
    while True:
        b = n & 0x7f
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


class BadInputTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.procs = []
        cls.dockerd = tl.PrivateDockerd().start()
        try:
            tl.import_busybox_image(cls.dockerd.sock)
            agent, cls.agent_port = tl.start_agent(
                os.environ["NOVADOCK_AGENT_BINARY"], cls.dockerd.host, NODE)
            cls.procs.append(agent)
            controller, cls.controller_port = tl.start_controller(
                os.environ["NOVADOCK_CONTROLLER_BINARY"],
                {NODE: cls.agent_port},
                extra_args=["--check_interval_seconds=1"])
            cls.procs.append(controller)
        except Exception:
            cls.tearDownClass()
            raise
        cls.agent_channel = grpc.insecure_channel(
            "127.0.0.1:%d" % cls.agent_port)
        cls.controller_channel = grpc.insecure_channel(
            "127.0.0.1:%d" % cls.controller_port)
        # Wait until the controller has checked the agent.
        stub = s.controller_pb2_grpc.ControllerStub(cls.controller_channel)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            nodes = stub.ListNodes(c_pb.ListNodesRequest(), timeout=5).nodes
            if nodes and nodes[0].state == c_pb.NODE_STATE_ACTIVE and \
                    nodes[0].capacity.memory_mb > 0:
                break
            time.sleep(0.2)

    @classmethod
    def tearDownClass(cls):
        for ch in ("agent_channel", "controller_channel"):
            if hasattr(cls, ch):
                getattr(cls, ch).close()
        for proc in reversed(cls.procs):
            tl.stop_agent(proc)
        cls.dockerd.stop()

    def containers(self):
        d = self.dockerd
        status, data = tl.docker_request(
            d.sock, "GET", d.api + "/containers/json?all=1")
        self.assertEqual(status, 200)
        return json.loads(data)

    def run_table(self, channel, service, cases, still_serving):
        failures = []
        for name, rpc, req, resp_cls, code, field in cases:
            call = channel.unary_unary(
                "/novadock.v1.%s/%s" % (service, rpc),
                request_serializer=None,
                response_deserializer=resp_cls.FromString)
            data = req if isinstance(req, bytes) else req.SerializeToString()
            try:
                call(data, timeout=30)
                failures.append("%s: accepted" % name)
            except grpc.RpcError as e:
                if e.code() != code or field not in (e.details() or ""):
                    failures.append("%s: %s %r (want %s naming %r)" %
                                    (name, e.code().name, e.details(),
                                     code.name, field))
            try:
                still_serving()
            except grpc.RpcError as e:
                failures.append("%s: server no longer serving: %s" %
                                (name, e))
                break
        self.assertEqual(failures, [], "\n" + "\n".join(failures))
        self.assertEqual(self.containers(), [], "a container was created")

    def test_agent_table(self):
        stub = s.agent_pb2_grpc.AgentStub(self.agent_channel)
        cases = agent_cases()
        self.run_table(self.agent_channel, "Agent", cases,
                       lambda: stub.GetNode(a_pb.GetNodeRequest(), timeout=10))
        print("agent: %d cases" % len(cases), file=sys.stderr)

    def test_agent_put_image_stream(self):
        stub = s.agent_pb2_grpc.AgentStub(self.agent_channel)
        H = a_pb.PutImageHeader
        cases = [
            ("no header", [a_pb.PutImageChunk(data=b"x")], "header"),
            ("file_name traversal",
             [a_pb.PutImageChunk(header=H(file_name="../../evil.tar",
                                          sha256="0" * 64, size_bytes=1))],
             "header.file_name"),
            ("glance_id traversal",
             [a_pb.PutImageChunk(header=H(glance_id="../x", sha256="0" * 64,
                                          size_bytes=1))],
             "header.glance_id"),
            ("sha256 bad",
             [a_pb.PutImageChunk(header=H(file_name="a.tar", sha256="zz",
                                          size_bytes=1))], "header.sha256"),
            ("size negative",
             [a_pb.PutImageChunk(header=H(file_name="a.tar", sha256="0" * 64,
                                          size_bytes=-1))],
             "header.size_bytes"),
            ("size overflowing",
             [a_pb.PutImageChunk(header=H(file_name="a.tar", sha256="0" * 64,
                                          size_bytes=2 ** 63 - 1))],
             "header.size_bytes"),
            ("more data than announced",
             [a_pb.PutImageChunk(header=H(file_name="a.tar", sha256="0" * 64,
                                          size_bytes=1)),
              a_pb.PutImageChunk(data=b"xx")], "header.size_bytes"),
            ("second header",
             [a_pb.PutImageChunk(header=H(file_name="a.tar", sha256="0" * 64,
                                          size_bytes=10)),
              a_pb.PutImageChunk(header=H(file_name="b.tar"))], "header"),
        ]
        failures = []
        for name, chunks, field in cases:
            try:
                stub.PutImage(iter(chunks), timeout=30)
                failures.append("%s: accepted" % name)
            except grpc.RpcError as e:
                if e.code() != INVALID or field not in (e.details() or ""):
                    failures.append("%s: %s %r" % (name, e.code().name,
                                                   e.details()))
        # A 5 MiB chunk is over the 4 MiB message limit.
        try:
            stub.PutImage(iter([
                a_pb.PutImageChunk(header=H(file_name="a.tar",
                                            sha256="0" * 64,
                                            size_bytes=5 * MB)),
                a_pb.PutImageChunk(data=b"x" * (5 * MB))]), timeout=30)
            failures.append("5 MiB chunk: accepted")
        except grpc.RpcError as e:
            if e.code() != TOO_BIG:
                failures.append("5 MiB chunk: %s %r" % (e.code().name,
                                                        e.details()))
        self.assertEqual(failures, [], "\n" + "\n".join(failures))
        listed = stub.ListImages(a_pb.ListImagesRequest(), timeout=30)
        self.assertEqual([a.file_name for a in listed.archives], [])

    def test_agent_watch_events_negative_since(self):
        stub = s.agent_pb2_grpc.AgentStub(self.agent_channel)
        with self.assertRaises(grpc.RpcError) as cm:
            next(stub.WatchEvents(a_pb.WatchEventsRequest(since_unix_nanos=-1),
                                  timeout=10))
        self.assertEqual(cm.exception.code(), INVALID)
        self.assertIn("since_unix_nanos", cm.exception.details())

    def test_controller_table(self):
        stub = s.controller_pb2_grpc.ControllerStub(self.controller_channel)
        cases = controller_cases()
        self.run_table(self.controller_channel, "Controller", cases,
                       lambda: stub.ListNodes(c_pb.ListNodesRequest(),
                                              timeout=10))
        print("controller: %d cases" % len(cases), file=sys.stderr)
        # The node stayed ACTIVE: bad input is no node failure.
        node = stub.ListNodes(c_pb.ListNodesRequest(), timeout=10).nodes[0]
        self.assertEqual(node.state, c_pb.NODE_STATE_ACTIVE)
        self.assertEqual(node.consecutive_errors, 0)
        self.assertEqual(node.reserved.instances, 0)

    def test_controller_watch_events_negative_after(self):
        stub = s.controller_pb2_grpc.ControllerStub(self.controller_channel)
        with self.assertRaises(grpc.RpcError) as cm:
            next(stub.WatchEvents(
                c_pb.ControllerWatchEventsRequest(after_sequence=-1),
                timeout=10))
        self.assertEqual(cm.exception.code(), INVALID)
        self.assertIn("after_sequence", cm.exception.details())

    def test_unknown_fields_are_ignored(self):
        """No request has an enum field; a value for an unknown field (a
        newer client's enum or anything else) is skipped as proto3 does."""
        stub = s.agent_pb2_grpc.AgentStub(self.agent_channel)
        data = a_pb.InstanceRequest(uuid=UUID).SerializeToString()
        data += bytes([0xf8, 0x3e]) + _varint(12345)  # Field 999, varint.
        call = self.agent_channel.unary_unary(
            "/novadock.v1.Agent/GetInstance", request_serializer=None,
            response_deserializer=t_pb.Instance.FromString)
        with self.assertRaises(grpc.RpcError) as cm:
            call(data, timeout=10)
        self.assertEqual(cm.exception.code(), grpc.StatusCode.NOT_FOUND)
        stub.GetNode(a_pb.GetNodeRequest(), timeout=10)


if __name__ == "__main__":
    unittest.main(verbosity=2)
