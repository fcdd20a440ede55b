"""ControllerClient: unary calls on novadock.v1.Controller, made safe for
nova-compute's eventlet world, with gRPC errors turned into Nova's.

Under eventlet monkey patching a grpcio (1.51) call made directly blocks
every green thread, and server-streaming calls never deliver a message
(/work/shared/PITFALLS.md). So every call here is unary and runs in
eventlet's native thread pool through ``eventlet.tpool.execute``; the green
thread that made it yields until it returns.

One channel per call in flight (ChannelPool): a grpc channel keeps a
threading.Condition that monkey patching has made green, and two native
tpool threads contending for it deadlock the process ("greenlet.error:
cannot switch to a different thread"; measured: 16 green threads sharing
one channel hung within seconds, a channel per call in flight ran 4800
calls in 2 s). Each channel is used by one native thread at a time, and
channels to the same address share their TCP connection in grpc core.
"""

import ipaddress
import time

import grpc
from eventlet import queue as eventlet_queue
from eventlet import tpool
from oslo_log import log as logging

from nova import exception

from nova.virt.novadock._proto import controller_pb2
from nova.virt.novadock._proto import controller_pb2_grpc

LOG = logging.getLogger(__name__)

_RETRYABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
_MAX_BACKOFF = 8.0


class ConfigError(exception.InvalidConfiguration):
    msg_fmt = 'Invalid [novadock] configuration: %(reason)s'


def _host_of(address):
    """The host part of host:port, [v6]:port, or a unix: target."""
    if address.startswith('unix:') or address.startswith('unix-abstract:'):
        return None
    if address.startswith('['):
        return address[1:address.find(']')]
    host, sep, _ = address.rpartition(':')
    return host if sep else address


def is_local_address(address):
    """True for loopback hosts and unix sockets: the only targets that may
    be reached in plain text."""
    if address.startswith('unix:') or address.startswith('unix-abstract:'):
        return True
    host = _host_of(address)
    if host == 'localhost':
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _read(path, what):
    try:
        with open(path, 'rb') as f:
            return f.read()
    except OSError as e:
        raise ConfigError(reason='[novadock] %s: cannot read %s: %s' %
                          (what, path, e.strerror))


def make_channel(conf):
    """A grpc channel to conf.controller_address: mutual TLS when tls_ca is
    set, plain text only to loopback. Raises ConfigError otherwise."""
    address = conf.controller_address
    if not address:
        raise ConfigError(reason='controller_address is empty')
    options = [('grpc.max_receive_message_length', 16 * 1024 * 1024),
               ('grpc.keepalive_time_ms', 30000),
               ('grpc.keepalive_permit_without_calls', 1)]
    tls_files = (conf.tls_ca, conf.tls_cert, conf.tls_key)
    if any(tls_files):
        if not all(tls_files):
            raise ConfigError(
                reason='tls_ca, tls_cert and tls_key must be given together '
                       '(mutual TLS)')
        creds = grpc.ssl_channel_credentials(
            root_certificates=_read(conf.tls_ca, 'tls_ca'),
            private_key=_read(conf.tls_key, 'tls_key'),
            certificate_chain=_read(conf.tls_cert, 'tls_cert'))
        if conf.tls_server_name:
            options.append(('grpc.ssl_target_name_override',
                            conf.tls_server_name))
        return grpc.secure_channel(address, creds, options=options)
    if not is_local_address(address):
        raise ConfigError(
            reason='controller_address %s is not a loopback address: plain '
                   'text is refused there; set tls_ca, tls_cert and tls_key '
                   '(mutual TLS)' % address)
    return grpc.insecure_channel(address, options=options)


def to_nova_exception(err, address, uuid=None, what=''):
    """A Nova exception for a grpc.RpcError from the controller."""
    code = err.code() if hasattr(err, 'code') else None
    details = (err.details() if hasattr(err, 'details') else None) or str(err)
    where = '%s: ' % what if what else ''
    if code == grpc.StatusCode.NOT_FOUND and uuid:
        return exception.InstanceNotFound(instance_id=uuid)
    if code in _RETRYABLE:
        return exception.HypervisorUnavailable(
            message='novadock-controller at %s: %s%s (%s)' %
                    (address, where, details, code.name),
            host=address)
    if (code == grpc.StatusCode.RESOURCE_EXHAUSTED and
            'message larger than max' in details):
        # gRPC's own size limit ("Sent/Received message larger than max"):
        # the request itself is too big, so another host would refuse it
        # too; ComputeResourcesUnavailable would make Nova reschedule it.
        return exception.InvalidInput(reason=where + details)
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        return exception.ComputeResourcesUnavailable(reason=where + details)
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return exception.InvalidInput(reason=where + details)
    name = code.name if code is not None else 'UNKNOWN'
    return exception.NovaException(
        message='novadock-controller %s%s: %s' % (where, name, details))


class ChannelPool(object):
    """Idle (channel, stub) pairs; get() hands one out for the exclusive
    use of one call, put() takes it back. Green-thread safe (used only from
    green threads; the native threads only use what they were handed)."""

    def __init__(self, factory):
        self._factory = factory
        self._idle = eventlet_queue.LightQueue()
        self._closed = False
        self._idle.put(factory())  # Fails early on a bad configuration.

    def get(self):
        try:
            return self._idle.get_nowait()
        except eventlet_queue.Empty:
            return self._factory()

    def put(self, pair):
        if self._closed:
            pair[0].close()
        else:
            self._idle.put(pair)

    def close(self):
        self._closed = True
        while True:
            try:
                self._idle.get_nowait()[0].close()
            except eventlet_queue.Empty:
                return


class ControllerClient(object):
    """Unary calls on the controller; every method is one call (or a
    bounded retry of a read-only one) through eventlet.tpool."""

    def __init__(self, conf):
        self.conf = conf
        self.address = conf.controller_address

        def factory():
            channel = make_channel(conf)
            return channel, controller_pb2_grpc.ControllerStub(channel)
        self._pool = ChannelPool(factory)

    def close(self):
        self._pool.close()

    # -- the call machinery

    def _execute(self, method, request, timeout):
        """stub.<method>(request) in a native thread, on a channel of its
        own for the duration of the call."""
        pair = self._pool.get()
        try:
            return tpool.execute(getattr(pair[1], method), request,
                                 timeout=timeout)
        finally:
            self._pool.put(pair)

    def _call(self, method, request, timeout=None, uuid=None,
              read_only=False, what=None):
        """Calls stub.<method>(request) in a native thread; maps errors.
        Read-only calls are retried on UNAVAILABLE/DEADLINE_EXCEEDED up to
        conf.retries times, with backoff (a green sleep)."""
        timeout = timeout or self.conf.call_timeout
        attempts = 1 + (self.conf.retries if read_only else 0)
        delay = 0.5
        for attempt in range(attempts):
            try:
                return self._execute(method, request, timeout)
            except grpc.RpcError as e:
                code = e.code() if hasattr(e, 'code') else None
                if code in _RETRYABLE and attempt + 1 < attempts:
                    LOG.warning('novadock-controller %s: %s failed (%s), '
                                'retry %d of %d in %.1f s',
                                self.address, method, code.name,
                                attempt + 1, attempts - 1, delay)
                    time.sleep(delay)  # Green under monkey patching.
                    delay = min(delay * 2, _MAX_BACKOFF)
                    continue
                raise to_nova_exception(e, self.address, uuid=uuid,
                                        what=what or method)

    # -- nodes

    def list_nodes(self):
        return self._call('ListNodes', controller_pb2.ListNodesRequest(),
                          read_only=True).nodes

    # -- instances

    def spawn(self, create_request, node=''):
        req = controller_pb2.SpawnRequest(node=node or '')
        req.instance.CopyFrom(create_request)
        return self._call('Spawn', req, timeout=self.conf.spawn_timeout,
                          uuid=None)

    def _instance_call(self, method, uuid, node='', grace=0, read_only=False,
                       extra_timeout=0):
        req = controller_pb2.InstanceCallRequest(
            uuid=uuid, node=node or '', grace_period_seconds=int(grace))
        return self._call(method, req, uuid=uuid, read_only=read_only,
                          timeout=self.conf.call_timeout + grace +
                          extra_timeout)

    def destroy(self, uuid, node='', grace=0):
        return self._instance_call('Destroy', uuid, node, grace)

    def reboot(self, uuid, node='', grace=0):
        return self._instance_call('Reboot', uuid, node, grace)

    def power_on(self, uuid, node=''):
        return self._instance_call('PowerOn', uuid, node)

    def power_off(self, uuid, node='', grace=0):
        return self._instance_call('PowerOff', uuid, node, grace)

    def pause(self, uuid, node=''):
        return self._instance_call('Pause', uuid, node)

    def unpause(self, uuid, node=''):
        return self._instance_call('Unpause', uuid, node)

    def get_instance(self, uuid, node=''):
        return self._instance_call('GetInstance', uuid, node, read_only=True)

    def list_instances(self, node=''):
        return self._call('ListInstances',
                          controller_pb2.ControllerListInstancesRequest(
                              node=node or ''), read_only=True)

    def get_console_output(self, uuid, max_bytes):
        return self._call('GetConsoleOutput',
                          controller_pb2.ControllerConsoleRequest(
                              uuid=uuid, max_bytes=max_bytes),
                          uuid=uuid, read_only=True)

    def snapshot(self, uuid, image_name, glance_image_id, auth_token):
        req = controller_pb2.SnapshotRequest(
            uuid=uuid, image_name=image_name or '',
            glance_image_id=glance_image_id or '',
            auth_token=auth_token or '')
        return self._call('Snapshot', req, uuid=uuid,
                          timeout=self.conf.snapshot_timeout)

    # -- events

    def poll_events(self, after_sequence, wait_ms, max_events=1000):
        """One long-poll; raises grpc.RpcError as is (the poller handles
        reconnection itself)."""
        req = controller_pb2.PollEventsRequest(
            after_sequence=after_sequence, wait_ms=wait_ms,
            max_events=max_events)
        return self._execute('PollEvents', req,
                             self.conf.call_timeout + wait_ms / 1000.0)
