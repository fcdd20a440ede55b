"""EventPoller: the controller's lifecycle events as Nova LifecycleEvents.

A green thread (eventlet.spawn) long-polls the controller's unary
PollEvents through eventlet.tpool (server streams never deliver under
eventlet), maps each novadock event to a Nova lifecycle transition and hands
it to ``emit`` (the driver's emit_event) in that green thread.

- Start: asks from "now" (after_sequence=0), then follows next_sequence.
- gap=true (events dropped from the controller's buffer, or a cursor from an
  earlier controller process): logs a warning, resyncs by emitting every
  instance's current state from ListInstances, and continues from
  next_sequence. Nova's own power-state sync would catch up too, later.
- Errors (controller down, restarting): logs, waits with backoff (1 s
  doubling to 30 s) and polls again with the same cursor.
- stop(): ends the loop after the poll in flight (at most wait_ms).
"""

import time

import eventlet
import grpc
from oslo_log import log as logging

from nova.virt import event as virtevent

from nova.virt.novadock._proto import types_pb2

LOG = logging.getLogger(__name__)

EVENT_TRANSITIONS = {
    types_pb2.EVENT_TYPE_STARTED: virtevent.EVENT_LIFECYCLE_STARTED,
    types_pb2.EVENT_TYPE_STOPPED: virtevent.EVENT_LIFECYCLE_STOPPED,
    types_pb2.EVENT_TYPE_DIED: virtevent.EVENT_LIFECYCLE_STOPPED,
    types_pb2.EVENT_TYPE_PAUSED: virtevent.EVENT_LIFECYCLE_PAUSED,
    types_pb2.EVENT_TYPE_UNPAUSED: virtevent.EVENT_LIFECYCLE_RESUMED,
    # DELETED: no Nova transition (Nova deletes instances itself).
}

# Current power state -> the transition that leads to it (for resyncs).
STATE_TRANSITIONS = {
    types_pb2.POWER_STATE_RUNNING: virtevent.EVENT_LIFECYCLE_STARTED,
    types_pb2.POWER_STATE_PAUSED: virtevent.EVENT_LIFECYCLE_PAUSED,
    types_pb2.POWER_STATE_SHUTDOWN: virtevent.EVENT_LIFECYCLE_STOPPED,
    types_pb2.POWER_STATE_CRASHED: virtevent.EVENT_LIFECYCLE_STOPPED,
}

_MIN_BACKOFF = 1.0
_MAX_BACKOFF = 30.0


class EventPoller(object):

    def __init__(self, client, emit, wait_ms=10000, wants_node=None):
        self._client = client
        self._emit = emit
        # Events of instances on other services' nodes are not ours to emit.
        self._wants_node = wants_node or (lambda node: True)
        self._wait_ms = wait_ms
        self._thread = None
        self._running = False
        self._sequence = 0
        # Last transition emitted per uuid: Docker reports a stop as
        # die + stop; Nova needs to hear it once.
        self._last = {}
        self.polls = 0  # For tests and debugging.
        self.resyncs = 0  # Gaps resynced from ListInstances.

    def start(self):
        if self._thread is not None:
            return
        self._running = True
        self._thread = eventlet.spawn(self._run)

    def stop(self, timeout=None):
        """Asks the loop to end and waits for it (bounded by `timeout`
        seconds if given; the poll in flight ends within wait_ms)."""
        self._running = False
        thread, self._thread = self._thread, None
        if thread is None:
            return
        if timeout is None:
            timeout = self._wait_ms / 1000.0 + 5
        try:
            with eventlet.Timeout(timeout):
                thread.wait()
        except eventlet.Timeout:
            LOG.warning('novadock event poller did not stop within %.0f s; '
                        'killing it', timeout)
            thread.kill()
        except Exception:  # The loop's own failure was logged already.
            pass

    def _run(self):
        backoff = _MIN_BACKOFF
        while self._running:
            try:
                resp = self._client.poll_events(self._sequence, self._wait_ms)
            except grpc.RpcError as e:
                if not self._running:
                    break
                code = e.code() if hasattr(e, 'code') else None
                LOG.warning('novadock-controller %s: PollEvents failed '
                            '(%s: %s); polling again in %.0f s',
                            self._client.address,
                            code.name if code else 'error',
                            e.details() if hasattr(e, 'details') else e,
                            backoff)
                self._sleep(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF)
                continue
            except Exception:
                LOG.exception('novadock event poller: unexpected error; '
                              'polling again in %.0f s', backoff)
                self._sleep(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF)
                continue
            backoff = _MIN_BACKOFF
            self.polls += 1
            first = self._sequence == 0
            if resp.gap:
                LOG.warning('novadock-controller %s: lifecycle events after '
                            'sequence %d were lost; resyncing from the '
                            'instances\' current states',
                            self._client.address, self._sequence)
                self._last.clear()
            for ev in resp.events:
                self._handle(ev.event)
            self._sequence = resp.next_sequence
            if resp.gap and not first:
                self._resync()

    def _sleep(self, seconds):
        deadline = time.monotonic() + seconds
        while self._running and time.monotonic() < deadline:
            eventlet.sleep(min(0.2, deadline - time.monotonic()))

    def _handle(self, ev):
        if not self._wants_node(ev.node):
            return
        transition = EVENT_TRANSITIONS.get(ev.type)
        if transition is None:
            if ev.type == types_pb2.EVENT_TYPE_DELETED:
                self._last.pop(ev.uuid, None)
            LOG.debug('novadock event %s for %s: no Nova transition',
                      types_pb2.EventType.Name(ev.type), ev.uuid)
            return
        self._deliver(ev.uuid, transition,
                      ev.time_unix_nanos / 1e9 if ev.time_unix_nanos else None)

    def _deliver(self, uuid, transition, timestamp=None):
        if not uuid or self._last.get(uuid) == transition:
            return
        self._last[uuid] = transition
        try:
            self._emit(virtevent.LifecycleEvent(uuid, transition))
        except Exception:
            LOG.exception('novadock: emitting %s for %s failed',
                          transition, uuid)

    def _resync(self):
        self.resyncs += 1
        try:
            resp = self._client.list_instances()
        except Exception as e:
            LOG.warning('novadock: resync after an event gap failed: %s', e)
            return
        for inst in resp.instances:
            if not self._wants_node(inst.node):
                continue
            transition = STATE_TRANSITIONS.get(inst.power_state)
            if transition is not None:
                self._deliver(inst.uuid, transition)
