"""The connect snapshot is hand-written SQL for speed; it must agree with the ORM queries
that define visibility and read state, on any mix of audiences, reads and watermarks."""

import random

import pytest

from clarion.notifications import queries
from clarion.notifications.models import Notification, NotificationRead, ReadWatermark
from clarion.streams.models import StreamHead

pytestmark = pytest.mark.django_db


def build_world(rng, people):
    users = list(people.values())
    rows = []
    for seq in range(1, 61):
        kind = rng.choice(["user", "role", "all"])
        recipient = {"user": str(rng.choice(users).pk), "role": rng.choice(["student", "advisor", "admin"]),
                     "all": ""}[kind]
        unsequenced = rng.random() < 0.1
        rows.append(Notification(title=f"n{seq}", recipient_type=kind, recipient_id=recipient,
                                 seq=None if unsequenced else seq))
    Notification.objects.bulk_create(rows)
    StreamHead.objects.update_or_create(name=queries.LOG_NAME, defaults={"position": 60})
    all_ids = list(Notification.objects.values_list("pk", flat=True))
    for user in users:
        for pk in rng.sample(all_ids, 12):
            NotificationRead.objects.get_or_create(user=user, notification_id=pk)
        if rng.random() < 0.5:
            ReadWatermark.objects.create(user=user, seq=rng.randint(0, 60))


@pytest.mark.parametrize("seed", range(8))
def test_sql_snapshot_matches_the_orm_definition(people, seed):
    rng = random.Random(seed)
    build_world(rng, people)
    roles = {"alice": "student", "bob": "student", "carol": "advisor", "dave": "admin"}
    for name, user in people.items():
        role = roles[name] if rng.random() < 0.9 else None
        head = queries.head_position()
        sequenced = queries.visible_to(user.pk, role).filter(seq__isnull=False, seq__lte=head)
        unread = [n for n in sequenced.order_by("-seq") if not n.is_read]

        snap = queries.snapshot(user.pk, role, after=None, recent_limit=5, resume_limit=100)
        assert snap.head == head and snap.unread_count == len(unread)
        assert [n.pk for n in snap.recent] == [n.pk for n in unread[:5]]

        after = rng.randint(0, 60)
        snap = queries.snapshot(user.pk, role, after=after, recent_limit=5, resume_limit=100)
        expected = [(n.pk, n.is_read) for n in sequenced.filter(seq__gt=after).order_by("seq")]
        assert [(n.pk, bool(n.is_read)) for n in snap.missed] == expected
        # counted up to the cursor when notifications follow (they add themselves), else to the head
        upto = after if expected else head
        assert snap.unread_count == len([n for n in unread if n.seq <= upto])
