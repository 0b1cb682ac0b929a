"""Publish after commit: give a committed notification its place in the log, then push it.

Ordering (the resume guarantee rests on it): under one global lock we assign the next seq,
commit it, then publish. So seqs become visible in commit order, and publishes leave in seq
order; a socket that subscribes before reading the head position cannot miss a notification
(docs/architecture.md walks through the argument). PostgreSQL ids alone cannot give this:
concurrent transactions commit ids out of order.

Nothing here raises into the caller. A failed or timed-out push is logged and counted; the
notification is already stored, and clients recover it by cursor when they reconnect.
"""

import asyncio
import fcntl
import logging
import threading
import time
from contextlib import contextmanager

from asgiref.sync import async_to_sync
from django.db import DatabaseError, connection, transaction
from django.db.models import F

from clarion.conf import clarion_settings
from clarion.notifications.models import Notification, StreamHead
from clarion.notifications.payloads import notification_payload
from clarion.notifications.queries import LOG_NAME
from clarion.observability import metrics
from clarion.protocol import ServerFrameType, encode_frame, server_frame
from clarion.realtime import events, groups, hub, parking, runtime

logger = logging.getLogger("clarion.publish")

# An arbitrary constant naming Clarion's advisory lock in PostgreSQL ("clar" in ASCII).
_PG_LOCK_KEY = 0x636C6172
_thread_lock = threading.Lock()
_BACKLOG_BATCH = 500
_PROBE_GROUP = "clarion.probe"  # nobody subscribes: a publish here only tests the broker


@contextmanager
def _log_lock():
    """Serialize sequencing and publishing across every process sharing the database."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [_PG_LOCK_KEY])
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [_PG_LOCK_KEY])
        return
    with _thread_lock:
        database = str(connection.settings_dict.get("NAME") or "")
        if connection.vendor != "sqlite" or connection.is_in_memory_db():
            yield
            return
        # SQLite shared by several processes (a server and a cron sender on Redis, say):
        # an exclusive lock on a file beside the database plays the advisory lock's part.
        with open(f"{database}.clarion-lock", "a") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock_file, fcntl.LOCK_UN)


def can_deliver_here() -> bool:
    """The in-process broker only reaches sockets of this process; a CLI or script leaves
    the push to the relay of the running server instead of sending it into the void."""
    return runtime.is_serving() or not hub.local_delivery_only()


class SequencedLog:
    """A table whose rows take places in per-stream, commit-ordered logs and are pushed live.

    Notifications share one log; each project and each room has its own. A row with a NULL
    ``seq`` is committed but not yet sequenced: the relay finds those after a crash. Each
    stream is published strictly in seq order: a push that fails (the broker is away) stops
    its stream's publishing until it succeeds, so no socket ever receives a later entry
    before an earlier one, and catching up from the last position received never skips one.
    """

    def __init__(self, name, model, *, stream, group, frame, queryset=None, stream_prefix, rows_of_stream):
        self.name = name
        self.model = model
        self.stream = stream  # row -> StreamHead name of the log it belongs to
        self.group = group  # row -> hub group its frame goes to
        self.frame = frame  # row -> encoded wire frame (its seq already set)
        self.queryset = queryset or (lambda: model.objects.all())
        self.stream_prefix = stream_prefix  # StreamHead names of this log start with it
        self.rows_of_stream = rows_of_stream  # StreamHead name -> queryset of that stream's rows

    def on_commit(self, pk) -> None:
        """Sequence and push the row once the current transaction commits."""
        if can_deliver_here():
            transaction.on_commit(lambda: sequence_and_publish_row(self, pk))

    def pending_ids(self, limit: int) -> list:
        unsequenced = self.model.objects.filter(seq__isnull=True).exclude(pk__in=parking.parked_ids(self.name))
        return list(unsequenced.order_by("id").values_list("id", flat=True)[:limit])


LOGS: dict[str, SequencedLog] = {}


def register_log(log: SequencedLog) -> SequencedLog:
    LOGS[log.name] = log
    return log


def sequence_and_publish_row(log: SequencedLog, pk) -> bool:
    """Assign the next seq of the row's log to a committed, unsequenced row and push it
    (after any earlier entries of its stream whose push failed).

    A row that cannot take a place in the log (its frame cannot be encoded, its audience
    names no group) is parked instead, without using up a seq, and the stream goes on.
    Returns whether this call sequenced it (False: already sequenced, parked, or gone).
    Never raises.
    """
    try:
        with _log_lock():
            with transaction.atomic():
                try:
                    row = log.queryset().filter(pk=pk, seq__isnull=True).first()
                except RecursionError as exc:  # data nested past what the JSON decoder can read back
                    parking.park(log.name, pk, "", None, parking.SEQUENCE, exc)
                    return False
                if row is None:
                    return False
                stream = log.stream(row)
                head = StreamHead.objects.select_for_update().get_or_create(name=stream)[0]
                row.seq = head.position + 1
                prepared = _prepare(log, row)
                if isinstance(prepared, Exception):
                    row.seq = None
                    parking.park(log.name, row.pk, stream, None, parking.SEQUENCE, prepared)
                    return False
                head.position = row.seq
                head.save(update_fields=["position"])
                log.model.objects.filter(pk=pk).update(seq=row.seq)
            _publish_stream(log, stream, head.published, row, prepared)
        return True
    except Exception:
        metrics.PUBLISH_FAILURES.labels(stage="sequence").inc()
        logger.exception("could not sequence %s %s; the relay will retry", log.name, pk)
        return False


def _prepare(log: SequencedLog, row):
    """The row's (group, encoded frame), or the exception that makes it unpublishable.

    Database errors propagate: they are transient, and the relay retries the row. Anything
    else (an encoder refusing the data, an invalid role name) will fail the same way on
    every retry, so the row is parked rather than retried for ever in front of its stream."""
    try:
        return log.group(row), log.frame(row)
    except DatabaseError:
        raise
    except Exception as exc:
        return exc


class _Breaker:
    """After a failed push, pushes wait until the broker answers again.

    Pushing happens under the log lock, and a broker that hangs (paused, half-open) makes each
    attempt wait PUBLISH_TIMEOUT: without this, every create of the whole site would queue
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


def _publish_stream(log: SequencedLog, stream: str, published: int, newest=None, prepared=None) -> None:
    """Push the stream's entries after ``published`` in seq order, stopping at the first
    failure to reach the broker; park entries that can never be pushed and go on past them;
    record how far it got. Runs under the log lock. ``prepared``: the newest row's (group,
    frame), already built while sequencing it."""
    if _breaker.tripped:
        return  # the broker failed and has not answered since: the relay pushes this, in order
    if newest is not None and newest.seq == published + 1:
        rows = [newest]  # the usual case: nothing is waiting
    else:
        upto = newest.seq if newest is not None else None
        rows = log.rows_of_stream(stream).filter(seq__gt=published)
        if upto is not None:
            rows = rows.filter(seq__lte=upto)
        rows = list(rows.order_by("seq")[:_BACKLOG_BATCH])
    done = published
    for row in rows:
        entry = prepared if row is newest and prepared is not None else _prepare(log, row)
        if isinstance(entry, Exception):
            # Sequenced before it could be checked (an older version, a changed setting):
            # its seq stays a hole in the stream, and readers' snapshots skip it.
            parking.park(log.name, row.pk, stream, row.seq, parking.PUBLISH, entry)
            done = row.seq
            continue
        group, frame = entry
        if not _group_send(group, events.sequenced(row.seq, frame)):
            _breaker.failed()
            break
        done = row.seq
    if done > published:
        StreamHead.objects.filter(name=stream, published__lt=done).update(published=done)


def publish_backlogs() -> int:
    """Push entries whose push failed earlier, stream by stream, in order (the relay calls
    this). Returns how many streams were behind."""
    if _breaker.tripped:
        if not _breaker.probe_due():
            return 0
        # Outside the lock: a broker that still hangs must not hold up sequencing.
        if not _group_send(_PROBE_GROUP, events.ephemeral("")):
            _breaker.failed()
            return 0
        _breaker.succeeded()
    behind = list(StreamHead.objects.filter(published__lt=F("position")).values_list("name", flat=True))
    for stream in behind:
        log = next((log for log in LOGS.values() if stream.startswith(log.stream_prefix)), None)
        if log is None:
            continue
        try:
            with _log_lock():
                published = StreamHead.objects.filter(name=stream).values_list("published", flat=True).first()
                _publish_stream(log, stream, published or 0)
        except Exception:
            logger.warning("could not push the backlog of %s; retrying", stream, exc_info=True)
    return len(behind)


def _notification_frame(notification) -> str:
    return encode_frame(server_frame(ServerFrameType.NOTIFICATION, notification_payload(notification, is_read=False)))


NOTIFICATIONS_LOG = register_log(SequencedLog(
    "notification",
    Notification,
    stream=lambda notification: LOG_NAME,
    group=lambda notification: groups.audience_group(notification.recipient_type, notification.recipient_id),
    frame=_notification_frame,
    stream_prefix=LOG_NAME,
    rows_of_stream=lambda stream: Notification.objects.all(),
))


def publish_notification_on_commit(notification_id: int) -> None:
    NOTIFICATIONS_LOG.on_commit(notification_id)


def sequence_and_publish(notification_id: int) -> bool:
    return sequence_and_publish_row(NOTIFICATIONS_LOG, notification_id)


def publish_control_on_commit(group: str, event: dict) -> None:
    """After commit, tell the consumers of ``group`` something that is not a frame (a member
    was removed: the hub calls each socket's control handler, which may close it)."""
    if can_deliver_here():
        transaction.on_commit(lambda: _group_send(group, events.control(event)))


def publish_read_state(user_id: int, ids: list[int], unread_count: int, *, all_read: bool = False) -> None:
    """Tell every socket of the user (all tabs, all processes) that these ids are read."""
    data = {"ids": ids, "unread_count": unread_count}
    if all_read:
        data["all"] = True
    frame = encode_frame(server_frame(ServerFrameType.NOTIFICATIONS_READ, data))
    _group_send(groups.user_group(user_id), events.notifications_read(frame))


async def apublish_read_state(user_id: int, ids: list[int], unread_count: int, *, all_read: bool = False) -> None:
    data = {"ids": ids, "unread_count": unread_count}
    if all_read:
        data["all"] = True
    frame = encode_frame(server_frame(ServerFrameType.NOTIFICATIONS_READ, data))
    await _agroup_send(groups.user_group(user_id), events.notifications_read(frame))


def _group_send(group: str, event: dict) -> bool:
    if not can_deliver_here():
        return False
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return async_to_sync(_agroup_send)(group, event)
    # Called from a thread that runs an event loop: a caller bug, but never raise into it.
    logger.error("publish to %s called from inside an event loop; use the async API", group)
    metrics.PUBLISH_FAILURES.labels(stage="send").inc()
    return False


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
    process_hub = hub.existing_hub()
    if process_hub is not None:  # the serving loop: its hub reaches local sockets and the broker
        await process_hub.publish(group, event)
        return
    if hub.local_delivery_only():
        return  # in-process broker and no socket has ever joined here: nobody to reach
    # A script, a CLI, a thread with its own loop: a one-off broker, closed before the loop goes.
    broker = hub.make_broker()
    try:
        await broker.publish(group, event)
    finally:
        await broker.close()


# -- operator actions on parked rows (clarion doctor) ---------------------------------------


def retry_parked(entry) -> str | None:
    """Put a parked row back in line: it loses any seq it had and the relay sequences it
    again, at the end of its stream. Returns why it still cannot be published (and leaves it
    parked, with the fresh reason), or None when it was put back."""
    log = LOGS.get(entry.log)
    if log is None:
        return f"no log named {entry.log!r} is registered"
    with transaction.atomic():
        row = log.queryset().filter(pk=entry.row_id).first()
        if row is None:
            entry.delete()
            return "the row no longer exists; its parked entry was removed"
        row.seq = (StreamHead.objects.filter(name=log.stream(row)).values_list("position", flat=True).first() or 0) + 1
        prepared = _prepare(log, row)
        if isinstance(prepared, Exception):
            entry.reason = parking.describe(prepared)
            entry.save(update_fields=["reason"])
            return entry.reason
        log.model.objects.filter(pk=row.pk).update(seq=None)
        entry.delete()
        log.on_commit(row.pk)  # where this process can push; otherwise the server's relay does
    return None


def drop_parked(entry) -> None:
    """Delete a parked row for good (with its read state), and its parked entry."""
    log = LOGS.get(entry.log)
    with transaction.atomic():
        if log is not None:
            log.model.objects.filter(pk=entry.row_id).delete()
        entry.delete()
