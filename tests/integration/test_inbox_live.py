"""An inbox people can steer (issue 13), over real sockets to a running server: mutes and
preferences keep notifications from one reader and not another, a locked category gets through,
archive and snooze sync every tab, and one student's state leaves another's alone.

In the scale-out pass the second tab of a user is on a second server process.
"""

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from tests.conftest import SCALEOUT
from tests.integration.harness import ServerProcess, frames_until_quiet, next_frame, prepare_backend

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    """Its own backend: the mutes and preferences set here must not reach other tests."""
    env = prepare_backend(tmp_path_factory.mktemp("inbox-data"), "clarion_inbox")
    logs = tmp_path_factory.mktemp("inbox-logs")
    first = ServerProcess(env, logs / "a.log").start()
    second = ServerProcess(env, logs / "b.log").start() if SCALEOUT else first
    try:
        yield first, second
    finally:
        first.stop()
        if second is not first:
            second.stop()


@pytest.fixture(scope="module")
def people(servers):
    first, _ = servers
    tokens = {name: first.token(name) for name in ("alice", "bob", "dave")}
    ids = {name: first.request("GET", "/api/me/", token=tokens[name])[1]["id"] for name in ("alice", "bob")}
    return tokens, ids


async def _open(server, token):
    ws = await server.socket(token)
    snapshot = await next_frame(ws)
    assert snapshot["type"] == "recent_notifications"
    await frames_until_quiet(ws, 0.3)
    return ws, snapshot["data"]


def _counts(server, token):
    status, body = server.request("GET", "/api/notifications/unread-count/", token=token)
    assert status == 200
    return body["unread_count"], body["unseen_count"]


def _titles(frames, kind="notification"):
    return [f["data"]["title"] for f in frames if f["type"] == kind]


async def test_a_mute_and_a_preference_keep_comments_from_alice_live_and_in_her_counts_while_bob_gets_them(
        servers, people):
    first, second = servers
    tokens, _ = people
    alice_before, bob_before = _counts(first, tokens["alice"]), _counts(first, tokens["bob"])
    alice, _ = await _open(first, tokens["alice"])
    alice_tab2, _ = await _open(second, tokens["alice"])
    bob, _ = await _open(second, tokens["bob"])
    async with alice, alice_tab2, bob:
        # A mute from one tab reaches the other tab as preferences_changed.
        status, muted = first.request("POST", "/api/mutes/", {"topic": "project:41"}, tokens["alice"])
        assert status == 201 and muted == {"topic": "project:41", "until": None}
        changed = [f for f in await frames_until_quiet(alice_tab2, 0.8) if f["type"] == "preferences_changed"]
        assert changed and changed[-1]["data"]["mutes"] == [{"topic": "project:41", "until": None}]
        status, prefs = first.request("PATCH", "/api/preferences/", {"categories": {"comment": {"in_app": False}}},
                                      tokens["alice"])
        assert status == 200
        assert next(c for c in prefs["categories"] if c["key"] == "comment")["channels"]["in_app"] is False
        await frames_until_quiet(alice, 0.5)
        await frames_until_quiet(alice_tab2, 0.3)

        first.notify(tokens["dave"], title="comment on 41", recipient_type="role", recipient_id="student",
                     category="project_update", topic="project:41")
        first.notify(tokens["dave"], title="a comment elsewhere", recipient_type="role", recipient_id="student",
                     category="comment", topic="project:42")
        first.notify(tokens["dave"], title="deadline of 41", recipient_type="role", recipient_id="student",
                     category="deadline", topic="project:41")

        # A locked category reaches her, muted topic or not; the other two do not.
        assert _titles(await frames_until_quiet(alice, 1.0)) == ["deadline of 41"]
        assert _titles(await frames_until_quiet(alice_tab2, 0.5)) == ["deadline of 41"]
        assert _titles(await frames_until_quiet(bob, 0.5)) == ["comment on 41", "a comment elsewhere", "deadline of 41"]
        assert _counts(first, tokens["alice"]) == (alice_before[0] + 1, alice_before[1] + 1)
        assert _counts(second, tokens["bob"]) == (bob_before[0] + 3, bob_before[1] + 3)

        # Stored, not lost: her list shows them with include_muted=true, and a new socket's
        # snapshot counts them out.
        _, listed = first.request("GET", "/api/notifications/?page_size=100", token=tokens["alice"])
        _, everything = first.request("GET", "/api/notifications/?page_size=100&include_muted=true",
                                      token=tokens["alice"])
        assert "comment on 41" not in [n["title"] for n in listed["results"]]
        assert {"comment on 41", "a comment elsewhere"} <= {n["title"] for n in everything["results"]}
        fresh, snapshot = await _open(second, tokens["alice"])
        async with fresh:
            assert snapshot["unread_count"] == alice_before[0] + 1
            assert "comment on 41" not in [n["title"] for n in snapshot["notifications"]]

        # Unmuted: what comes next reaches her again, live.
        status, _ = first.request("DELETE", "/api/mutes/project:41/", token=tokens["alice"])
        assert status == 204
        await frames_until_quiet(alice, 0.6)
        first.notify(tokens["dave"], title="after unmute", recipient_type="role", recipient_id="student",
                     category="project_update", topic="project:41")
        assert _titles(await frames_until_quiet(alice, 1.0)) == ["after unmute"]
    first.request("PATCH", "/api/preferences/", {"categories": {"comment": {"in_app": True}}}, tokens["alice"])


async def test_archive_in_one_tab_shows_in_the_other_and_leaves_another_students_list_alone(servers, people):
    first, second = servers
    tokens, _ = people
    created = first.notify(tokens["dave"], title="to archive", recipient_type="role", recipient_id="student")
    await asyncio.sleep(0.3)
    tab1, _ = await _open(first, tokens["alice"])
    tab2, _ = await _open(second, tokens["alice"])
    async with tab1, tab2:
        bob_before = _counts(first, tokens["bob"])
        await tab1.send('{"type":"archive","data":{"ids":[%d]}}' % created["id"])
        for tab in (tab1, tab2):
            states = [f for f in await frames_until_quiet(tab, 0.8) if f["type"] == "notifications_state"]
            assert [(s["data"]["ids"], s["data"]["state"]) for s in states] == [([created["id"]], "archived")]
        _, alice_list = first.request("GET", "/api/notifications/?page_size=100", token=tokens["alice"])
        _, archived = first.request("GET", "/api/notifications/?archived=true", token=tokens["alice"])
        assert created["id"] not in [n["id"] for n in alice_list["results"]]
        assert [n["id"] for n in archived["results"]] == [created["id"]] and archived["results"][0]["is_archived"]
        _, bob_list = second.request("GET", "/api/notifications/?page_size=100", token=tokens["bob"])
        assert created["id"] in [n["id"] for n in bob_list["results"]]
        assert _counts(first, tokens["bob"]) == bob_before
        # An id that is not hers: an error frame naming it, nothing changed.
        await tab1.send('{"type":"unarchive","data":{"ids":[999999]}}')
        error = next(f for f in await frames_until_quiet(tab1, 0.8) if f["type"] == "error")
        assert error["data"]["code"] == "not_found" and "999999" in error["data"]["message"]
        assert error["data"]["ids"] == [999999]


async def test_a_snoozed_notification_comes_back_live_at_its_time_as_new(servers, people):
    first, second = servers
    tokens, _ = people
    created = first.notify(tokens["dave"], title="snooze me", recipient_type="role", recipient_id="student")
    await asyncio.sleep(0.3)
    tab1, _ = await _open(first, tokens["alice"])
    tab2, _ = await _open(second, tokens["alice"])
    async with tab1, tab2:
        before = _counts(first, tokens["alice"])
        until = datetime.now(timezone.utc) + timedelta(seconds=3)
        status, body = first.request("POST", "/api/notifications/snooze/",
                                     {"ids": [created["id"]], "until": until.isoformat()}, tokens["alice"])
        assert status == 200 and body["state"] == "snoozed"
        assert _counts(first, tokens["alice"]) == (before[0] - 1, before[1] - 1)
        for tab in (tab1, tab2):
            frame = await next_frame(tab)
            assert frame["type"] == "notifications_state" and frame["data"]["state"] == "snoozed"
        for tab in (tab1, tab2):
            frame = await next_frame(tab, timeout=8)
            assert frame["type"] == "notifications_state" and frame["data"]["state"] == "returned"
            assert datetime.now(timezone.utc) >= until - timedelta(seconds=0.05)
            back = frame["data"]["notifications"]
            assert [(n["id"], n["is_read"], n["is_seen"]) for n in back] == [(created["id"], False, False)]
        assert _counts(first, tokens["alice"]) == before
        status, body = first.request("POST", "/api/notifications/snooze/",
                                     {"ids": [created["id"]], "until": "2020-01-01T00:00:00Z"}, tokens["alice"])
        assert status == 400 and "until" in body


async def test_seen_drives_the_badge_and_mark_unread_keeps_it_seen(servers, people):
    first, _ = servers
    tokens, _ = people
    tab, snapshot = await _open(first, tokens["bob"])
    async with tab:
        await tab.send('{"type":"mark_all_seen"}')
        frame = next(f for f in await frames_until_quiet(tab, 0.8) if f["type"] == "notifications_state")
        assert frame["data"]["state"] == "all_seen" and frame["data"]["unseen_count"] == 0
        unread = frame["data"]["unread_count"]
        created = first.notify(tokens["dave"], title="new for bob", recipient_type="role", recipient_id="student")
        live = next(f for f in await frames_until_quiet(tab, 1.0) if f["type"] == "notification")
        assert live["data"]["is_seen"] is False
        assert _counts(first, tokens["bob"]) == (unread + 1, 1)
        await tab.send('{"type":"mark_as_read","data":{"ids":[%d]}}' % created["id"])
        await frames_until_quiet(tab, 0.5)
        assert _counts(first, tokens["bob"]) == (unread, 0)
        await tab.send('{"type":"mark_unread","data":{"ids":[%d]}}' % created["id"])
        frame = next(f for f in await frames_until_quiet(tab, 0.8) if f["type"] == "notifications_state")
        assert (frame["data"]["state"], frame["data"]["unread_count"], frame["data"]["unseen_count"]) == (
            "unread", unread + 1, 0)


async def test_an_expired_notification_leaves_open_tabs_and_the_counts(servers, people):
    first, second = servers
    tokens, _ = people
    tab, _ = await _open(second, tokens["alice"])
    async with tab:
        before = _counts(first, tokens["alice"])
        expires = datetime.now(timezone.utc) + timedelta(seconds=2)
        created = first.notify(tokens["dave"], title="room change today", recipient_type="all",
                               expires_at=expires.isoformat())
        frame = await next_frame(tab)
        assert frame["type"] == "notification" and frame["data"]["expires_at"]
        assert _counts(first, tokens["alice"]) == (before[0] + 1, before[1] + 1)
        frame = await next_frame(tab, timeout=6)
        assert frame == {"type": "notifications_state", "data": {"ids": [created["id"]], "state": "expired"}}
        assert datetime.now(timezone.utc) >= expires - timedelta(seconds=0.05)
        assert _counts(first, tokens["alice"]) == before
        status, _ = first.request("GET", f"/api/notifications/{created['id']}/", token=tokens["alice"])
        assert status == 404


async def test_a_thai_reader_and_an_english_reader_of_one_broadcast_each_get_their_language(servers, people):
    first, second = servers
    tokens, _ = people
    alice, _ = await _open(first, tokens["alice"])
    bob, _ = await _open(second, tokens["bob"])
    async with alice, bob:
        status, _ = first.request("PATCH", "/api/preferences/", {"locale": "th"}, tokens["alice"])
        assert status == 200
        changed = [f for f in await frames_until_quiet(alice, 0.8) if f["type"] == "preferences_changed"]
        assert changed and changed[-1]["data"]["locale"] == "th"
        params = {"project": "Thesis", "status": "Defense", "old": "proposal", "new": "defense"}
        created = first.notify(tokens["dave"], template="project.status_changed", params=params, recipient_type="all")
        thai, english = await next_frame(alice), await next_frame(bob)
        assert thai["data"]["id"] == english["data"]["id"] == created["id"]
        assert thai["data"]["title"] == "โครงงาน “Thesis” อยู่ในสถานะ Defense แล้ว"
        assert thai["data"]["message"] == "สถานะเปลี่ยนจาก proposal เป็น defense"
        assert english["data"]["title"] == "“Thesis” is now Defense"
        # a new socket's snapshot speaks her language too
        again, snapshot = await _open(second, tokens["alice"])
        async with again:
            assert snapshot["notifications"][0]["title"].startswith("โครงงาน")
    first.request("PATCH", "/api/preferences/", {"locale": ""}, tokens["alice"])


async def test_prune_then_a_resume_from_an_older_cursor_is_told_and_gets_a_fresh_snapshot(servers, people):
    """Last in this module: it deletes every notification of its backend."""
    from tests.integration.harness import run_cli

    first, second = servers
    tokens, _ = people
    tab, snapshot = await _open(first, tokens["bob"])
    async with tab:
        old_cursor = snapshot["cursor"]
        first.notify(tokens["dave"], title="before the prune", recipient_type="role", recipient_id="student")
        assert (await next_frame(tab))["data"]["title"] == "before the prune"

    dry = run_cli(first.env, "prune", "--dry-run", "--days", "0")
    assert dry.returncode == 0 and dry.stdout.startswith("would delete "), dry.stdout + dry.stderr
    _, listed = first.request("GET", "/api/notifications/", token=tokens["bob"])
    assert listed["results"], "a dry run deletes nothing"
    pruned = run_cli(first.env, "prune", "--days", "0")
    assert pruned.returncode == 0 and pruned.stdout.startswith("deleted "), pruned.stdout + pruned.stderr
    assert "fresh snapshot" in pruned.stdout
    _, listed = first.request("GET", "/api/notifications/", token=tokens["bob"])
    assert listed["results"] == []

    async with await second.socket(tokens["bob"], cursor=old_cursor) as resumed:
        error = await next_frame(resumed)
        assert error["type"] == "error" and error["data"]["code"] == "cursor_expired"
        assert "retention" in error["data"]["message"]
        fresh = await next_frame(resumed)
        assert fresh["type"] == "recent_notifications"
        assert fresh["data"]["cursor_expired"] == "retention" and "resumed" not in fresh["data"]
        assert (fresh["data"]["notifications"], fresh["data"]["unread_count"]) == ([], 0)
        new_cursor = fresh["data"]["cursor"]
    first.notify(tokens["dave"], title="after the prune", recipient_type="role", recipient_id="student")
    await asyncio.sleep(0.5)
    async with await first.socket(tokens["bob"], cursor=new_cursor) as again:
        snapshot = await next_frame(again)
        assert snapshot["data"].get("resumed") is True and "cursor_expired" not in snapshot["data"]
        assert (await next_frame(again))["data"]["title"] == "after the prune"
    bad = run_cli(first.env, "prune", "--days", "-1")
    assert bad.returncode == 1 and bad.stderr.strip() == "clarion prune: error: --days must be 0 or more"
