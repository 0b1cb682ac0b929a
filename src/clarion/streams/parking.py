"""Parking: setting aside a log row that can never be sequenced or pushed.

Each stream is published strictly in order (clarion.streams.sequencer), so a row that fails
the same way on every attempt (data its frame encoder refuses, an audience that names no
valid group) used to stop its stream for every reader, across restarts (issue 10). Such a
row is recorded here once, logged once with its id and the reason, counted, and skipped; the
row itself stays in its table until an operator retries or drops it (``clarion doctor``).
"""

import logging

from django.db import IntegrityError, transaction

from clarion.streams.models import ParkedEntry
from clarion.observability import metrics

logger = logging.getLogger("clarion.publish")

SEQUENCE = "sequence"  # refused before it took a seq: no hole in the stream
PUBLISH = "publish"  # sequenced (by an older version, or before a setting changed), then refused

_MAX_REASON = 500


def describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip()
    return text if len(text) <= _MAX_REASON else text[: _MAX_REASON - 3] + "..."


def park(log_name: str, row_id, stream: str, seq: int | None, stage: str, exc: BaseException) -> None:
    """Record that ``row_id`` of ``log_name`` cannot be published, so its stream goes on."""
    reason = describe(exc)
    try:
        with transaction.atomic():  # a savepoint: a duplicate must not spoil the caller's transaction
            ParkedEntry.objects.create(log=log_name, row_id=row_id, stream=stream, seq=seq, stage=stage, reason=reason)
    except IntegrityError:
        return  # another process parked it first, and logged it
    metrics.PARKED.labels(log=log_name, stage=stage).inc()
    logger.error("parked %s %s (%s): it cannot be %s: %s; its stream goes on without it (see `clarion doctor`)",
                 log_name, row_id, stream, "sequenced" if stage == SEQUENCE else "pushed", reason)


def parked_ids(log_name: str):
    """The ids of the log's parked rows, as a subquery."""
    return ParkedEntry.objects.filter(log=log_name).values("row_id")


def parked_entries():
    return ParkedEntry.objects.order_by("parked_at", "id")


def count() -> int:
    return ParkedEntry.objects.count()


# -- operator actions (clarion doctor) --------------------------------------------------------


def retry(entry) -> str | None:
    """Put a parked row back in line: it loses any seq it had, and it is sequenced again at
    the end of its stream (by this process where it can push, else by a server's relay).
    Returns why it still cannot be published (leaving it parked, with the fresh reason), or
    None when it was put back."""
    from clarion.streams.log import get
    from clarion.streams.models import StreamHead
    from clarion.streams.sequencer import prepare

    log = get(entry.log)
    if log is None:
        return f"no log named {entry.log!r} is registered"
    with transaction.atomic():
        row = log.rows().filter(pk=entry.row_id).first()
        if row is None:
            entry.delete()
            return "the row no longer exists; its parked entry was removed"
        key = log.key_of(row)
        row.seq = (StreamHead.objects.filter(name=str(key)).values_list("position", flat=True).first() or 0) + 1
        prepared = prepare(log, row)
        if isinstance(prepared, Exception):
            entry.reason = describe(prepared)
            entry.save(update_fields=["reason"])
            return entry.reason
        log.model.objects.filter(pk=row.pk).update(seq=None)
        entry.delete()
        log.on_commit(key)
    return None


def drop(entry) -> None:
    """Delete a parked row for good (with its read state), and its parked entry."""
    from clarion.streams.log import get

    log = get(entry.log)
    with transaction.atomic():
        if log is not None:
            log.model.objects.filter(pk=entry.row_id).delete()
        entry.delete()
