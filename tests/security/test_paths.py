"""Malformed project ids and room keys close with 4404 before anything reaches the hub (no
group joined, no broker subscription, nothing published), and so do valid names of nothing."""

import pytest
from channels.db import database_sync_to_async

from clarion.realtime import hub as hub_module
from tests.security.conftest import closed_with, communicator, token

pytestmark = pytest.mark.django_db(transaction=True)

BAD_PROJECT_IDS = [
    "abc", "-1", "0", "00", "01", "+1", "1.0", "1e3", "0x1f", " 1", "1 ", "1%00", "%2e%2e",
    "9" * 19, "9" * 400, "9223372036854775808",  # beyond 2**63
    "\u0661\u0662\u0663",  # Arabic-Indic digits: \d would match them
    "\uff11",  # fullwidth one
    "1\u200b",  # zero-width space
    "\U0001f4a9", "1;DROP TABLE clarion_project", "${jndi:ldap://x}", "",
]
BAD_ROOM_KEYS = [
    "a" * 65, "room with space", "room.dot", "room;semi", "r\u00f6om", "\u0440\u043e\u043e\u043c",
    "project-0", "project-abc", "project-" + "9" * 19, "project--1", "..", "%2e%2e", "\x00", "",
    "clarion.user.1", "x" * 5000,
]


@pytest.fixture
def observed_hub(monkeypatch):
    """Every group join, broker subscription and publish of the hub, recorded."""
    calls = []
    real_join, real_publish = hub_module.Hub.join, hub_module.Hub.publish

    async def join(self, subscription, groups):
        calls.append(("join", list(groups)))
        await real_join(self, subscription, groups)

    async def publish(self, group, event):
        calls.append(("publish", group))
        await real_publish(self, group, event)

    monkeypatch.setattr(hub_module.Hub, "join", join)
    monkeypatch.setattr(hub_module.Hub, "publish", publish)
    return calls


async def _refused(path, user, code=4404):
    ws = communicator(path, f"token={await token(user)}")
    connected, _ = await ws.connect()
    assert connected, path
    assert await closed_with(ws) == code, path
    await ws.disconnect()


@pytest.mark.parametrize("raw", BAD_PROJECT_IDS)
async def test_malformed_project_ids_are_4404_before_the_hub(people, observed_hub, raw):
    await _refused(f"/ws/projects/{raw}/", people["dave"])  # an admin: access is not what refuses
    assert observed_hub == []


@pytest.mark.parametrize("raw", BAD_ROOM_KEYS)
async def test_malformed_room_keys_are_4404_before_the_hub(people, observed_hub, raw):
    await _refused(f"/ws/collaboration/{raw}/", people["dave"])
    assert observed_hub == []


async def test_well_formed_names_of_nothing_and_forbidden_streams_join_nothing(people, streams, observed_hub):
    dave, alice = people["dave"], people["alice"]
    await _refused("/ws/projects/999999/", dave)
    await _refused("/ws/collaboration/no-such-room/", dave)
    await _refused("/ws/collaboration/project-999999/", dave)
    await _refused("/ws/nowhere/", dave)
    assert observed_hub == []
    from clarion.projects import services

    other = await database_sync_to_async(services.create_project)(title="Other")
    await _refused(f"/ws/projects/{other.pk}/", alice, 4403)
    await _refused(f"/ws/collaboration/project-{other.pk}/", alice, 4403)
    assert [call for call in observed_hub if call[0] == "join"] == []


def test_group_name_builders_refuse_what_the_layer_would_refuse():
    from clarion.realtime import groups

    with pytest.raises(ValueError):
        groups.project_group("1; drop")
    for hostile in ("a b", "é", "x" * 500, "../1", None):
        name = groups.user_group(hostile)
        assert len(name) < 100 and all(c.isascii() and (c.isalnum() or c in "._-") for c in name)
    with pytest.raises(ValueError):
        groups.role_group("admin;all")
