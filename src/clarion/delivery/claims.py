"""Claiming due rows for one worker round, and recording what became of them.

A claim is one UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED) RETURNING: two
workers on PostgreSQL never claim one row, and on SQLite the statement runs under the database's
one write lock. A claim carries a token and a lease; a worker that dies leaves its rows
"sending" until the lease lapses, then any worker claims them again. Every record of an outcome
names the claim, so a worker whose lease lapsed (it stalled, another took over) changes nothing.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from django.db import connection

from clarion.conf import clarion_settings
from clarion.delivery.models import Delivery, Status

_TABLE = Delivery._meta.db_table


def _returning_ids(sql: str, params: list) -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [row[0] for row in cursor.fetchall()]


def claim(now: datetime, limit: int) -> tuple[str, datetime, list[int]]:
    """Claim up to ``limit`` due rows (and their readers' other due digest rows, so that a digest
    goes out as one mail); returns (token, lease end, ids)."""
    token = secrets.token_hex(8)
    lease = now + timedelta(seconds=clarion_settings.DELIVERY_LEASE)
    lock = " FOR UPDATE SKIP LOCKED" if connection.vendor == "postgresql" else ""
    ids = _returning_ids(
        f"UPDATE {_TABLE} SET status = %s, claim = %s, lease_until = %s, attempts = attempts + 1, updated_at = %s"
        f" WHERE id IN (SELECT id FROM {_TABLE} WHERE (status = %s OR (status = %s AND lease_until < %s))"
        f" AND due_at <= %s ORDER BY due_at LIMIT %s{lock}) RETURNING id",
        [Status.SENDING, token, lease, now, Status.PENDING, Status.SENDING, now, now, limit])
    digest_readers = set(Delivery.objects.filter(pk__in=ids, digest=True).values_list("user_id", "channel"))
    for user_id, channel in digest_readers:
        ids += _returning_ids(
            f"UPDATE {_TABLE} SET status = %s, claim = %s, lease_until = %s, attempts = attempts + 1, updated_at = %s"
            f" WHERE id IN (SELECT id FROM {_TABLE} WHERE user_id = %s AND channel = %s AND digest = %s"
            f" AND (status = %s OR (status = %s AND lease_until < %s)) AND due_at <= %s{lock}) RETURNING id",
            [Status.SENDING, token, lease, now, user_id, channel, True, Status.PENDING, Status.SENDING, now, now])
    return token, lease, ids


def renew(token: str, lease: datetime) -> int:
    return Delivery.objects.filter(claim=token, status=Status.SENDING).update(lease_until=lease)


def backoff(attempts: int) -> float:
    return min(clarion_settings.DELIVERY_RETRY_CAP,
               clarion_settings.DELIVERY_RETRY_BASE * (2 ** max(0, attempts - 1)))


def record(token: str, ids: list[int], status: str, now: datetime, *, error: str = "", reason: str = "") -> int:
    """Record an outcome for rows still under ``token``; returns how many were."""
    mine = Delivery.objects.filter(pk__in=ids, claim=token, status=Status.SENDING)
    if status == Status.SENT:
        return mine.update(status=Status.SENT, sent_at=now, error="", lease_until=None, updated_at=now)
    if status == Status.SKIPPED:
        return mine.update(status=Status.SKIPPED, reason=reason, lease_until=None, updated_at=now)
    if status == Status.FAILED:
        return mine.update(status=Status.FAILED, error=error[:500], lease_until=None, updated_at=now)
    # A retry: back to pending after a backoff, or failed once the attempts are used up.
    done = 0
    for attempts in set(mine.values_list("attempts", flat=True)):
        same = mine.filter(attempts=attempts)
        if attempts >= clarion_settings.DELIVERY_MAX_ATTEMPTS:
            done += same.update(status=Status.FAILED, error=error[:500], lease_until=None, updated_at=now)
        else:
            done += same.update(status=Status.PENDING, error=error[:500], lease_until=None, updated_at=now,
                                due_at=now + timedelta(seconds=backoff(attempts)))
    return done
