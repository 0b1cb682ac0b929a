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
