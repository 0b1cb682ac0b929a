"""Bulk creates and idempotency keys (issue 11, item 4), over REST and the Python API."""

from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

import clarion
from clarion.notifications import idempotency
from clarion.notifications.idempotency import IdempotencyRecord
from clarion.notifications.models import Notification
from clarion.notifications.services import EntryErrors
from clarion.realtime import groups
# The REST client, the serving flag and the recording hub subscriber of the API and notification tests.
from tests.unit.test_api import client_for, serving  # noqa: F401  (serving: an autouse fixture)
from tests.unit.test_notifications import listen  # noqa: F401  (a fixture)

pytestmark = pytest.mark.django_db(transaction=True)

BULK = "/api/notifications/bulk/"


def post(user, path, body, key=None):
    headers = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}
    return client_for(user).post(path, body, format="json", **headers)


def personal(user, title, **extra):
    return {"title": title, "recipient_type": "user", "recipient_id": str(user.pk), **extra}


# -- bulk over REST --------------------------------------------------------------------------


def test_bulk_creates_every_entry_and_answers_their_ids_in_request_order(people):
    alice, bob = people["alice"], people["bob"]
    body = {"notifications": [
        personal(bob, "first"),
        {"title": "second", "recipient_type": "role", "recipient_id": "student", "notification_type": "warning"},
        personal(alice, "third", data={"k": 1}, link="/x"),
        {"title": "fourth", "recipient_type": "all"},
    ]}
    response = post(people["dave"], BULK, body)
    assert response.status_code == 201, response.json()
    ids = response.json()["ids"]
    rows = Notification.objects.in_bulk(ids)
    assert [rows[pk].title for pk in ids] == ["first", "second", "third", "fourth"]
    assert rows[ids[0]].recipient_id == str(bob.pk) and rows[ids[1]].notification_type == "warning"
    assert rows[ids[2]].data == {"k": 1} and rows[ids[2]].link == "/x"
    assert {row.created_by_id for row in rows.values()} == {people["dave"].pk}
    seen_by_alice = client_for(alice).get("/api/notifications/").json()["results"]
    assert sorted(n["title"] for n in seen_by_alice) == ["fourth", "second", "third"]


def test_one_invalid_entry_refuses_the_whole_bulk_naming_its_index_and_field(people):
    alice = people["alice"]
    entries = [personal(alice, f"n{i}") for i in range(5)]
    entries[3] = {**entries[3], "title": ""}
    response = post(people["dave"], BULK, {"notifications": entries})
    assert response.status_code == 400
    assert list(response.json()) == ["notifications"] and list(response.json()["notifications"]) == ["3"]
    assert list(response.json()["notifications"]["3"]) == ["title"]

    entries = [personal(alice, f"n{i}") for i in range(5)]
    entries[1] = {**entries[1], "recipient_id": "987654"}  # a check of the service layer, after the serializer's
    entries[4] = {"title": "x", "recipient_type": "role", "recipient_id": "janitor"}
    response = post(people["dave"], BULK, {"notifications": entries})
    assert response.status_code == 400
    errors = response.json()["notifications"]
    assert set(errors) == {"1", "4"}
    assert errors["1"] == {"recipient_id": ["no user with id 987654"]} and "janitor" in errors["4"]["recipient_id"][0]
    assert Notification.objects.count() == 0


@pytest.mark.parametrize("body", [
    {"notifications": []}, {"notifications": "x"}, {"notifications": ["x"]}, {}, {"notifications": [None]},
])
def test_a_bulk_that_is_no_list_of_entries_is_a_400(people, body):
    response = post(people["dave"], BULK, body)
    assert response.status_code == 400 and "notifications" in response.json()
    assert Notification.objects.count() == 0


def test_bulk_takes_1000_entries_in_few_queries_and_refuses_1001(people):
    alice = people["alice"]
    too_many = post(people["dave"], BULK, {"notifications": [personal(alice, "x")] * 1001})
    assert too_many.status_code == 400
    assert too_many.json() == {"notifications": ["Ensure this field has no more than 1000 elements."]}

    users = [people[name] for name in ("alice", "bob", "carol", "dave")]
    entries = [personal(users[i % 4], f"n{i}") for i in range(1000)]
    with CaptureQueriesContext(connection) as queries:
        response = post(people["dave"], BULK, {"notifications": entries})
    assert response.status_code == 201 and len(response.json()["ids"]) == 1000
    sql = [q["sql"] for q in queries.captured_queries]
    inserts = [s for s in sql if s.startswith('INSERT INTO "clarion_notification"')]
    user_lookups = [s for s in sql if 'FROM "auth_user"' in s and " IN (" in s]
    assert 1 <= len(inserts) <= 20, len(inserts)  # PostgreSQL: one; SQLite: its parameter limit splits
    assert len(user_lookups) == 1
    assert Notification.objects.count() == 1000


def test_only_administrators_may_bulk_create(people):
    body = {"notifications": [personal(people["alice"], "x")]}
    for who in ("alice", "carol"):
        response = post(people[who], BULK, body)
        assert response.status_code == 403
        assert response.json() == {"detail": "Only administrators may create notifications."}
    assert client_for().post(BULK, body, format="json").status_code == 401
    assert Notification.objects.count() == 0


async def test_a_bulk_reaches_every_recipient_live(people, listen):
    alice, bob = people["alice"], people["bob"]
    alice_frames = await listen(groups.user_group(alice.pk))
    bob_frames = await listen(groups.user_group(bob.pk))
    response = await database_sync_to_async(post)(
        people["dave"], BULK, {"notifications": [personal(alice, "a1"), personal(bob, "b1"), personal(alice, "a2")]})
    assert response.status_code == 201
    assert [f["data"]["title"] for f in await alice_frames()] == ["a1", "a2"]
    assert [f["data"]["title"] for f in await bob_frames()] == ["b1"]


# -- Idempotency-Key over REST ---------------------------------------------------------------


async def test_a_retried_create_answers_the_first_response_and_creates_and_pushes_nothing(people, listen):
    alice, dave = people["alice"], people["dave"]
    frames = await listen(groups.user_group(alice.pk))
    send = database_sync_to_async(post)
    first = await send(dave, "/api/notifications/", personal(alice, "once"), "retry-1")
    assert first.status_code == 201 and len(await frames()) == 1
    again = await send(dave, "/api/notifications/", personal(alice, "once"), "retry-1")
    assert again.status_code == 201 and again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert await frames() == []
    assert await database_sync_to_async(Notification.objects.count)() == 1


async def test_a_retried_bulk_answers_the_same_ids_and_pushes_nothing_twice(people, listen):
    alice, bob, dave = people["alice"], people["bob"], people["dave"]
    frames = await listen(groups.user_group(bob.pk))
    body = {"notifications": [personal(alice, "a"), personal(bob, "b")]}
    send = database_sync_to_async(post)
    first = await send(dave, BULK, body, "bulk-1")
    # The same JSON in another key order is the same body.
    again = await send(dave, BULK, {"notifications": [dict(reversed(list(e.items()))) for e in body["notifications"]]},
                       "bulk-1")
    assert first.status_code == again.status_code == 201 and again.json() == first.json()
    assert len(await frames()) == 1
    assert await database_sync_to_async(Notification.objects.count)() == 2


def test_the_same_key_with_another_body_or_endpoint_is_a_409(people):
    alice, dave = people["alice"], people["dave"]
    assert post(dave, "/api/notifications/", personal(alice, "one"), "k").status_code == 201
    conflict = post(dave, "/api/notifications/", personal(alice, "two"), "k")
    assert conflict.status_code == 409 and "different request" in conflict.json()["detail"]
    assert post(dave, BULK, {"notifications": [personal(alice, "one")]}, "k").status_code == 409
    assert list(Notification.objects.values_list("title", flat=True)) == ["one"]


def test_keys_belong_to_their_user(people, make_user):
    from clarion.roles import set_role

    eve = make_user("eve")
    set_role(eve, "admin")
    alice = people["alice"]
    first = post(people["dave"], "/api/notifications/", personal(alice, "from dave"), "shared")
    other = post(eve, "/api/notifications/", personal(alice, "from eve"), "shared")
    assert first.status_code == other.status_code == 201 and first.json()["id"] != other.json()["id"]


@pytest.mark.parametrize("key", ["", "x" * 256, "caf\u00e9", "tab\there", "\x7f"])
def test_a_malformed_key_is_a_400_naming_the_header(people, key):
    response = post(people["dave"], "/api/notifications/", personal(people["alice"], "x"), key)
    assert response.status_code == 400 and list(response.json()) == ["Idempotency-Key"]
    assert Notification.objects.count() == 0


def test_a_refused_request_does_not_use_up_its_key(people):
    alice, dave = people["alice"], people["dave"]
    assert post(dave, BULK, {"notifications": [personal(alice, "")]}, "fix-me").status_code == 400
    fixed = post(dave, BULK, {"notifications": [personal(alice, "fixed")]}, "fix-me")
    assert fixed.status_code == 201 and IdempotencyRecord.objects.count() == 1


def test_an_expired_key_may_be_reused_and_expired_keys_are_pruned(people, monkeypatch):
    alice, dave = people["alice"], people["dave"]
    assert post(dave, "/api/notifications/", personal(alice, "yesterday"), "daily").status_code == 201
    assert post(dave, "/api/notifications/", personal(alice, "stale"), "old").status_code == 201
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(hours=24, seconds=1))
    monkeypatch.setattr(idempotency, "_next_prune", 0.0)  # due now
    today = post(dave, "/api/notifications/", personal(alice, "today"), "daily")
    assert today.status_code == 201 and "Idempotent-Replayed" not in today.headers
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["daily"]
    assert Notification.objects.count() == 3


def test_a_create_without_a_key_does_not_touch_the_key_table(people):
    with CaptureQueriesContext(connection) as queries:
        assert post(people["dave"], "/api/notifications/", personal(people["alice"], "x")).status_code == 201
        assert post(people["dave"], BULK, {"notifications": [personal(people["alice"], "y")]}).status_code == 201
    assert not [q for q in queries.captured_queries if "idempotency" in q["sql"]]


def test_the_schema_shows_the_bulk_endpoint_and_the_header(people):
    schema = client_for(people["alice"]).get("/api/schema/?format=json").json()
    bulk = schema["paths"]["/api/notifications/bulk/"]["post"]
    single = schema["paths"]["/api/notifications/"]["post"]
    for operation in (bulk, single):
        assert {"name": "Idempotency-Key", "in": "header"}.items() <= operation["parameters"][0].items()
    assert "201" in bulk["responses"]


# -- the Python API --------------------------------------------------------------------------


def test_send_notification_to_users_stores_one_row_each_in_order_with_one_user_query(people, make_user):
    users = [make_user(f"u{i}") for i in range(50)]
    recipients = [users[i] if i % 2 else users[i].pk for i in range(50)]  # instances and ids alike
    with CaptureQueriesContext(connection) as queries:
        rows = clarion.send_notification_to_users(recipients, "hello", link="/h", created_by=people["dave"])
    assert [row.recipient_id for row in rows] == [str(u.pk) for u in users]
    assert all(row.pk and row.link == "/h" and row.created_by_id == people["dave"].pk for row in rows)
    assert len([q for q in queries.captured_queries if 'FROM "auth_user"' in q["sql"]]) == 1
    assert clarion.send_notification_to_users([], "nobody") == []


def test_send_notification_to_users_refuses_all_when_one_user_is_unknown(people):
    alice, bob = people["alice"], people["bob"]
    with pytest.raises(EntryErrors) as refused:
        clarion.send_notification_to_users([alice, 987654, bob, "abc"], "x")
    assert refused.value.by_index == {1: {"recipient_id": ["no user with id 987654"]},
                                      3: {"recipient_id": ["expected a user id, got 'abc'"]}}
    assert isinstance(refused.value, ValidationError)
    with pytest.raises(ValidationError) as bad_title:
        clarion.send_notification_to_users([alice], "")
    assert list(bad_title.value.message_dict) == ["title"]
    assert Notification.objects.count() == 0


def test_python_idempotency_keys_replay_the_first_rows_and_refuse_another_call(people):
    alice, bob, dave = people["alice"], people["bob"], people["dave"]
    first = clarion.send_notification_to_user(alice, "once", idempotency_key="job-7", created_by=dave)
    again = clarion.send_notification_to_user(alice.pk, "once", idempotency_key="job-7", created_by=dave)
    assert again.pk == first.pk and Notification.objects.count() == 1
    with pytest.raises(clarion.IdempotencyConflict):
        clarion.send_notification_to_user(alice, "twice", idempotency_key="job-7", created_by=dave)
    assert issubclass(clarion.IdempotencyConflict, ValueError)

    many = clarion.send_notification_to_users([alice, bob], "many", idempotency_key="job-8")
    replay = clarion.send_notification_to_users([alice, bob], "many", idempotency_key="job-8")
    assert [row.pk for row in replay] == [row.pk for row in many]
    role = clarion.send_notification_to_role("student", "r", idempotency_key="job-9")
    assert clarion.send_notification_to_role("student", "r", idempotency_key="job-9").pk == role.pk
    assert Notification.objects.count() == 4
    with pytest.raises(ValidationError) as bad_key:
        clarion.send_notification_to_all("x", idempotency_key="")
    assert list(bad_key.value.message_dict) == ["idempotency_key"]


async def test_the_async_twin_of_send_notification_to_users(people):
    rows = await clarion.asend_notification_to_users([people["alice"], people["bob"]], "async many")
    assert [row.recipient_id for row in rows] == [str(people["alice"].pk), str(people["bob"].pk)]
