"""Idempotency keys: a create retried with the same key answers its first result instead of
creating again (issue 11).

A key belongs to its owner (the requesting user, or nobody for Python calls without
``created_by``) and lives 24 hours. The protocol, run inside the caller's transaction:

1. ``claim`` inserts the key first, before any row is created. A second request with the same
   key blocks on the unique index until the first one's transaction ends (PostgreSQL waits on
   the index entry; SQLite's IMMEDIATE transactions take the write lock at BEGIN), then finds
   the key taken and gets the stored record instead of creating anything.
2. The caller creates its rows, then ``record`` stores the answer to replay.
3. Anything that refuses the request (a field error) rolls the claim back with the rows: only
   a success is remembered, so a corrected retry may use the same key.

The same key with a different request raises ``IdempotencyConflict`` (REST: 409). Expired
keys are replaced when reused, and every process deletes expired keys at most once every
``PRUNE_EVERY``, after a commit, in a statement of its own.
"""

import hashlib
import json
import logging
import re
import time
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import DatabaseError, IntegrityError, models, transaction
from django.utils import timezone

logger = logging.getLogger("clarion.idempotency")

TTL = timedelta(hours=24)
PRUNE_EVERY = 600.0  # seconds between two deletes of expired keys, per process
_KEY = re.compile(r"[\x20-\x7e]{1,255}")


class IdempotencyConflict(ValueError):
    """The key was used, within its 24 hours, for a different request."""


class IdempotencyRecord(models.Model):
    owner = models.CharField(max_length=64, blank=True)  # the requester's user id as text, "" for none
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)  # sha256 of the operation and its canonical JSON body
    status = models.PositiveSmallIntegerField(default=0)  # 0 until the first request's answer is stored
    response = models.JSONField(null=True)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        app_label = "clarion"
        constraints = [models.UniqueConstraint(fields=["owner", "key"], name="clarion_idempotency_once")]

    def __str__(self):
        return f"{self.owner or '-'}:{self.key} -> {self.status}"


def check_key(key, field: str = "idempotency_key") -> str:
    """The key itself, or a ValidationError naming ``field``."""
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise ValidationError({field: "an idempotency key is 1-255 printable ASCII characters"})
    return key


def owner_of(user) -> str:
    pk = getattr(user, "pk", None)
    return "" if pk is None else str(pk)


def fingerprint(operation: str, body) -> str:
    """A hash of the request: same operation and same JSON (whatever its key order), same hash."""
    canonical = json.dumps([operation, body], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def claim(owner: str, key: str, request_hash: str) -> IdempotencyRecord | None:
    """Take the key for this request (None: go on and create), or the record of the request
    that took it first (replay its answer). Call inside transaction.atomic()."""
    for _ in range(2):
        now = timezone.now()
        try:
            with transaction.atomic():  # a savepoint: the caller's transaction survives the conflict
                IdempotencyRecord.objects.create(owner=owner, key=key, request_hash=request_hash, created_at=now)
            _prune_soon()
            return None
        except IntegrityError:
            stored = IdempotencyRecord.objects.filter(owner=owner, key=key).first()
        if stored is None:  # pruned in between: take it
            continue
        if stored.created_at <= now - TTL:  # expired: the key is free again
            stored.delete()
            continue
        if stored.request_hash != request_hash:
            raise IdempotencyConflict(
                f"idempotency key {key!r} was used for a different request in the last 24 hours; "
                "use a new key for a new request"
            )
        return stored
    raise IntegrityError(f"idempotency key {key!r} is contended")  # pragma: no cover (two expiries in a row)


def record(owner: str, key: str, status: int, response) -> None:
    """Store the answer that replays of this key get."""
    IdempotencyRecord.objects.filter(owner=owner, key=key).update(status=status, response=response)


_next_prune = 0.0


def _prune_soon() -> None:
    global _next_prune
    if time.monotonic() >= _next_prune:
        _next_prune = time.monotonic() + PRUNE_EVERY
        transaction.on_commit(prune)


def prune() -> int:
    """Delete expired keys; never raises (a failed prune waits for the next one)."""
    try:
        deleted, _ = IdempotencyRecord.objects.filter(created_at__lte=timezone.now() - TTL).delete()
        return deleted
    except DatabaseError as exc:
        logger.warning("could not delete expired idempotency keys: %s", exc)
        return 0
