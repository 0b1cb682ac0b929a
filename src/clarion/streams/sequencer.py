"""Sequencing with group commit: every committed, unsequenced row of a stream takes its place
in one transaction under the stream's lock, then the rows are pushed in seq order.

Why (issue 11): one site-wide lock, taken once per created row and held while Redis was
published to, capped the whole site at a few hundred creates per second. Now a stream's lock
is taken once per batch, however many rows committed meanwhile, and independent streams do
not wait for each other. The guarantees are the ones docs/architecture.md argues for: seqs
become visible in commit order (the head moves in the transaction that numbers the rows),
and pushes leave in seq order (they happen under the lock, after earlier failed pushes).

In a serving process, a commit asks this process's :class:`Sequencer` to run its stream and
waits for that batch; while a stream's batch runs, further commits mark it to run once more,
so a burst of concurrent creates becomes a few batches, each numbering many rows under one
lock. Elsewhere (a script, the CLI, the in-process tests) the committing thread sequences the
stream itself.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging

from asgiref.sync import SyncToAsync
from django.db import DatabaseError, close_old_connections, transaction
from django.db.models import Case, Value, When

from clarion.observability import metrics
from clarion.streams import parking
from clarion.streams.locks import stream_lock
from clarion.streams.log import SequencedLog, StreamKey, of_stream, pusher
from clarion.streams.models import StreamHead

logger = logging.getLogger("clarion.publish")

BATCH = 500  # rows numbered per transaction; a longer queue takes several


def prepare(log: SequencedLog, row):
    """The row's (group, encoded frame), or the exception that makes it unpublishable.

    Database errors propagate: they are transient, and the row is retried. Anything else (an
    encoder refusing the data, an audience no group can carry) fails the same way on every
    retry, so the row is parked rather than retried for ever in front of its stream."""
    try:
        return pusher().route(log.audience(row)), log.frame(row)
    except DatabaseError:
        raise
    except Exception as exc:
        return exc


def _pending(log: SequencedLog, key: StreamKey) -> list:
    rows = log.rows_of(key).filter(seq__isnull=True).exclude(pk__in=parking.parked_ids(log.name)).order_by("id")
    try:
        return list(rows[:BATCH])
    except RecursionError:  # a row's data nested past what the JSON decoder reads back
        ids = list(rows.values_list("pk", flat=True)[:BATCH])
        loaded = []
        for pk in ids:
            try:
                loaded.extend(log.rows().filter(pk=pk))
            except RecursionError as exc:
                parking.park(log.name, pk, str(key), None, parking.SEQUENCE, exc)
        return loaded


def sequence_stream(log: SequencedLog, key: StreamKey) -> int:
    """Number every committed, unsequenced row of the stream and push them in order (after
    any earlier entries whose push failed). Returns how many rows took a seq. Rows that can
    never be published are parked, without using up a seq."""
    name = str(key)
    total = 0
    while True:
        with stream_lock(name):
            with transaction.atomic():
                head = StreamHead.objects.select_for_update().get_or_create(name=name)[0]
                rows = _pending(log, key)
                numbered, position = [], head.position
                for row in rows:
                    row.seq = position + 1
                    prepared = prepare(log, row)
                    if isinstance(prepared, Exception):
                        row.seq = None
                        parking.park(log.name, row.pk, name, None, parking.SEQUENCE, prepared)
                        continue
                    position = row.seq
                    numbered.append((row, prepared))
                if numbered:
                    # One statement for the batch: every new seq is above the head, so no
                    # unique constraint on seq can trip whatever order the rows are written in.
                    log.model.objects.filter(pk__in=[row.pk for row, _ in numbered]).update(
                        seq=Case(*(When(pk=row.pk, then=Value(row.seq)) for row, _ in numbered)))
                    head.position = position
                    head.save(update_fields=["position"])
                    metrics.SEQUENCE_BATCHES.labels(log=log.name).inc()
                    metrics.SEQUENCED_ROWS.labels(log=log.name).inc(len(numbered))
            if numbered:
                push_in_order(log, key, head.published, numbered)
        total += len(numbered)
        if len(rows) < BATCH:
            return total


def push_in_order(log: SequencedLog, key: StreamKey, published: int, fresh=()) -> None:
    """Push the stream's entries after ``published`` in seq order, stopping at the first
    failure to reach the broker; park entries that can never be pushed and go on past them;
    record how far it got. Runs under the stream's lock. ``fresh``: rows just numbered, with
    their (group, frame), which spares reading them back when nothing older waits."""
    if not pusher().ready():
        return  # the broker failed and has not answered since: the relay pushes this, in order
    if fresh and fresh[0][0].seq == published + 1:
        entries = fresh
    else:
        rows = log.rows_of(key).filter(seq__gt=published)
        if fresh:
            rows = rows.filter(seq__lte=fresh[-1][0].seq)
        entries = [(row, prepare(log, row)) for row in rows.order_by("seq")[:BATCH]]
    done = published
    for row, entry in entries:
        if isinstance(entry, Exception):
            # Sequenced before it could be checked (an older version, a changed setting):
            # its seq stays a hole in the stream, and readers' snapshots skip it.
            parking.park(log.name, row.pk, str(key), row.seq, parking.PUBLISH, entry)
            done = row.seq
            continue
        group, frame = entry
        if not pusher().push(group, row.seq, frame):
            break
        done = row.seq
    if done > published:
        StreamHead.objects.filter(name=str(key), published__lt=done).update(published=done)


def push_backlog(key: StreamKey) -> None:
    """Push what waits in one stream after a failed push (the relay calls this)."""
    log = of_stream(key)
    if log is None:
        return
    with stream_lock(str(key)):
        published = StreamHead.objects.filter(name=str(key)).values_list("published", flat=True).first()
        push_in_order(log, key, published or 0)


def _sequence_safely(log: SequencedLog, key: StreamKey) -> None:
    try:
        sequence_stream(log, key)
    except Exception:
        metrics.PUBLISH_FAILURES.labels(stage="sequence").inc()
        logger.exception("could not sequence %s; the relay will retry", key)


# -- who runs it ---------------------------------------------------------------------------


class Sequencer:
    """A serving process's sequencer: each stream runs in a worker thread, one batch at a
    time; commits that arrive during a batch mark the stream to run once more.

    The committing thread waits (``request(...).result()``) until a batch that began after its
    commit has finished, so a create still answers once its row has its place in the log and
    was pushed, as when it sequenced the row itself: a client that connects right after the
    answer finds it in its snapshot. What the wait saves is the work: one batch numbers the rows
    of every request waiting on it."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self._running: set[StreamKey] = set()
        self._again: set[StreamKey] = set()
        self._waiting: dict[StreamKey, list[concurrent.futures.Future]] = {}
        self._tasks: set[asyncio.Task] = set()
        # Not thread-sensitive: streams run side by side, each in a thread of the loop's
        # executor; pushes from there return to this loop (asgiref keeps the way back).
        self._run_batch = SyncToAsync(self._batch, thread_sensitive=False)

    def request(self, log: SequencedLog, key: StreamKey) -> concurrent.futures.Future:
        """Any thread: the stream has new committed rows. The future is done once a batch
        that began after this call has run."""
        done: concurrent.futures.Future = concurrent.futures.Future()
        self.loop.call_soon_threadsafe(self._schedule, log, key, done)
        return done

    def _schedule(self, log: SequencedLog, key: StreamKey, done: concurrent.futures.Future) -> None:
        self._waiting.setdefault(key, []).append(done)
        if key in self._running:
            self._again.add(key)
            return
        self._running.add(key)
        task = self.loop.create_task(self._run(log, key), name=f"clarion-sequence-{key}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, log: SequencedLog, key: StreamKey) -> None:
        try:
            while True:
                self._again.discard(key)
                waiting = self._waiting.pop(key, [])  # committed before this batch reads
                try:
                    await self._run_batch(log, key)
                finally:
                    for done in waiting:
                        if not done.done():
                            done.set_result(None)
                if key not in self._again:
                    return
        finally:
            self._running.discard(key)
            for done in self._waiting.pop(key, []):  # cancelled at shutdown: nobody waits in vain
                if not done.done():
                    done.set_result(None)

    @staticmethod
    def _batch(log: SequencedLog, key: StreamKey) -> None:
        close_old_connections()
        try:
            _sequence_safely(log, key)
        finally:
            close_old_connections()

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


_sequencer: Sequencer | None = None


def start(loop: asyncio.AbstractEventLoop) -> Sequencer:
    global _sequencer
    if _sequencer is None or _sequencer.loop is not loop:
        _sequencer = Sequencer(loop)
    return _sequencer


async def stop() -> None:
    global _sequencer
    if _sequencer is not None:
        current, _sequencer = _sequencer, None
        await current.stop()


def on_commit(log: SequencedLog, key: StreamKey) -> None:
    """Sequence and push the stream's new rows once the current transaction commits (where
    this process can deliver; elsewhere a server's relay finds them)."""
    if pusher().can_deliver():
        transaction.on_commit(lambda: request(log, key))


# How long a committing thread waits for its batch: a batch pushes under PUBLISH_TIMEOUT per
# failed push at worst, and the breaker stops it after the first; past this the relay has it.
_WAIT = 10.0


def request(log: SequencedLog, key: StreamKey) -> None:
    """After a commit: the serving process's sequencer runs the stream while this thread waits
    for it, or, where none runs (a script, the CLI), this thread does it, now."""
    runner = _sequencer
    if runner is None or runner.loop.is_closed():
        _sequence_safely(log, key)
        return
    done = runner.request(log, key)
    try:
        if asyncio.get_running_loop() is runner.loop:
            return  # never block the loop the batch needs; its push follows shortly
    except RuntimeError:
        pass  # no loop in this thread: the usual case, a request's sync thread
    try:
        done.result(timeout=_WAIT)
    except concurrent.futures.TimeoutError:
        logger.warning("sequencing %s took over %.0f s; the relay finishes it", key, _WAIT)
