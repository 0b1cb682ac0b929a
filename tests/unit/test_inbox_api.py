"""Preferences, mutes and inbox states over REST, as a client meets them: shapes, refusals with a
field named, and what one reader's state does (and does not do) to another's. Plus the hub's
per-socket filter, which keeps a muted role notification off one socket and not the next."""

import asyncio
import json
from datetime import datetime, timedelta, timezone

import pytest

import clarion
from clarion.notifications import reader as readers
from clarion.realtime.broker_memory import MemoryBroker
from clarion.realtime.hub import Hub
from tests.unit.fakes import RecordingOutbox

from tests.unit.test_api import client_for, serving  # noqa: F401  (serving: autouse)

pytestmark = pytest.mark.django_db(transaction=True)




def test_preferences_list_every_category_and_refuse_what_cannot_change(people):
    alice = client_for(people["alice"])
    prefs = alice.get("/api/preferences/").json()
    assert prefs["locale"] == ""
    keys = [c["key"] for c in prefs["categories"]]
    assert keys == ["deadline", "project_update", "comment", "submission", "review", "announcement", "system"]
    deadline = prefs["categories"][0]
    assert deadline["locked"] is True and deadline["channels"] == {"in_app": True, "email": True, "push": True}

    refused = alice.patch("/api/preferences/", {"categories": {"deadline": {"in_app": False}}}, format="json")
    assert refused.status_code == 400 and "categories.deadline" in refused.json()
    for body, field in [({"categories": {"gossip": {"in_app": False}}}, "categories.gossip"),
                        ({"categories": {"comment": {"fax": True}}}, "categories.comment"),
                        ({"categories": {"comment": {"in_app": "no"}}}, "categories.comment"),
                        ({"locale": "xx"}, "locale"), ({"colour": "red"}, "colour")]:
        response = alice.patch("/api/preferences/", body, format="json")
        assert response.status_code == 400 and field in response.json(), (body, response.json())

    changed = alice.patch("/api/preferences/", {"locale": "th", "categories": {"comment": {"in_app": False}}},
                          format="json").json()
    assert changed["locale"] == "th"
    assert next(c for c in changed["categories"] if c["key"] == "comment")["channels"]["in_app"] is False
    assert alice.get("/api/preferences/").json() == changed
    # bob's are his own
    assert client_for(people["bob"]).get("/api/preferences/").json()["locale"] == ""


def test_mutes_are_listed_replaced_and_removed_and_bad_ones_refused(people):
    alice = client_for(people["alice"])
    assert alice.get("/api/mutes/").json() == []
    later = (datetime.now(timezone.utc) + timedelta(hours=2)).replace(microsecond=0)
    assert alice.post("/api/mutes/", {"topic": "project:7"}, format="json").status_code == 201
    again = alice.post("/api/mutes/", {"topic": "project:7", "until": later.isoformat()}, format="json")
    assert again.status_code == 201 and again.json()["until"] == later.isoformat().replace("+00:00", "Z")
    assert alice.get("/api/mutes/").json() == [{"topic": "project:7", "until": again.json()["until"]}]
    for body, field in [({"topic": "not a topic!"}, "topic"), ({}, "topic"),
                        ({"topic": "project:8", "until": "2020-01-01T00:00:00Z"}, "until")]:
        response = alice.post("/api/mutes/", body, format="json")
        assert response.status_code == 400 and field in response.json(), (body, response.json())
    assert alice.delete("/api/mutes/project:7/").status_code == 204
    assert alice.delete("/api/mutes/project:7/").status_code == 404
    assert alice.get("/api/mutes/").json() == []


def test_muted_notifications_are_out_of_the_counts_and_list_unless_asked_for(people):
    alice = client_for(people["alice"])
    alice.post("/api/mutes/", {"topic": "project:3"}, format="json")
    clarion.send_notification_to_role("student", "muted one", category="comment", topic="project:3")
    clarion.send_notification_to_role("student", "locked one", category="deadline", topic="project:3")
    assert alice.get("/api/notifications/unread-count/").json() == {"unread_count": 1, "unseen_count": 1}
    assert [n["title"] for n in alice.get("/api/notifications/").json()["results"]] == ["locked one"]
    listed = alice.get("/api/notifications/?include_muted=true").json()["results"]
    assert [n["title"] for n in listed] == ["locked one", "muted one"]
    assert client_for(people["bob"]).get("/api/notifications/unread-count/").json()["unread_count"] == 2
    assert alice.get("/api/notifications/?include_muted=maybe").status_code == 400


def test_inbox_actions_over_rest_change_only_the_callers_state(people):
    alice, bob = client_for(people["alice"]), client_for(people["bob"])
    shared = clarion.send_notification_to_role("student", "for students")
    other = clarion.send_notification_to_user(people["carol"], "not alice's")
    archived = alice.post("/api/notifications/archive/", {"ids": [shared.pk, other.pk]}, format="json").json()
    assert archived["ids"] == [shared.pk] and archived["not_found"] == [other.pk]
    assert (archived["state"], archived["unread_count"]) == ("archived", 0)
    assert alice.get("/api/notifications/").json()["results"] == []
    assert [n["id"] for n in alice.get("/api/notifications/?archived=true").json()["results"]] == [shared.pk]
    assert [n["id"] for n in bob.get("/api/notifications/").json()["results"]] == [shared.pk]
    assert alice.post("/api/notifications/unarchive/", {"ids": [shared.pk]}, format="json").json()["unread_count"] == 1

    assert alice.post("/api/notifications/archive/", {"ids": [other.pk]}, format="json").status_code == 404
    assert alice.post("/api/notifications/archive/", {"ids": []}, format="json").status_code == 400
    assert alice.post("/api/notifications/archive/", {"ids": ["x"]}, format="json").status_code == 400
    bad = alice.post("/api/notifications/snooze/", {"ids": [shared.pk], "until": "2020-01-01T00:00:00Z"}, format="json")
    assert bad.status_code == 400 and "until" in bad.json()
    far = (datetime.now(timezone.utc) + timedelta(days=400)).isoformat()
    assert alice.post("/api/notifications/snooze/", {"ids": [shared.pk], "until": far}, format="json").status_code == 400

    # seen drives the badge; read implies seen; mark_unread keeps it seen
    assert alice.post("/api/notifications/seen/", {"ids": [shared.pk]}, format="json").json()["unseen_count"] == 0
    assert alice.get("/api/notifications/unread-count/").json() == {"unread_count": 1, "unseen_count": 0}
    assert bob.get("/api/notifications/unread-count/").json() == {"unread_count": 1, "unseen_count": 1}
    alice.post("/api/notifications/read-all/")
    unread = alice.post("/api/notifications/unread/", {"ids": [shared.pk]}, format="json").json()
    assert (unread["unread_count"], unread["unseen_count"]) == (1, 0)
    item = alice.get(f"/api/notifications/{shared.pk}/").json()
    assert (item["is_read"], item["is_seen"], item["is_archived"], item["snoozed_until"]) == (False, True, False, None)

    soon = datetime.now(timezone.utc) + timedelta(hours=1)
    snoozed = alice.post("/api/notifications/snooze/", {"ids": [shared.pk], "until": soon.isoformat()}, format="json")
    assert snoozed.json()["unread_count"] == 0 and snoozed.json()["until"]
    assert [n["id"] for n in alice.get("/api/notifications/?snoozed=true").json()["results"]] == [shared.pk]
    assert bob.get("/api/notifications/unread-count/").json()["unread_count"] == 1
    clarion.send_notification_to_all("new one")
    assert alice.post("/api/notifications/seen-all/").json() == {
        "ids": [], "state": "all_seen", "unread_count": 1, "unseen_count": 0}


def frame(seq, tags):
    return {"type": "sequenced", "seq": seq, "frame": json.dumps({"seq": seq}), "tags": tags}


async def test_the_hub_filters_per_socket_by_the_readers_mutes_and_keeps_order():
    hub = Hub(MemoryBroker())
    muting = readers.Reader(1, "student", channels={"comment": {"in_app": False}}, mutes={"project:1": None,
                            "project:2": datetime.now(timezone.utc) - timedelta(seconds=1)})
    sockets = []
    for reader in (muting, readers.Reader(2, "student")):
        socket = RecordingOutbox()
        subscription = hub.attach(socket, on_resync=None)
        await hub.join(subscription, ["all"])
        subscription.filter = reader.socket_filter()
        hub.mark_ready(subscription, 0)
        sockets.append(socket)
    hub.dispatch("all", frame(1, ["comment", ""]))  # turned off
    hub.dispatch("all", frame(2, ["announcement", "project:1"]))  # muted topic
    hub.dispatch("all", frame(3, ["deadline", "project:1"]))  # locked: through
    hub.dispatch("all", frame(4, ["announcement", "project:2"]))  # mute over
    hub.dispatch("all", frame(5, None))  # untagged (another log)
    await asyncio.sleep(0)
    assert sockets[0].seqs == [3, 4, 5]
    assert sockets[1].seqs == [1, 2, 3, 4, 5]
    assert readers.Reader(3, None).socket_filter() is None  # nothing muted: nothing to check per event


def test_three_comments_on_a_project_make_one_group_that_is_read_and_archived_by_its_key(people):
    from clarion.projects import services as projects
    from clarion.projects.models import ProjectStatus

    ProjectStatus.objects.get_or_create(slug="proposal", defaults={"label": "Proposal", "position": 0})
    project = projects.create_project(title="Thesis", advisor=people["carol"],
                                      members=[people["alice"], people["bob"]], actor=people["dave"])
    bob, carol = client_for(people["bob"]), client_for(people["carol"])
    for text in ("first", "second"):
        assert bob.post(f"/api/projects/{project.pk}/comments/", {"text": text}, format="json").status_code == 201
    assert carol.post(f"/api/projects/{project.pk}/comments/", {"text": "third"}, format="json").status_code == 201
    clarion.send_notification_to_user(people["alice"], "unrelated")

    alice = client_for(people["alice"])
    groups = alice.get("/api/notifications/?grouped=true").json()["results"]
    key = f"project:{project.pk}:comment"
    assert groups[0]["group_key"] is None and groups[0]["count"] == 1 and groups[0]["summary"] == "unrelated"
    comments = next(g for g in groups if g["group_key"] == key)
    assert (comments["count"], comments["unread_count"]) == (3, 3)
    assert comments["summary"] == "3 new comments on “Thesis”"
    assert comments["latest"]["message"] == "carol: third" and comments["latest"]["category"] == "comment"
    assert [a["username"] for a in comments["actors"]] == ["carol", "bob"]
    assert {g["group_key"] for g in groups} == {key, f"project:{project.pk}:membership", None}
    # bob wrote two of them: he is told only of carol's
    bob_groups = bob.get("/api/notifications/?grouped=true").json()["results"]
    assert next(g for g in bob_groups if g["group_key"] == key)["count"] == 1

    read = alice.post("/api/notifications/read/", {"group_key": key}, format="json").json()
    assert len(read["ids"]) == 3
    assert next(g for g in alice.get("/api/notifications/?grouped=true").json()["results"]
                if g["group_key"] == key)["unread_count"] == 0
    archived = alice.post("/api/notifications/archive/", {"group_key": key}, format="json").json()
    assert archived["state"] == "archived" and len(archived["ids"]) == 3
    assert key not in {g["group_key"] for g in alice.get("/api/notifications/?grouped=true").json()["results"]}
    assert alice.post("/api/notifications/archive/", {"ids": [1], "group_key": key}, format="json").status_code == 400
    assert alice.get("/api/notifications/?grouped=maybe").status_code == 400


def test_an_expired_notification_is_gone_from_lists_counts_and_the_detail(people):
    from datetime import datetime as dt

    alice = client_for(people["alice"])
    admin = client_for(people["dave"])
    soon = dt.now(timezone.utc) + timedelta(seconds=1)
    created = admin.post("/api/notifications/", {"title": "flash sale", "recipient_type": "all",
                                                 "expires_at": soon.isoformat()}, format="json")
    assert created.status_code == 201 and created.json()["expires_at"]
    past = admin.post("/api/notifications/", {"title": "too late", "recipient_type": "all",
                                              "expires_at": "2020-01-01T00:00:00Z"}, format="json")
    assert past.status_code == 400 and "expires_at" in past.json()
    assert alice.get("/api/notifications/unread-count/").json()["unread_count"] == 1
    import time

    time.sleep(1.2)
    assert alice.get("/api/notifications/unread-count/").json()["unread_count"] == 0
    assert alice.get("/api/notifications/").json()["results"] == []
    assert alice.get(f"/api/notifications/{created.json()['id']}/").status_code == 404
