"""Delivery receipts: clients acknowledge what they received (``ack`` frames), and each serving
process writes the furthest position per reader once a second, in one insert.

Hand-written because it is the hot side of receipts: 10,000 sockets acknowledging one broadcast
must cost a dict update each on the socket's path, not a database write each. An ack below what
was already written for that reader (another tab, a late frame) writes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timezone

from asgiref.sync import sync_to_async
from django.db import connection, transaction

from clarion.notifications.models import Receipt
from clarion.realtime.tasks import PerLoop

logger = logging.getLogger("clarion.delivery")

FLUSH_SECONDS = 1.0
_MAX_REMEMBERED = 200_000  # readers whose last written position is kept to skip repeats

_pending: dict = {}  # user id -> furthest acknowledged seq since the last flush
_written: dict = {}  # user id -> furthest seq written by this process


def note(user_id, seq: int) -> None:
    """Record an acknowledgement (called on the socket's path: no I/O)."""
    if seq > _pending.get(user_id, 0) and seq > _written.get(user_id, 0):
        _pending[user_id] = seq
        try:
            _flusher.ensure_started()
        except RuntimeError:  # no event loop (a script, a test): flush() is called by the caller
            pass


def flush(now: datetime | None = None) -> int:
    """Write what was acknowledged since the last flush; returns the rows written."""
    global _pending
    if not _pending:
        return 0
    batch, _pending = _pending, {}
    now = now or datetime.now(timezone.utc)
    try:
        at = connection.ops.adapt_datetimefield_value(now)  # the form the ORM stores on this backend
        _insert([(user_id, Receipt.Kind.DELIVERED.value, seq, at) for user_id, seq in batch.items()])
    except Exception:
        # Put them back (keeping anything newer) for the next flush: a receipt is not lost to a
        # database that was briefly away.
        for user_id, seq in batch.items():
            if seq > _pending.get(user_id, 0):
                _pending[user_id] = seq
        raise
    if len(_written) > _MAX_REMEMBERED:
        _written.clear()
    _written.update(batch)
    return len(batch)


def _insert(rows: list[tuple]) -> None:
    """One executemany of a plain INSERT, in one transaction: a third of the CPU of bulk_create,
    which builds and prepares a model instance per row (bench.delivery receipt-flush)."""
    table = Receipt._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        for start in range(0, len(rows), 5000):
            cursor.executemany(f"INSERT INTO {table} (user_id, kind, seq, at) VALUES (%s, %s, %s, %s)",
                               rows[start:start + 5000])


async def _run(stopping: asyncio.Event) -> None:
    while not stopping.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), FLUSH_SECONDS)
        try:
            await sync_to_async(flush)()
        except Exception:
            logger.warning("writing delivery receipts failed; retrying", exc_info=True)


_flusher = PerLoop("clarion-receipts", _run, 5.0, logger)
stop = _flusher.stop
