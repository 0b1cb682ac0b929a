"""Sequencing rows handed over by the code that inserted them (issue 11, "a cheap create").

A create hands its committed rows to its stream's batch instead of having them read back. The
relay may have numbered the same rows meanwhile (it sweeps every unsequenced row): then nothing
may be numbered twice, pushed twice, or lost.
"""

import pytest

from clarion.notifications.log import NOTIFICATIONS_LOG, STREAM
from clarion.notifications.models import Notification
from clarion.streams import log as streams_log
from clarion.streams.models import StreamHead
from clarion.streams.sequencer import sequence_rows, sequence_stream

pytestmark = pytest.mark.django_db(transaction=True)


class RecordingPusher(streams_log.Pusher):
    def __init__(self):
        self.pushed = []

    def can_deliver(self):
        return True

    def route(self, audience):
        return f"{audience[0]}.{audience[1]}"

    def ready(self):
        return True

    def push(self, group, seq, frame, tags=None):
        self.pushed.append((group, seq))
        return True


@pytest.fixture
def pusher():
    previous = streams_log.pusher()
    recording = RecordingPusher()
    streams_log.install_pusher(recording)
    yield recording
    streams_log.install_pusher(previous)


def personal(user, n):
    return Notification.objects.bulk_create(
        [Notification(title=f"n{i}", recipient_type="user", recipient_id=str(user.pk)) for i in range(n)])


def head():
    found = StreamHead.objects.get(name=str(STREAM))
    return found.position, found.published


def test_handed_rows_are_numbered_in_id_order_and_pushed_once_each(people, pusher):
    rows = personal(people["alice"], 3)
    assert sequence_rows(NOTIFICATIONS_LOG, STREAM, list(reversed(rows))) == 3
    stored = list(Notification.objects.order_by("id").values_list("seq", flat=True))
    assert stored == [1, 2, 3]
    assert pusher.pushed == [(f"user.{people['alice'].pk}", seq) for seq in (1, 2, 3)]
    assert head() == (3, 3)


def test_rows_the_relay_numbered_first_are_neither_numbered_nor_pushed_again(people, pusher):
    earlier = personal(people["alice"], 1)
    sequence_rows(NOTIFICATIONS_LOG, STREAM, earlier)
    rows = personal(people["bob"], 2)
    sequence_stream(NOTIFICATIONS_LOG, STREAM)  # the relay's sweep got there first
    numbered = list(Notification.objects.order_by("id").values_list("seq", flat=True))
    for row in rows:
        row.seq = None  # as the committing code holds them: unsequenced
    sequence_rows(NOTIFICATIONS_LOG, STREAM, rows)
    assert list(Notification.objects.order_by("id").values_list("seq", flat=True)) == numbered == [1, 2, 3]
    assert [seq for _, seq in pusher.pushed] == [1, 2, 3]
    assert head() == (3, 3)


def test_when_the_relay_took_some_of_them_the_rest_still_take_their_places(people, pusher):
    first, second = personal(people["alice"], 2)
    Notification.objects.filter(pk=first.pk).update(seq=1)  # as a sweep numbering only the first would
    StreamHead.objects.update_or_create(name=str(STREAM), defaults={"position": 1, "published": 1})
    first.seq = second.seq = None
    sequence_rows(NOTIFICATIONS_LOG, STREAM, [first, second])
    assert list(Notification.objects.order_by("id").values_list("seq", flat=True)) == [1, 2]
    assert [seq for _, seq in pusher.pushed] == [2]
    assert head() == (2, 2)
