"""The sending side of publishing: push frames to groups through the hub and its broker.

The log (clarion.streams) decides what is pushed and in which order; this module is the
Pusher it calls, installed by clarion.apps, with the breaker that keeps a hung broker from
costing every push a timeout. Read-state and control events, which are not log entries, are
pushed from here too.

Nothing here raises into the caller. A failed or timed-out push is logged and counted; the
row is already stored, and clients recover it by cursor when they reconnect.
"""

import asyncio
import logging
import threading
import time

from asgiref.sync import async_to_sync
from django.db import transaction

from clarion.conf import clarion_settings
from clarion.observability import metrics
from clarion.protocol import ServerFrameType, encode_frame, server_frame
from clarion.realtime import events, groups, hub, runtime
from clarion.realtime.broker import make_broker
from clarion.streams import log as streams_log
from clarion.streams import relay as streams_relay

logger = logging.getLogger("clarion.publish")

_PROBE_GROUP = "clarion.probe"  # nobody subscribes: a publish here only tests the broker


def can_deliver_here() -> bool:
    """The in-process broker only reaches sockets of this process; a CLI or script leaves
    the push to the relay of the running server instead of sending it into the void."""
    return runtime.is_serving() or not hub.local_delivery_only()


class _Breaker:
    """After a failed push, pushes wait until the broker answers again.

    Pushing happens under a stream's lock, and a broker that hangs (paused, half-open) makes each
    attempt wait PUBLISH_TIMEOUT: without this, every create of the stream would queue
    behind one timeout after another. Once tripped, creates commit and sequence without
    trying to push; the relay probes the broker outside the lock (every 0.5 s, doubling to
    5 s) and, once it answers, pushes the backlog in order. A hung broker costs each process
    one timeout under the lock, not one per create."""

    def __init__(self):
        self._lock = threading.Lock()
        self.tripped = False
        self.next_probe = 0.0
        self.delay = 0.5

    def failed(self) -> None:
        with self._lock:
            self.tripped = True
            self.next_probe = time.monotonic() + self.delay
            self.delay = min(self.delay * 2, 5.0)

    def succeeded(self) -> None:
        with self._lock:
            self.tripped, self.next_probe, self.delay = False, 0.0, 0.5

    def probe_due(self) -> bool:
        return self.tripped and time.monotonic() >= self.next_probe


_breaker = _Breaker()




class RealtimePusher(streams_log.Pusher):
    """The log's way out: groups for audiences, pushes through the hub, the breaker."""

    def can_deliver(self) -> bool:
        return can_deliver_here()

    def route(self, audience) -> str:
        return groups.group_for(audience)

    def ready(self) -> bool:
        return not _breaker.tripped

    def probe(self) -> bool:
        if not _breaker.tripped:
            return True
        if not _breaker.probe_due():
            return False
        # Outside any stream lock: a broker that still hangs must not hold up sequencing.
        if not _group_send(_PROBE_GROUP, events.ephemeral("")):
            _breaker.failed()
            return False
        _breaker.succeeded()
        return True

    def push(self, group: str, seq: int, frame: str, meta=None) -> bool:
        return self.push_all([(group, seq, frame, meta)]) == 1

    def push_all(self, entries) -> int:
        # One trip to the event loop for the whole batch, not one per row: a bulk create's
        # 1,000 rows paid 1,000 thread switches to publish.
        sent = _group_send_all([(group, events.sequenced(seq, frame, meta)) for group, seq, frame, meta in entries])
        if sent < len(entries):
            _breaker.failed()
        return sent


def install() -> None:
    streams_log.install_pusher(RealtimePusher())


def publish_backlogs() -> int:
    """Push entries whose push failed earlier, once the broker answers (the relay's sweep)."""
    return streams_relay.publish_backlogs()


def publish_control_on_commit(group: str, event: dict) -> None:
    """After commit, tell the consumers of ``group`` something that is not a frame (a member
    was removed: the hub calls each socket's control handler, which may close it)."""
    if can_deliver_here():
        transaction.on_commit(lambda: _group_send(group, events.control(event)))


def publish_read_state(user_id, ids: list[int], counts: dict, *, all_read: bool = False) -> None:
    """Tell every socket of the user (all tabs, all processes) that these ids are read
    (``counts``: unread_count and unseen_count)."""
    data = {"ids": ids, **counts}
    if all_read:
        data["all"] = True
    publish_to_user(user_id, ServerFrameType.NOTIFICATIONS_READ, data)


def publish_inbox_state(user_id, data: dict) -> None:
    """A notifications_state frame to every socket of the user."""
    publish_to_user(user_id, ServerFrameType.NOTIFICATIONS_STATE, data)


def publish_to_user(user_id, frame_type: str, data: dict) -> None:
    frame = encode_frame(server_frame(frame_type, data))
    _group_send(groups.user_group(user_id), events.notifications_read(frame))


def publish_user_control(user_id, payload: dict) -> None:
    """A control event to the user's sockets (their preferences changed: each socket updates
    what it filters, then forwards ``payload["frame"]``)."""
    _group_send(groups.user_group(user_id), events.control(payload))


def _group_send(group: str, event: dict) -> bool:
    return _group_send_all([(group, event)]) == 1


def _group_send_all(sends: list[tuple[str, dict]]) -> int:
    """Publish in order from a thread without an event loop; how many were published before
    the first failure."""
    if not can_deliver_here():
        return 0
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return async_to_sync(_agroup_send_all)(sends)
    # Called from a thread that runs an event loop: a caller bug, but never raise into it.
    logger.error("publish to %s called from inside an event loop; use the async API", sends[0][0])
    metrics.PUBLISH_FAILURES.labels(stage="send").inc()
    return 0


async def _agroup_send_all(sends: list[tuple[str, dict]]) -> int:
    if len(sends) == 1:
        return int(await _agroup_send(*sends[0]))
    try:
        await asyncio.wait_for(_publish_many(sends), timeout=clarion_settings.PUBLISH_TIMEOUT)
    except Exception as exc:
        # How many of a pipelined batch went out is unknown: none counts as sent, the relay
        # pushes them again in order, and sockets drop the seqs they already have.
        metrics.PUBLISH_FAILURES.labels(stage="send").inc()
        logger.warning("push of %d events failed (%s); they are retried in order by the relay",
                       len(sends), type(exc).__name__)
        return 0
    for group, event in sends:
        metrics.PUBLISHED.labels(event=event["type"]).inc()
    return len(sends)


async def _agroup_send(group: str, event: dict) -> bool:
    try:
        await asyncio.wait_for(_publish(group, event), timeout=clarion_settings.PUBLISH_TIMEOUT)
    except Exception as exc:  # the broker is down or slow: stored already, log and count
        metrics.PUBLISH_FAILURES.labels(stage="send").inc()
        logger.warning("push to %s failed (%s); it is retried in order by the relay", group, type(exc).__name__)
        return False
    metrics.PUBLISHED.labels(event=event["type"]).inc()
    return True


async def _publish(group: str, event: dict) -> None:
    await _through_broker(lambda target: target.publish(group, event))


async def _publish_many(sends: list[tuple[str, dict]]) -> None:
    await _through_broker(lambda target: target.publish_many(sends))


async def _through_broker(send) -> None:
    """``send(target)`` to this loop's hub, or to a one-off broker where there is none."""
    process_hub = hub.existing_hub()
    if process_hub is not None:  # the serving loop: its hub reaches local sockets and the broker
        await send(process_hub)
        return
    if hub.local_delivery_only():
        return  # in-process broker and no socket has ever joined here: nobody to reach
    # A script, a CLI, a thread with its own loop: a one-off broker, closed before the loop goes.
    broker = make_broker()
    try:
        await send(broker)
    finally:
        await broker.close()
