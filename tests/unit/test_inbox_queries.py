"""The inbox's counts and the connect snapshot are hand-written SQL; they must agree with the ORM
definition (clarion.notifications.queries.inbox) on any mix of audiences, reads, watermarks,
seen, archived, snoozed and marked-unread rows, categories turned off and topics muted."""

import random
from datetime import datetime, timedelta, timezone

import pytest

from clarion.notifications import queries
from clarion.notifications.models import (
    Notification,
    NotificationRead,
    NotificationState,
    Preferences,
    ReadWatermark,
)
from clarion.streams.models import StreamHead

pytestmark = pytest.mark.django_db

CATEGORIES = ["deadline", "comment", "announcement", "review"]
TOPICS = ["", "project:1", "project:2", "room:a"]


def build_world(rng, people):
    users = list(people.values())
    rows = []
    for seq in range(1, 61):
        kind = rng.choice(["user", "role", "all"])
        recipient = {"user": str(rng.choice(users).pk), "role": rng.choice(["student", "advisor", "admin"]),
                     "all": ""}[kind]
        rows.append(Notification(title=f"n{seq}", recipient_type=kind, recipient_id=recipient,
                                 seq=None if rng.random() < 0.1 else seq, category=rng.choice(CATEGORIES),
                                 topic=rng.choice(TOPICS)))
    Notification.objects.bulk_create(rows)
    StreamHead.objects.update_or_create(name=queries.LOG_NAME, defaults={"position": 60})
    all_ids = list(Notification.objects.values_list("pk", flat=True))
    now = datetime.now(timezone.utc)
    for user in users:
        for pk in rng.sample(all_ids, 10):
            NotificationRead.objects.get_or_create(user=user, notification_id=pk)
        for pk in rng.sample(all_ids, 15 if rng.random() < 0.7 else 0):  # some readers never act
            NotificationState.objects.create(
                user=user, notification_id=pk, seen=rng.choice([None, True, False]), unread=rng.random() < 0.3,
                archived_at=now if rng.random() < 0.2 else None,
                snoozed_until=rng.choice([None, None, now - timedelta(hours=1), now + timedelta(hours=1)]))
        if rng.random() < 0.7:
            ReadWatermark.objects.create(user=user, seq=rng.randint(0, 60), seen_seq=rng.randint(0, 60))
        if rng.random() < 0.7:
            Preferences.objects.create(
                user=user, channels={"comment": {"in_app": rng.random() < 0.5}, "deadline": {"in_app": False}},
                mutes={topic: rng.choice([None, (now + timedelta(hours=1)).isoformat(),
                                          (now - timedelta(hours=1)).isoformat()])
                       for topic in rng.sample(TOPICS[1:], rng.randint(0, 2))})


@pytest.mark.parametrize("seed", range(10))
def test_sql_counts_and_snapshot_match_the_orm_inbox(people, seed):
    rng = random.Random(seed)
    build_world(rng, people)
    roles = {"alice": "student", "bob": "student", "carol": "advisor", "dave": "admin"}
    for name, user in people.items():
        role = roles[name] if rng.random() < 0.9 else None
        unread = list(queries.unread(user.pk, role))
        unseen = list(queries.unseen(user.pk, role))
        assert queries.counts(user.pk, role) == queries.Counts(len(unread), len(unseen))

        head = queries.head_position()
        sequenced = sorted((n for n in unread if n.seq is not None and n.seq <= head), key=lambda n: -n.seq)
        snap = queries.snapshot(user.pk, role, after=None, recent_limit=5, resume_limit=100)
        assert (snap.unread_count, snap.unseen_count) == (len(sequenced), len([n for n in sequenced if not n.is_seen]))
        assert [(n.pk, n.is_seen) for n in snap.recent] == [(n.pk, bool(n.is_seen)) for n in sequenced[:5]]

        after = rng.randint(0, 60)
        snap = queries.snapshot(user.pk, role, after=after, recent_limit=5, resume_limit=100)
        shown = queries.inbox(user.pk, role).filter(seq__gt=after, seq__lte=head).order_by("seq")
        expected = [(n.pk, bool(n.is_read), bool(n.is_seen)) for n in shown]
        assert [(n.pk, bool(n.is_read), bool(n.is_seen)) for n in snap.missed] == expected
        upto = after if expected else head
        assert snap.unread_count == len([n for n in sequenced if n.seq <= upto])


def test_a_locked_category_is_never_hidden_and_an_expired_mute_hides_nothing(people):
    alice = people["alice"]
    now = datetime.now(timezone.utc)
    Preferences.objects.create(user=alice, channels={"deadline": {"in_app": False}},
                               mutes={"project:1": None, "project:2": (now - timedelta(minutes=1)).isoformat()})
    for title, category, topic in [("locked", "deadline", "project:1"), ("muted", "comment", "project:1"),
                                   ("mute over", "comment", "project:2")]:
        Notification.objects.create(title=title, recipient_type="user", recipient_id=str(alice.pk),
                                    category=category, topic=topic)
    assert sorted(n.title for n in queries.unread(alice.pk, "student")) == ["locked", "mute over"]
    assert queries.counts(alice.pk, "student").unread_count == 2
