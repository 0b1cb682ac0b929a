"""Reading a stream at connect: the head first, then only rows at or below it.

Rows sequenced later reach the socket live, because the socket joined its group before this
read and pushing happens after the head moves (clarion.streams.sequencer).
"""

from dataclasses import dataclass, field

from clarion.streams.models import StreamHead


@dataclass
class LogSnapshot:
    head: int
    recent: list = field(default_factory=list)
    missed: list | None = None  # set on a successful resume: everything after the cursor
    cursor_expired: bool = False
    # "retention": the cursor predates what retention kept; else (when expired) too many followed it
    expired_because: str = ""


def head_of(stream) -> int:
    return StreamHead.objects.filter(name=str(stream)).values_list("position", flat=True).first() or 0


def read_log(stream, rows, *, after: int | None, recent, recent_limit: int, resume_limit: int) -> LogSnapshot:
    """``stream``: its StreamKey; ``rows``: the stream's rows (a queryset); ``recent``: how to
    pick the fresh-connect history from them (a callable taking a queryset limited to
    seq <= head)."""
    head = head_of(stream)
    upto = rows.filter(seq__isnull=False, seq__lte=head)
    if after is not None:
        missed = list(upto.filter(seq__gt=after).order_by("seq")[: resume_limit + 1])
        if len(missed) <= resume_limit:
            return LogSnapshot(head=head, missed=missed)
    history = recent(upto)[:recent_limit]
    return LogSnapshot(head=head, recent=list(reversed(list(history))), cursor_expired=after is not None)
