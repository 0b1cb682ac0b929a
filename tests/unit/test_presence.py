"""Presence stores (memory and Redis, one contract) and the per-socket throttles."""

import asyncio
import uuid

import pytest

from clarion.realtime.presence_store import MemoryPresenceStore, RedisPresenceStore
from clarion.realtime.throttle import TokenBucket, TrailingThrottle

from tests.settings import REDIS_CLUSTER_TEST_URL


REDIS_URLS = {"redis": "redis://127.0.0.1:6379/0", "redis-cluster": REDIS_CLUSTER_TEST_URL}


@pytest.fixture(params=["memory", "redis",
                        pytest.param("redis-cluster", marks=[pytest.mark.cluster, pytest.mark.cluster_only])])
async def store(request):
    if request.param == "memory":
        made = MemoryPresenceStore()
    else:
        made = RedisPresenceStore(REDIS_URLS[request.param], prefix=f"clarion-test-{uuid.uuid4().hex[:8]}")
    yield made
    await made.close()


@pytest.fixture(params=["redis", pytest.param("redis-cluster", marks=[pytest.mark.cluster, pytest.mark.cluster_only])])
async def redis_store(request):
    made = RedisPresenceStore(REDIS_URLS[request.param], prefix=f"clarion-test-{uuid.uuid4().hex[:8]}")
    yield made
    await made.close()


async def test_a_room_leaves_the_sweep_index_once_empty_and_comes_back_with_a_join(redis_store):
    """The index of rooms is written beside the scripts (it lives in another slot than the
    rooms on a cluster): an emptied room is dropped from it, and a join puts it back."""
    await redis_store.join("9", 1, "alice", "tab", ttl=10)
    assert await redis_store._redis.smembers(redis_store._rooms) == {"9"}
    await redis_store.leave("9", 1, "tab")
    assert await redis_store.sweep() == []
    assert await redis_store._redis.smembers(redis_store._rooms) == set()
    await redis_store.join("9", 2, "bob", "tab", ttl=0.2)
    await asyncio.sleep(0.3)
    assert await redis_store.sweep() == [("9", "2")]  # indexed again, so its expiry is announced


async def test_a_user_joins_with_the_first_tab_and_leaves_with_the_last(store):
    assert await store.join("7", 1, "alice", "tab1", ttl=10) is True
    assert await store.join("7", 1, "alice", "tab2", ttl=10) is False
    assert await store.join("7", 2, "bob", "tab3", ttl=10) is True
    assert await store.online("7") == [{"id": 1, "username": "alice"}, {"id": 2, "username": "bob"}]
    assert await store.leave("7", 1, "tab1") is False
    assert await store.leave("7", 1, "tab2") is True
    assert await store.leave("7", 1, "tab2") is False  # already gone: no second leave
    assert await store.online("7") == [{"id": 2, "username": "bob"}]


async def test_refreshing_an_entry_is_not_a_new_join(store):
    assert await store.join("7", 1, "alice", "tab1", ttl=10) is True
    assert await store.join("7", 1, "alice", "tab1", ttl=10) is False


async def test_expired_entries_are_swept_once_and_only_users_with_no_live_tab_leave(store):
    await store.join("8", 1, "alice", "dead-tab", ttl=0.2)
    await store.join("8", 1, "alice", "live-tab", ttl=10)
    await store.join("8", 2, "bob", "dead-tab2", ttl=0.2)
    await asyncio.sleep(0.3)
    assert await store.online("8") == [{"id": 1, "username": "alice"}]
    assert await store.sweep() == [("8", "2")]
    assert await store.sweep() == []  # a second sweeper (another process) announces nothing


async def test_a_user_whose_entries_expired_rejoins_on_refresh(store):
    await store.join("9", 1, "alice", "tab", ttl=0.1)
    await asyncio.sleep(0.2)
    assert await store.join("9", 1, "alice", "tab", ttl=10) is True


def test_token_bucket_allows_the_burst_then_the_rate():
    bucket = TokenBucket(rate=5, burst=3)
    assert [bucket.take() for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = bucket.take()
    assert 0 < wait <= 0.2


async def test_trailing_throttle_sends_first_and_last_of_a_burst():
    sent = []

    async def send(value):
        sent.append(value)

    throttle = TrailingThrottle(0.1, send)
    for value in (1, 2, 3):
        await throttle.submit(value)
    assert sent == [1]
    await asyncio.sleep(0.2)
    assert sent == [1, 3]


async def test_a_reconnect_within_the_leave_grace_is_neither_a_leave_nor_a_join(store, settings):
    """Issue 10: connect/close cycling must not fan out presence frames; the same rules on
    both stores (a lingering entry is what another process sees)."""
    from clarion.realtime.presence import Presence

    settings.CLARION = {"PRESENCE_LEAVE_GRACE": 0.2}
    presence, announced = Presence(store), []

    async def record(room, event, user_id, username):
        announced.append((event, user_id))

    presence._announce = record
    first, is_first = await presence.enter(7, 1, "alice")
    assert is_first
    await presence.exit(first)
    again, is_first = await presence.enter(7, 1, "alice")  # within the grace: still present
    assert not is_first
    assert await presence.online(7) == [{"id": 1, "username": "alice"}]
    await asyncio.sleep(0.3)
    assert announced == []  # the lingering entry went, the new one keeps her present
    await presence.exit(again)
    await asyncio.sleep(0.3)
    assert announced == [("leave", 1)] and await presence.online(7) == []
    presence._task.cancel()


async def test_a_leave_grace_of_zero_announces_the_leave_at_once(store, settings):
    from clarion.realtime.presence import Presence

    settings.CLARION = {"PRESENCE_LEAVE_GRACE": 0}
    presence, announced = Presence(store), []

    async def record(room, event, user_id, username):
        announced.append((event, user_id))

    presence._announce = record
    conn, _ = await presence.enter(7, 1, "alice")
    await presence.exit(conn)
    assert announced == [("leave", 1)]
    presence._task.cancel()
