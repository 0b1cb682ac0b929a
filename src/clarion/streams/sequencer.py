"""Sequencing with group commit: every committed, unsequenced row of a stream takes its place
in one transaction under the stream's lock, then the rows are pushed in seq order.

Why (issue 11): one site-wide lock, taken once per created row and held while Redis was
published to, capped the whole site at a few hundred creates per second. Now a stream's lock
is taken once per batch, however many rows committed meanwhile, and independent streams do
not wait for each other. The guarantees are the ones docs/architecture.md argues for: seqs
become visible in commit order (the head moves in the transaction that numbers the rows),
and pushes leave in seq order (they happen under the lock, after earlier failed pushes).

After a commit, the committing thread runs its stream's batch itself unless another thread of
the process is running one; then it waits for the next batch, which one of the waiting threads
runs for all of them (:class:`_StreamTurns`). So a burst of concurrent creates becomes a few
batches, each numbering many rows under one lock, without handing work between threads.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time

from django.db import DatabaseError, close_old_connections, connection, transaction

from clarion.observability import metrics
from clarion.streams import parking
from clarion.streams.locks import stream_lock
from clarion.streams.log import SequencedLog, StreamKey, of_stream, pusher
from clarion.streams.models import StreamHead

logger = logging.getLogger("clarion.publish")

BATCH = 500  # rows numbered per transaction; a longer queue takes several


def prepare(log: SequencedLog, row):
    """The row's (group, encoded frame, meta), or the exception that makes it unpublishable.

    Database errors propagate: they are transient, and the row is retried. Anything else (an
    encoder refusing the data, an audience no group can carry) fails the same way on every
    retry, so the row is parked rather than retried for ever in front of its stream."""
    try:
        return pusher().route(log.audience(row)), log.frame(row), None if log.meta is None else log.meta(row)
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


def _write_seqs(log: SequencedLog, rows, *, unsequenced_only: bool = False) -> int:
    """One prepared statement, executed for every row of the batch: every new seq is above the
    head, so no unique constraint on seq can trip whatever order the rows are written in.
    (A 500-branch CASE through the ORM cost more to compile than to run.) Returns how many
    rows were written; with ``unsequenced_only``, rows that took a seq meanwhile are not."""
    meta = log.model._meta
    quote = connection.ops.quote_name
    seq = quote(meta.get_field("seq").column)
    sql = f"UPDATE {quote(meta.db_table)} SET {seq} = %s WHERE {quote(meta.pk.column)} = %s"
    if unsequenced_only:
        sql += f" AND {seq} IS NULL"
    with connection.cursor() as cursor:
        cursor.executemany(sql, [(row.seq, row.pk) for row in rows])
        return cursor.rowcount


# The stream heads are read and moved with plain SQL: in a batch of one row, compiling the ORM's
# statements for them cost more than the statements.
def _head_sql(statement: str) -> str:
    quote = connection.ops.quote_name
    return statement.format(table=quote(StreamHead._meta.db_table), name=quote("name"),
                            position=quote("position"), published=quote("published"))


def _lock_head(name: str) -> tuple[int, int]:
    """(position, published) of the stream, its row locked until the transaction ends."""
    sql = "SELECT {position}, {published} FROM {table} WHERE {name} = %s"
    if connection.features.has_select_for_update:
        sql += " FOR UPDATE"
    with connection.cursor() as cursor:
        cursor.execute(_head_sql(sql), [name])
        found = cursor.fetchone()
    if found is None:  # the stream's first entry
        head = StreamHead.objects.get_or_create(name=name)[0]
        return head.position, head.published
    return found[0], found[1]


def _move_head(name: str, position: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(_head_sql("UPDATE {table} SET {position} = %s WHERE {name} = %s"), [position, name])


def _mark_published(name: str, done: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(_head_sql("UPDATE {table} SET {published} = %s WHERE {name} = %s AND {published} < %s"),
                       [done, name, done])


def _number(log: SequencedLog, name: str, rows, position: int) -> tuple[list, int]:
    """Give ``rows`` the seqs after ``position`` in order, parking those that can never be
    published (without using up a seq); returns ([(row, (group, frame, meta))...], new position)."""
    numbered = []
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
        metrics.SEQUENCE_BATCHES.labels(log=log.name).inc()
        metrics.SEQUENCED_ROWS.labels(log=log.name).inc(len(numbered))
    return numbered, position


def sequence_stream(log: SequencedLog, key: StreamKey) -> int:
    """Number every committed, unsequenced row of the stream and push them in order (after
    any earlier entries whose push failed). Returns how many rows took a seq. Rows that can
    never be published are parked, without using up a seq."""
    name = str(key)
    total = 0
    while True:
        with stream_lock(name):
            with transaction.atomic():
                position, published = _lock_head(name)
                rows = _pending(log, key)
                numbered, position = _number(log, name, rows, position)
                if numbered:
                    _write_seqs(log, [row for row, _ in numbered])
                    _move_head(name, position)
            if numbered:
                push_in_order(log, key, published, numbered)
        total += len(numbered)
        if len(rows) < BATCH:
            return total


class _Overtaken(Exception):
    """Some rows handed to a batch were numbered by someone else meanwhile (the relay)."""


def sequence_rows(log: SequencedLog, key: StreamKey, rows) -> int:
    """Number rows this process has just inserted and committed, and push them in order: the
    same as :func:`sequence_stream` without reading them back, since the committing code holds
    them already (a bulk create's 1,000 rows cost more to read and rebuild than to number).
    Only for rows inserted and not changed since: an edited row is read back, as it stands.
    Should the relay have numbered some of them meanwhile, the batch is undone and the stream
    sequenced from the database instead."""
    name = str(key)
    rows = sorted(rows, key=lambda row: row.pk)
    try:
        with stream_lock(name):
            with transaction.atomic():
                position, published = _lock_head(name)
                numbered, position = _number(log, name, rows, position)
                if numbered:
                    if _write_seqs(log, [row for row, _ in numbered], unsequenced_only=True) != len(numbered):
                        raise _Overtaken
                    _move_head(name, position)
            if numbered:
                push_in_order(log, key, published, numbered)
            return len(numbered)
    except _Overtaken:
        for row in rows:
            row.seq = None
        return sequence_stream(log, key)


def push_in_order(log: SequencedLog, key: StreamKey, published: int, fresh=()) -> None:
    """Push the stream's entries after ``published`` in seq order, stopping at the first
    failure to reach the broker; park entries that can never be pushed and go on past them;
    record how far it got. Runs under the stream's lock. ``fresh``: rows just numbered, with
    their (group, frame, meta), which spares reading them back when nothing older waits."""
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
    sendable = []  # consecutive entries up to the next one that must be parked
    for row, entry in [*entries, (None, None)]:
        if row is None or isinstance(entry, Exception):
            sent = pusher().push_all(sendable) if sendable else 0
            if sent < len(sendable):
                done = sendable[sent - 1][1] if sent else done
                break
            done = sendable[-1][1] if sendable else done
            sendable = []
            if row is None:
                break
            # Sequenced before it could be checked (an older version, a changed setting):
            # its seq stays a hole in the stream, and readers' snapshots skip it.
            parking.park(log.name, row.pk, str(key), row.seq, parking.PUBLISH, entry)
            done = row.seq
            continue
        group, frame, meta = entry
        sendable.append((group, row.seq, frame, meta))
    if done > published:
        _mark_published(str(key), done)


def push_backlog(key: StreamKey) -> None:
    """Push what waits in one stream after a failed push (the relay calls this)."""
    log = of_stream(key)
    if log is None:
        return
    with stream_lock(str(key)):
        published = StreamHead.objects.filter(name=str(key)).values_list("published", flat=True).first()
        push_in_order(log, key, published or 0)


def _sequence_safely(log: SequencedLog, key: StreamKey, rows=None) -> None:
    """Sequence the stream (``rows``: just inserted, see :func:`sequence_rows`; None: read what
    waits from the database); never raises, the relay retries."""
    try:
        if rows is None:
            sequence_stream(log, key)
        elif rows:
            sequence_rows(log, key, rows)
    except Exception:
        metrics.PUBLISH_FAILURES.labels(stage="sequence").inc()
        logger.exception("could not sequence %s; the relay will retry", key)


# -- who runs it ---------------------------------------------------------------------------


class _StreamTurns:
    """Group commit within a process, for one stream: the first committer to find the stream
    idle runs a batch on its own thread; committers arriving meanwhile wait for the next batch,
    which one of them runs for all.

    Why threads and not a task on the event loop: the batch is database work that needs a
    thread anyway, and the committing thread is already one, waiting. Handing the batch to
    the loop and on to an executor thread cost four thread switches per create for nothing
    (issue 11's CPU profile), and a burst still becomes a few batches, each numbering many
    rows under one lock.

    ``started`` counts batches begun, ``finished`` the last one done: a commit made while
    batch n runs may have missed its read, so it waits for batch n + 1. A commit hands its
    inserted rows to the next batch (``handed``), or asks it to read the stream's waiting rows
    from the database (``read_back``: edits, repairs)."""

    def __init__(self):
        self.changed = threading.Condition()
        self.running = False
        self.started = 0
        self.finished = 0
        self.handed: list = []
        self.read_back = False

    def sequence(self, log: SequencedLog, key: StreamKey, rows, wait: float) -> bool:
        """Return once a batch that began after this call has run (True), or after ``wait``
        seconds of another thread's batch (False: the relay finishes what it left)."""
        deadline = time.monotonic() + wait
        with self.changed:
            if rows is None:
                self.read_back = True
            else:
                self.handed.extend(rows)
            needed = self.started + 1
            while self.finished < needed:
                if not self.running:
                    self.running = True
                    self.started += 1
                    batch = self.started
                    take = None if self.read_back else self.handed
                    self.handed, self.read_back = [], False
                    self.changed.release()
                    try:
                        _sequence_safely(log, key, take)
                    finally:
                        self.changed.acquire()
                        self.running = False
                        self.finished = batch
                        self.changed.notify_all()
                    continue
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.changed.wait(left)
        return True


_turns: dict[StreamKey, _StreamTurns] = {}
_turns_lock = threading.Lock()


def _turns_of(key: StreamKey) -> _StreamTurns:
    turns = _turns.get(key)
    if turns is None:
        with _turns_lock:
            turns = _turns.setdefault(key, _StreamTurns())
    return turns


def on_commit(log: SequencedLog, key: StreamKey, inserted=None) -> None:
    """Sequence and push the stream's new rows once the current transaction commits (where
    this process can deliver; elsewhere a server's relay finds them). ``inserted``: the rows
    this transaction inserted, when that is all it did to the stream, which spares the batch
    reading them back."""
    if pusher().can_deliver():
        rows = None if inserted is None else list(inserted)
        transaction.on_commit(lambda: request(log, key, rows))


# How long a committing thread waits for another thread's batch: a batch pushes under
# PUBLISH_TIMEOUT per failed push at worst, and the breaker stops it after the first; past this
# the relay has it.
_WAIT = 10.0


def request(log: SequencedLog, key: StreamKey, rows=None) -> None:
    """After a commit: sequence the stream's new rows and push them, or wait for the batch
    that does, so a create answers once its row has its place in the log and was pushed (a
    client that connects right after the answer finds it in its snapshot)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None  # the usual case: a request's or a script's own thread
    if loop is not None:
        # Never block a running event loop: the batch runs on an executor thread instead.
        loop.run_in_executor(None, _sequence_in_worker, log, key, rows)
        return
    if not _turns_of(key).sequence(log, key, rows, _WAIT):
        logger.warning("sequencing %s took over %.0f s; the relay finishes it", key, _WAIT)


def _sequence_in_worker(log: SequencedLog, key: StreamKey, rows) -> None:
    close_old_connections()
    try:
        request(log, key, rows)
    finally:
        close_old_connections()
