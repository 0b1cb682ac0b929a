"""The relay's sweeps: sequence rows that nobody sequenced, push entries whose push failed.

Rows are left unsequenced when the creating process could not push (a CLI on the embedded
in-process layer), or by a crash between commit and sequencing; pushes fail while the broker
is away. Every serving process sweeps (clarion.realtime.relay runs these on a timer); the
stream locks make sure each row is numbered and pushed exactly once.
"""

from django.db.models import F

from clarion.streams import log as logs
from clarion.streams.log import StreamKey, pusher
from clarion.streams.models import StreamHead
from clarion.streams import parking
from clarion.streams.sequencer import push_backlog, sequence_stream

_STREAMS_PER_SWEEP = 200


def pending_streams(log, limit: int = _STREAMS_PER_SWEEP) -> list:
    """Streams of ``log`` holding committed, unsequenced rows that are not parked."""
    rows = log.model.objects.filter(seq__isnull=True).exclude(pk__in=parking.parked_ids(log.name))
    if log.stream_field is None:
        return [log.key()] if rows.exists() else []
    ids = rows.order_by(log.stream_field).values_list(log.stream_field, flat=True).distinct()[:limit]
    return [log.key(stream_id) for stream_id in ids]


def publish_pending() -> int:
    """Sequence and push the unsequenced rows of every log; returns how many took a seq."""
    return sum(sequence_stream(log, key) for log in logs.logs() for key in pending_streams(log))


def publish_backlogs() -> int:
    """Push entries whose push failed earlier, stream by stream, in order, once the broker
    answers again. Returns how many streams were behind."""
    if not pusher().probe():
        return 0
    behind = list(StreamHead.objects.filter(published__lt=F("position")).values_list("name", flat=True))
    for name in behind:
        push_backlog(StreamKey.parse(name))
    return len(behind)
