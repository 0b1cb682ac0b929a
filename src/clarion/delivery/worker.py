"""The delivery worker: each round plans what fell due (clarion.delivery.planner), then claims
due rows, checks each again (read since? settings changed?) and hands the rest to their channel.

`clarion serve` runs it in every serving process beside the relay; `clarion worker` runs it on
its own. Any number may run: claims never overlap (clarion.delivery.claims).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import datetime, timedelta, timezone

from asgiref.sync import sync_to_async
from django.db import close_old_connections

from clarion.conf import clarion_settings
from clarion.delivery import channels as delivery_channels
from clarion.delivery import claims, planner, readers
from clarion.delivery.channels import Message
from clarion.delivery.models import Delivery, Status
from clarion.notifications import messages as notification_messages
from clarion.realtime.tasks import PerLoop

logger = logging.getLogger("clarion.delivery")


def send_due(now: datetime | None = None) -> int:
    """Claim and send one batch of due rows; returns how many rows it settled."""
    now = now or datetime.now(timezone.utc)
    token, lease, ids = claims.claim(now, clarion_settings.DELIVERY_BATCH)
    if not ids:
        return 0
    rows = list(Delivery.objects.filter(pk__in=ids, claim=token).select_related("notification", "user")
                .order_by("due_at", "id"))
    settled = 0
    by_channel: dict[str, list[Delivery]] = {}
    for row in rows:
        by_channel.setdefault(row.channel, []).append(row)
    holder = _Lease(token, lease)
    for name, channel_rows in by_channel.items():
        channel = delivery_channels.get(name)
        to_send, skipped = _recheck(channel, channel_rows, now)
        for reason, skipped_ids in skipped.items():
            settled += claims.record(token, skipped_ids, Status.SKIPPED, now, reason=reason)
        for message, outcome in channel.send(_messages(name, to_send), holder.still_mine):
            settled += claims.record(token, [d.pk for d in message.deliveries], outcome.status,
                                     datetime.now(timezone.utc), error=outcome.error, reason=outcome.reason)
            if outcome.status == Status.SENT:
                _sent_total.inc(len(message.deliveries))
    return settled


class _Lease:
    """Renews the claim while a long batch is still going; says when it has lapsed."""

    def __init__(self, token: str, until: datetime):
        self.token, self.until = token, until

    def still_mine(self) -> bool:
        now = datetime.now(timezone.utc)
        if now >= self.until:
            logger.warning("delivery claim %s lapsed mid-batch; leaving the rest to the next claim", self.token)
            return False
        seconds = clarion_settings.DELIVERY_LEASE
        if (self.until - now).total_seconds() < seconds / 2:
            self.until = now + timedelta(seconds=seconds)
            claims.renew(self.token, self.until)
        return True


def _recheck(channel, rows: list[Delivery], now: datetime) -> tuple[list[Delivery], dict]:
    """Rows still to send, and {reason: ids} of those that no longer should be."""
    skipped: dict[str, list[int]] = {}
    keep = []
    by_notification: dict[int, list[Delivery]] = {}
    for row in rows:
        by_notification.setdefault(row.notification_id, []).append(row)
    users = {row.user_id: row.user for row in rows}
    settings = readers.settings_of(list(users))
    reachable = channel.reachable(users)
    # One read of the read state for the whole batch: a batch of personal notifications is a
    # hundred notifications of one reader each (bench.delivery mail-rate: 4 statements a mail -> 1).
    states = readers.inbox_states_of([(row.notification, row.user_id) for row in rows], now)
    for group in by_notification.values():
        notification = group[0].notification
        for row in group:
            if not row.user.is_active:
                reason = "gone"
            else:
                reason, _, _ = readers.verdict(notification, channel.name, settings[row.user_id],
                                               states[(notification.pk, row.user_id)], row.user_id in reachable,
                                               now)
            if reason:
                skipped.setdefault(reason, []).append(row.pk)
            else:
                row.reader_settings = settings[row.user_id]
                keep.append(row)
    return keep, skipped


def _messages(channel: str, rows: list[Delivery]) -> list[Message]:
    out, digests = [], {}
    for row in rows:
        locale = notification_messages.locale_of(row.user, row.reader_settings.reader.locale)
        if row.digest:
            message = digests.get(row.user_id)
            if message is None:
                message = digests[row.user_id] = Message(channel, row.user, locale, [], digest=True)
                out.append(message)
            message.deliveries.append(row)
        else:
            out.append(Message(channel, row.user, locale, [row]))
    return out


def run_round(now: datetime | None = None, stopping=planner.never_stopping) -> tuple[int, int]:
    """(rows planned, rows settled) in one round; when ``stopping`` says so mid-plan, it sends
    nothing (a batch being sent is still finished: its claim would hold the rows otherwise)."""
    planned = planner.plan(now, stopping)
    if stopping():
        return planned, 0
    settled = send_due(now)
    return planned, settled


# -- running it ------------------------------------------------------------------------------------

def _counter():
    from prometheus_client import Counter

    return Counter("clarion_deliveries_sent", "Delivery rows sent (email and push), by this process")


_sent_total = _counter()


async def _run(stopping: asyncio.Event) -> None:
    while not stopping.is_set():
        busy = False
        try:
            planned, settled = await sync_to_async(_round_in_thread)(stopping.is_set)
            busy = settled >= clarion_settings.DELIVERY_BATCH or planned > 0
        except Exception:  # the database or the mail server may be down; the next round retries
            logger.warning("delivery round failed; retrying", exc_info=True)
        if not busy:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), clarion_settings.DELIVERY_INTERVAL)


def _round_in_thread(stopping=planner.never_stopping) -> tuple[int, int]:
    close_old_connections()
    try:
        return run_round(stopping=stopping)
    finally:
        close_old_connections()


# A round may be sending mail when the server stops: let it finish (its claim would otherwise
# hold its rows until the lease lapses), within the grace. Planning stops at the next notification.
STOP_GRACE_SECONDS = 15.0
_worker = PerLoop("clarion-delivery", _run, STOP_GRACE_SECONDS, logger)
ensure_started = _worker.ensure_started
stop = _worker.stop


def run_forever(stop_after: float | None = None) -> None:
    """`clarion worker`: rounds until interrupted (or for ``stop_after`` seconds)."""
    started = time.monotonic()
    while stop_after is None or time.monotonic() - started < stop_after:
        try:
            planned, settled = _round_in_thread()
        except Exception:
            logger.warning("delivery round failed; retrying", exc_info=True)
            planned = settled = 0
        if settled < clarion_settings.DELIVERY_BATCH and planned == 0:
            time.sleep(clarion_settings.DELIVERY_INTERVAL)


def run_command(once: bool, write) -> None:
    """`clarion worker` and `manage.py clarion_worker`: one round, or rounds until SIGTERM or
    Ctrl+C (a round in progress finishes first); ``write`` prints a line."""
    import signal
    import sys

    if once:
        planned, settled = run_round()
        write(f"planned {planned} deliveries, settled {settled}")
        return
    logging.getLogger("clarion.delivery").setLevel(logging.INFO)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # systemd, docker stop: like Ctrl+C
    write("Clarion delivery worker running (Ctrl+C to stop)")
    try:
        run_forever()
    except (KeyboardInterrupt, SystemExit):
        pass
