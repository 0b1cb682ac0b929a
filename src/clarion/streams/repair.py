"""What an operator does about parked rows (`clarion doctor`): retry or drop them."""

from django.db import transaction

from clarion.streams import parking
from clarion.streams.log import get
from clarion.streams.models import StreamHead
from clarion.streams.sequencer import on_commit, prepare


def retry(entry) -> str | None:
    """Put a parked row back in line: it loses any seq it had, and it is sequenced again at
    the end of its stream (by this process where it can push, else by a server's relay).
    Returns why it still cannot be published (leaving it parked, with the fresh reason), or
    None when it was put back."""
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
            entry.reason = parking.describe(prepared)
            entry.save(update_fields=["reason"])
            return entry.reason
        log.model.objects.filter(pk=row.pk).update(seq=None)
        entry.delete()
        on_commit(log, key)
    return None


def drop(entry) -> None:
    """Delete a parked row for good (with its read state), and its parked entry."""
    log = get(entry.log)
    with transaction.atomic():
        if log is not None:
            log.model.objects.filter(pk=entry.row_id).delete()
        entry.delete()
