"""The Python API and the queries: who sees what, read state, publish after commit."""

import asyncio
import json

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

import clarion
from clarion.notifications import queries, services
from clarion.notifications.models import Notification
from clarion.streams.models import StreamHead
from clarion.observability import metrics
from clarion.realtime import groups, relay, runtime
from tests.unit.fakes import RecordingOutbox

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def serving():
    runtime.mark_serving()


@pytest.fixture
async def listen():
    """Subscribe a recording socket to a hub group; returns a coroutine function fetching
    the frames that arrived. Synchronous calls go through ``in_thread`` so that their
    publishes run on this test's event loop and its hub, as they do under the server."""
    from clarion.realtime.hub import get_hub

    hub = get_hub()

    async def subscribe(group):
        outbox = RecordingOutbox()
        subscription = hub.attach(outbox, on_resync=None)
        await hub.join(subscription, [group])
        hub.mark_ready(subscription, head=0)

        async def drain():
            await asyncio.sleep(0.3)
            taken = list(outbox.frames)
            outbox.frames.clear()
            return taken

        return drain

    return subscribe


def in_thread(function):
    return database_sync_to_async(function)


def titles(qs):
    return sorted(n.title for n in qs)


def test_each_user_sees_personal_role_and_all_but_nothing_else(people):
    clarion.send_notification_to_user(people["alice"], "for alice")
    clarion.send_notification_to_user(people["bob"], "for bob")
    clarion.send_notification_to_role("student", "for students")
    clarion.send_notification_to_role("advisor", "for advisors")
    clarion.send_notification_to_all("for everyone")
    alice, carol = people["alice"], people["carol"]
    assert titles(queries.visible_to(alice.pk, "student")) == ["for alice", "for everyone", "for students"]
    assert titles(queries.visible_to(carol.pk, "advisor")) == ["for advisors", "for everyone"]


def test_a_broadcast_is_one_row_whatever_the_audience(people, make_user):
    for i in range(30):
        make_user(f"student{i}", "student")
    with CaptureQueriesContext(connection) as captured:
        clarion.send_notification_to_all("one row")
    inserts = [q for q in captured.captured_queries
               if q["sql"].startswith("INSERT") and '"clarion_notification' in q["sql"]]
    assert len(inserts) == 1
    assert Notification.objects.count() == 1


def test_unread_counts_follow_single_and_all_reads(people):
    alice, bob = people["alice"], people["bob"]
    a = clarion.send_notification_to_user(alice, "a")
    clarion.send_notification_to_role("student", "b")
    c = clarion.send_notification_to_all("c")
    assert queries.unread_count(alice.pk, "student") == 3
    read, missing = services.mark_as_read(alice.pk, "student", [a.pk, c.pk])
    assert (read, missing) == ([a.pk, c.pk], [])
    assert queries.unread_count(alice.pk, "student") == 1
    assert queries.unread_count(bob.pk, "student") == 2  # alice's reads of shared ones are hers alone
    services.mark_all_as_read(alice.pk, "student")
    assert queries.unread_count(alice.pk, "student") == 0
    clarion.send_notification_to_all("d")
    assert queries.unread_count(alice.pk, "student") == 1
    assert [n.is_read for n in queries.visible_to(alice.pk, "student").order_by("id")] == [True, True, True, False]


def test_marking_another_users_notification_reports_not_found(people):
    secret = clarion.send_notification_to_user(people["bob"], "bob only")
    advisors = clarion.send_notification_to_role("advisor", "advisors only")
    read, missing = services.mark_as_read(people["alice"].pk, "student", [secret.pk, advisors.pk, 424242])
    assert read == [] and missing == [secret.pk, advisors.pk, 424242]
    assert queries.unread_count(people["bob"].pk, "student") == 1


async def test_push_happens_after_commit_and_never_on_rollback(people, listen):
    received = await listen(groups.user_group(people["alice"].pk))

    def rolled_back():
        with pytest.raises(RuntimeError):
            with transaction.atomic():
                clarion.send_notification_to_user(people["alice"], "ghost")
                raise RuntimeError("business logic failed")

    await in_thread(rolled_back)()
    assert await received() == []
    assert not await in_thread(Notification.objects.filter(title="ghost").exists)()

    def committed():
        with transaction.atomic():
            clarion.send_notification_to_user(people["alice"], "real")
            assert async_to_sync(received)() == []  # nothing before the commit

    await in_thread(committed)()
    frames = await received()
    assert [(f["type"], f["data"]["title"]) for f in frames] == [("notification", "real")]


async def test_role_and_all_pushes_reach_their_groups_only(people, listen):
    students = await listen(groups.role_group("student"))
    advisors = await listen(groups.role_group("advisor"))
    everyone = await listen(groups.ALL_USERS)
    await in_thread(clarion.send_notification_to_role)("student", "s")
    await in_thread(clarion.send_notification_to_all)("e")
    assert len(await students()) == 1 and await advisors() == [] and len(await everyone()) == 1


def test_realtime_layer_down_still_stores_logs_and_counts(people, monkeypatch, caplog):
    async def broker_down(group, event):
        raise ConnectionError("redis is down")

    monkeypatch.setattr("clarion.realtime.publish._publish", broker_down)
    before = metrics.PUBLISH_FAILURES.labels(stage="send")._value.get()
    notification = clarion.send_notification_to_user(people["alice"], "stored anyway")
    assert Notification.objects.get(pk=notification.pk).seq is not None  # in the log, resumable
    assert metrics.PUBLISH_FAILURES.labels(stage="send")._value.get() == before + 1
    assert "retried in order by the relay" in caplog.text
    head = StreamHead.objects.get(name="notifications")
    assert head.published == head.position - 1  # the failed push waits, and holds back later ones
    later = clarion.send_notification_to_user(people["alice"], "after it")  # not even tried: the breaker is open
    head.refresh_from_db()
    assert head.published == head.position - 2
    assert metrics.PUBLISH_FAILURES.labels(stage="send")._value.get() == before + 1
    monkeypatch.undo()  # the broker is back, and the breaker's cool-down passes: the relay pushes both, in order
    from clarion.realtime import publish

    publish._breaker.next_probe = 0.0
    assert publish.publish_backlogs() == 1
    assert not publish._breaker.tripped
    head.refresh_from_db()
    assert head.published == head.position == Notification.objects.get(pk=later.pk).seq


def test_a_bulk_create_whose_batch_push_fails_waits_whole_for_the_relay(people, monkeypatch, caplog):
    """A batch is pushed in one pipelined call: when it fails, none of it counts as pushed, and
    the relay pushes all of it, in order, once the broker answers."""
    async def broker_down(sends):
        raise ConnectionError("redis is down")

    monkeypatch.setattr("clarion.realtime.publish._publish_many", broker_down)
    rows = clarion.send_notification_to_users([people["alice"], people["bob"], people["carol"]], "bulk")
    head = StreamHead.objects.get(name="notifications")
    assert [Notification.objects.get(pk=row.pk).seq for row in rows] == [head.position - 2, head.position - 1,
                                                                        head.position]
    assert head.published == head.position - 3
    assert "3 events failed" in caplog.text and "retried in order by the relay" in caplog.text
    monkeypatch.undo()
    from clarion.realtime import publish

    publish._breaker.next_probe = 0.0
    assert publish.publish_backlogs() == 1
    head.refresh_from_db()
    assert head.published == head.position


async def test_a_process_that_cannot_deliver_leaves_the_push_to_the_relay(people, monkeypatch, listen):
    received = await listen(groups.user_group(people["alice"].pk))

    def seq_of(pk):
        return Notification.objects.get(pk=pk).seq

    from clarion.realtime import publish

    monkeypatch.setattr(publish, "can_deliver_here", lambda: False)  # as in a CLI on the in-process layer
    notification = await in_thread(clarion.send_notification_to_user)(people["alice"], "from a script")
    assert await in_thread(seq_of)(notification.pk) is None
    assert await received() == []
    monkeypatch.undo()
    assert await in_thread(relay.publish_pending)() == 1
    assert await in_thread(seq_of)(notification.pk) is not None
    assert len(await received()) == 1
    assert await in_thread(relay.publish_pending)() == 0  # exactly once


def test_only_a_serving_process_delivers_through_the_in_process_broker(monkeypatch):
    from clarion.realtime import hub, publish

    monkeypatch.setattr("clarion.realtime.runtime._serving", False)
    assert publish.can_deliver_here() is (not hub.local_delivery_only())
    monkeypatch.setattr("clarion.realtime.runtime._serving", True)
    assert publish.can_deliver_here() is True


async def test_broadcast_notification_pushes_a_saved_notification_once(people, listen):
    received = await listen(groups.ALL_USERS)
    notification = await in_thread(Notification.objects.create)(title="made elsewhere", recipient_type="all")
    await clarion.abroadcast_notification(notification)
    await in_thread(clarion.broadcast_notification)(notification)
    assert len(await received()) == 1
    with pytest.raises(ValueError):
        clarion.broadcast_notification(Notification(title="unsaved", recipient_type="all"))


@pytest.mark.parametrize(
    "call, field",
    [
        (lambda p: clarion.send_notification_to_user(987654, "x"), "recipient_id"),
        (lambda p: clarion.send_notification_to_role("janitor", "x"), "recipient_id"),
        (lambda p: clarion.send_notification_to_all(""), "title"),
        (lambda p: clarion.send_notification_to_all("x", notification_type="panic"), "notification_type"),
        (lambda p: clarion.send_notification_to_all("x", data=["not", "a", "dict"]), "data"),
        (lambda p: clarion.send_notification_to_all("x", data={"blob": "y" * 20000}), "data"),
        (lambda p: clarion.send_notification_to_all("x", data={"nan": float("nan")}), "data"),
    ],
)
def test_invalid_input_is_refused_with_a_field_error(people, call, field):
    with pytest.raises(ValidationError) as caught:
        call(people)
    assert field in caught.value.message_dict
    assert Notification.objects.count() == 0


async def test_async_twins_store_and_push(people):
    from channels.db import database_sync_to_async

    alice = people["alice"]
    notification = await clarion.asend_notification_to_user(alice, "async hello")
    role_one = await clarion.asend_notification_to_role("student", "async role")
    all_one = await clarion.asend_notification_to_all("async all")
    seqs = await database_sync_to_async(
        lambda: list(Notification.objects.order_by("id").values_list("seq", flat=True))
    )()
    assert [n.title for n in (notification, role_one, all_one)] == ["async hello", "async role", "async all"]
    assert seqs == [1, 2, 3]


@pytest.mark.scaleout
def test_ids_committed_out_of_order_do_not_open_a_gap_in_resume(people):
    """PostgreSQL hands out ids at insert but commits in any order. Seqs are assigned at
    commit, so a cursor taken between two commits still leads to the later-committed row."""
    import threading

    from django.db import connections

    a_inserted, b_committed = threading.Event(), threading.Event()
    ids = {}

    def slow_writer():
        try:
            with transaction.atomic():
                ids["a"] = clarion.send_notification_to_all("inserted first, committed last").pk
                a_inserted.set()
                assert b_committed.wait(10)
        finally:
            connections.close_all()

    def fast_writer():
        try:
            assert a_inserted.wait(10)
            ids["b"] = clarion.send_notification_to_all("inserted second, committed first").pk
            b_committed.set()
        finally:
            connections.close_all()

    threads = [threading.Thread(target=slow_writer), threading.Thread(target=fast_writer)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(15)
    a, b = Notification.objects.get(pk=ids["a"]), Notification.objects.get(pk=ids["b"])
    assert a.pk < b.pk and a.seq > b.seq
    # A client that saw b (and nothing after) resumes from b's cursor and gets a.
    snap = queries.snapshot(people["alice"].pk, "student", after=b.seq, recent_limit=20, resume_limit=100)
    assert [n.pk for n in snap.missed] == [a.pk]


@pytest.mark.scaleout
def test_unread_count_and_resume_use_indexes_not_table_scans(people):
    """With a large history, counting and resuming must read index ranges, not the table."""
    from django.db import connection as conn

    others = [Notification(title=f"n{i}", recipient_type="user", recipient_id=str(10_000 + i % 500), seq=i + 1)
              for i in range(30_000)]
    Notification.objects.bulk_create(others, batch_size=5000)
    StreamHead.objects.update_or_create(name=queries.LOG_NAME, defaults={"position": 30_000})
    clarion.send_notification_to_all("everyone")
    with conn.cursor() as cursor:
        cursor.execute("ANALYZE clarion_notification")
    alice = people["alice"]
    count_plan = queries.unread(alice.pk, "student").explain()
    resume_plan = queries.visible_to(alice.pk, "student").filter(seq__gt=29_000).order_by("seq")[:100].explain()
    for plan in (count_plan, resume_plan):
        assert "Seq Scan on clarion_notification" not in plan, plan
    assert queries.unread_count(alice.pk, "student") == 1


def test_the_python_api_refuses_data_the_database_cannot_store(people):
    from django.core.exceptions import ValidationError

    for bad in ({"note": "nul \x00 inside"}, {"k": "\ud800"}, {"nested": ["\x00"]}):
        with pytest.raises(ValidationError) as refused:
            clarion.send_notification_to_user(people["alice"], "x", data=bad)
        assert "data" in refused.value.message_dict
    assert not Notification.objects.filter(title="x").exists()
