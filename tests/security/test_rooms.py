"""Rooms cannot be abused (issue 10, finding 3): creation is throttled and capped per user,
members can leave and creators can delete, the list is paginated, and nothing tells a user
which room keys exist beyond what creating one must."""

import pytest
from channels.db import database_sync_to_async
from django.core import checks
from django.test import override_settings
from rest_framework.test import APIClient

from clarion.auth.tokens import access_token_for
from clarion.collaboration.models import ChatMessage, Room
from clarion.conf import DEFAULTS
from clarion.realtime import runtime
from tests.security.conftest import closed_with, communicator, token

pytestmark = pytest.mark.django_db(transaction=True)
create = database_sync_to_async


@pytest.fixture(autouse=True)
def serving():
    runtime.mark_serving()  # control events are published from this process


def limits(**values):
    from django.conf import settings

    return override_settings(CLARION={**settings.CLARION, **values})


def client_for(user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token_for(user)}")
    return client


def new_room(user, key, members=(), title=""):
    return client_for(user).post("/api/rooms/", {"key": key, "title": title, "members": [m.pk for m in members]},
                                 format="json")


async def open_room(user, key):
    ws = communicator(f"/ws/collaboration/{key}/", f"token={await token(user)}")
    assert (await ws.connect())[0]
    assert (await ws.receive_json_from(timeout=3))["type"] == "room_snapshot"
    return ws


async def refused_with(user, key) -> int:
    ws = communicator(f"/ws/collaboration/{key}/", f"token={await token(user)}")
    await ws.connect()
    code = await closed_with(ws)
    await ws.disconnect()
    return code


def test_room_creation_is_throttled_per_user_with_429(people):
    """Every attempt counts, refused ones too (a taken key is an attempt); other users and
    administrators are not affected."""
    alice, bob, dave = people["alice"], people["bob"], people["dave"]
    with limits(ROOM_CREATE_THROTTLE_RATE="3/minute", MAX_ROOMS_PER_USER=0):
        assert [new_room(alice, f"a-{i}").status_code for i in range(2)] == [201, 201]
        assert new_room(alice, "a-0").status_code == 400  # taken: still counted
        refused = new_room(alice, "a-3")
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
        assert not Room.objects.filter(key="a-3").exists()
        assert new_room(bob, "b-0").status_code == 201
        assert [new_room(dave, f"d-{i}").status_code for i in range(5)] == [201] * 5
        # the throttle is on creation only
        assert client_for(alice).get("/api/rooms/").status_code == 200


def test_the_rooms_a_user_keeps_are_capped(people):
    alice, bob, dave = people["alice"], people["bob"], people["dave"]
    with limits(ROOM_CREATE_THROTTLE_RATE=None, MAX_ROOMS_PER_USER=2):
        assert new_room(bob, "bobs", members=[alice]).status_code == 201  # a room alice is in does not count
        assert [new_room(alice, k).status_code for k in ("one", "two")] == [201, 201]
        refused = new_room(alice, "three")
        assert refused.status_code == 403 and "delete one of them first" in refused.json()["detail"]
        assert not Room.objects.filter(key="three").exists()
        assert client_for(alice).delete("/api/rooms/one/").status_code == 204
        assert new_room(alice, "three").status_code == 201
        assert [new_room(dave, f"d-{i}").status_code for i in range(4)] == [201] * 4  # admins are exempt
    assert DEFAULTS["MAX_ROOMS_PER_USER"] > 0 and DEFAULTS["ROOM_CREATE_THROTTLE_RATE"]


async def test_a_member_can_leave_and_their_sockets_on_the_room_close(people):
    alice, bob, carol = people["alice"], people["bob"], people["carol"]
    assert (await create(new_room)(alice, "club", members=[bob, carol])).status_code == 201
    bobs, carols = await open_room(bob, "club"), await open_room(carol, "club")
    other = await create(client_for(bob).delete)(f"/api/rooms/club/members/{carol.pk}/")
    assert other.status_code == 403  # members remove only themselves
    left = await create(client_for(bob).delete)(f"/api/rooms/club/members/{bob.pk}/")
    assert left.status_code == 204
    assert await closed_with(bobs, timeout=2) == 4403
    assert await refused_with(bob, "club") == 4404
    assert (await create(client_for(bob).get)("/api/rooms/club/")).status_code == 404
    assert (await create(client_for(bob).get)("/api/rooms/")).json()["results"] == []
    await carols.send_json_to({"type": "ping"})
    assert (await carols.receive_json_from(timeout=2))["type"] != "error"  # carol stays
    # the creator keeps the room they count against their cap: they delete it instead
    stays = await create(client_for(alice).delete)(f"/api/rooms/club/members/{alice.pk}/")
    assert stays.status_code == 403 and "delete it" in stays.json()["detail"]
    await bobs.disconnect()
    await carols.disconnect()


async def test_the_creator_or_an_admin_deletes_a_room_and_its_sockets_close_4404(people, streams):
    alice, bob, dave = people["alice"], people["bob"], people["dave"]
    for key in ("mine", "theirs"):
        assert (await create(new_room)(alice, key, members=[bob])).status_code == 201
    ws = await open_room(bob, "mine")
    room_id = (await create(Room.objects.get)(key="mine")).pk
    await ws.send_json_to({"type": "send_message", "data": {"body": "hello"}})
    while (await ws.receive_json_from(timeout=3))["type"] != "chat_message":
        pass
    denied = await create(client_for(bob).delete)("/api/rooms/mine/")
    assert denied.status_code == 403
    assert (await create(client_for(alice).delete)("/api/rooms/mine/")).status_code == 204
    assert await closed_with(ws, timeout=2) == 4404
    await ws.disconnect()
    assert await refused_with(bob, "mine") == 4404
    assert not await create(lambda: ChatMessage.objects.filter(room_id=room_id).exists())()
    assert (await create(client_for(dave).delete)("/api/rooms/theirs/")).status_code == 204
    assert (await create(client_for(dave).delete)("/api/rooms/theirs/")).status_code == 404
    project_room = streams["collaboration"].split("/")[3]
    await (await open_room(dave, project_room)).disconnect()  # the project's room row now exists
    gone_with_project = await create(client_for(dave).delete)(f"/api/rooms/{project_room}/")
    assert gone_with_project.status_code == 403


def test_the_room_list_is_paginated_newest_first(people):
    alice, dave = people["alice"], people["dave"]
    with limits(ROOM_CREATE_THROTTLE_RATE=None, MAX_ROOMS_PER_USER=0):
        for i in range(25):
            assert new_room(dave, f"r-{i:02d}", members=[alice]).status_code == 201
    client = client_for(alice)
    first = client.get("/api/rooms/").json()
    assert set(first) == {"next", "previous", "results"} and first["previous"] is None
    assert [r["key"] for r in first["results"]] == [f"r-{i:02d}" for i in range(24, 4, -1)]
    second = client.get(first["next"]).json()
    assert [r["key"] for r in second["results"]] == [f"r-{i:02d}" for i in range(4, -1, -1)]
    assert second["next"] is None
    assert len(client.get("/api/rooms/?page_size=1000").json()["results"]) == 25  # bounded by max_page_size 100


async def test_a_taken_key_gives_one_answer_whoever_asks(people):
    """carol cannot see alice's room: taking its key answers her exactly as it answers alice;
    its page and its socket answer her exactly as a key that names nothing does."""
    alice, bob, carol = people["alice"], people["bob"], people["carol"]
    assert (await create(new_room)(alice, "secret-club", members=[bob], title="Secret")).status_code == 201
    outsider = await create(new_room)(carol, "secret-club")
    insider = await create(new_room)(bob, "secret-club")
    assert outsider.status_code == insider.status_code == 400
    assert outsider.content == insider.content and b"Secret" not in outsider.content
    hidden = await create(client_for(carol).get)("/api/rooms/secret-club/")
    nothing = await create(client_for(carol).get)("/api/rooms/no-such-club/")
    assert hidden.status_code == nothing.status_code == 404 and hidden.content == nothing.content
    assert await refused_with(carol, "secret-club") == await refused_with(carol, "no-such-club") == 4404


@pytest.mark.parametrize("title", ["\x1b[2J Re-enter password", "\u202eevil", "two\nlines", "nul\x00",
                                   "tab\there", "line\u2028separator", "\u2066isolate", "x" * 201])
def test_room_titles_with_control_characters_or_too_long_are_refused(people, title):
    refused = new_room(people["alice"], "titled", title=title)
    assert refused.status_code == 400 and list(refused.json()) == ["title"], refused.content
    assert not Room.objects.filter(key="titled").exists()


def test_ordinary_titles_are_kept(people):
    title = "Thesis club \U0001f469\u200d\U0001f4bb (Arabic: \u0646\u0627\u062f\u064a)"
    created = new_room(people["alice"], "titled", title=title)
    assert created.status_code == 201 and created.json()["title"] == title


def test_room_limit_settings_are_checked_at_start_up():
    from clarion.checks import check_abuse_limits

    with limits(ROOM_CREATE_THROTTLE_RATE="lots", MAX_ROOMS_PER_USER=-1):
        ids = [e.id for e in check_abuse_limits(None) if isinstance(e, checks.Error)]
    assert "clarion.E005" in ids and "clarion.E006" in ids
    with limits(ROOM_CREATE_THROTTLE_RATE=None, MAX_ROOMS_PER_USER=0):
        assert check_abuse_limits(None) == []
