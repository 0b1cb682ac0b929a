"""Retention: what `clarion prune` deletes, in which order, and what it leaves behind."""

from datetime import datetime, timedelta, timezone

import pytest

import clarion
from clarion.notifications import queries, retention
from clarion.notifications.models import Notification, NotificationRead, NotificationState
from clarion.realtime import runtime
from clarion.streams.models import StreamHead

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def serving():
    runtime.mark_serving()  # rows are sequenced as they commit, as in a server


def _aged(notification, days):
    Notification.objects.filter(pk=notification.pk).update(
        created_at=datetime.now(timezone.utc) - timedelta(days=days))


def test_prune_deletes_expired_then_old_read_then_old_with_their_state_rows_and_keeps_the_rest(people):
    alice, bob = people["alice"], people["bob"]
    read_old = clarion.send_notification_to_user(alice, "old, read")
    unread_old = clarion.send_notification_to_user(bob, "old, unread")
    broadcast_old = clarion.send_notification_to_all("old broadcast")
    expiring = clarion.send_notification_to_all("expires", expires_at=datetime.now(timezone.utc) + timedelta(hours=1))
    clarion.send_notification_to_user(alice, "recent")
    for row in (read_old, unread_old, broadcast_old):
        _aged(row, 400)
    Notification.objects.filter(pk=expiring.pk).update(expires_at=datetime.now(timezone.utc) - timedelta(seconds=1))
    NotificationRead.objects.get_or_create(user=alice, notification=read_old)
    NotificationState.objects.create(user=bob, notification=broadcast_old, archived_at=datetime.now(timezone.utc))

    dry = retention.prune(dry_run=True)
    assert dry.deleted == {retention.EXPIRED: 1, retention.OLD_READ: 1, retention.OLD: 3}  # OLD counts all old ones
    assert Notification.objects.count() == 5

    report = retention.prune(batch=1)
    assert report.deleted == {retention.EXPIRED: 1, retention.OLD_READ: 1, retention.OLD: 2}
    assert list(Notification.objects.values_list("title", flat=True)) == ["recent"]
    assert not NotificationRead.objects.exists() and not NotificationState.objects.exists()
    head = StreamHead.objects.get(name=queries.LOG_NAME)
    # the highest position deleted by age; the expired one, deleted for expiring, moves nothing
    aged = [row.seq for row in (read_old, unread_old, broadcast_old)]
    assert None not in aged and report.retained_after == head.retained_after == max(aged)
    # a cursor below what was kept gets a fresh snapshot, and says why
    snap = queries.snapshot(alice.pk, "student", after=1, recent_limit=5, resume_limit=100)
    assert snap.missed is None and snap.expired_because == "retention"
    assert [n.title for n in snap.recent] == ["recent"]
    kept = queries.snapshot(alice.pk, "student", after=head.retained_after, recent_limit=5, resume_limit=100)
    assert [n.title for n in kept.missed] == ["recent"] and kept.expired_because == ""


def test_a_poll_from_before_what_was_kept_answers_cursor_expired_with_the_sockets_snapshot(people):
    """GET /api/notifications/?after= follows the socket's rule: a resume never skips what
    retention deleted silently (docs/protocol.md, Polling resume)."""
    from rest_framework.test import APIClient

    from clarion.protocol import encode_cursor

    alice = people["alice"]
    old = clarion.send_notification_to_user(alice, "old")
    clarion.send_notification_to_user(alice, "recent")
    _aged(old, 400)
    retention.prune()
    retained_after = StreamHead.objects.get(name=queries.LOG_NAME).retained_after
    client = APIClient()
    client.force_authenticate(alice)

    expired = client.get(f"/api/notifications/?after={encode_cursor(retained_after - 1)}").json()
    assert expired["cursor_expired"] == "retention" and expired["results"] == []
    assert [n["title"] for n in expired["snapshot"]["notifications"]] == ["recent"]
    assert expired["snapshot"]["cursor_expired"] == "retention" and expired["cursor"] == expired["snapshot"]["cursor"]
    kept = client.get(f"/api/notifications/?after={encode_cursor(retained_after)}").json()
    assert "cursor_expired" not in kept and [n["title"] for n in kept["results"]] == ["recent"]
