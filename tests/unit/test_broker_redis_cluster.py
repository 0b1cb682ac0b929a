"""The Redis Cluster broker: where groups live (pure), and, on a real cluster, order across
shards and recovery from lost shard connections."""

import asyncio
import json

import pytest
from redis.crc import key_slot

from clarion.realtime import groups
from clarion.realtime.broker_redis_cluster import RedisClusterBroker
from clarion.realtime.hub import Hub

from tests.settings import REDIS_CLUSTER_TEST_URL
from tests.unit.fakes import RecordingOutbox as Socket, wait_for


def broker(buckets=16, url="redis+cluster://127.0.0.1:7000"):
    return RedisClusterBroker(url=url, prefix="clarion-test", buckets=buckets)


def slot(channel: str) -> int:
    return key_slot(channel.encode())


@pytest.mark.parametrize("user_id", [1, 2, 42, 1000, "9b2e7c1a-57d4-4f51-9e0f-1c5d3a1b2c3d"])
def test_all_of_a_sockets_notification_groups_live_in_one_slot(user_id):
    made = broker()
    placed = made.place(groups.groups_of_user(user_id, "student"))
    assert placed[0] == groups.user_group(user_id)
    assert {slot(made._channel(name)) for name in placed} == {slot(made._channel(placed[0]))}


def test_a_group_that_reaches_many_is_published_once_per_bucket_and_users_spread_over_them():
    made = broker(buckets=8)
    copies = made.copies(groups.ALL_USERS)
    assert len(copies) == 8
    assert len({slot(channel) for channel in made._published_channels(groups.ALL_USERS)}) == 8
    assert made.copies(groups.user_group(5)) == [groups.user_group(5)]
    assert made.copies(groups.project_group(3)) == [groups.project_group(3)]
    placed = {made.place(groups.groups_of_user(user_id, None))[1] for user_id in range(200)}
    assert placed == set(copies)  # every bucket has users; each user takes its bucket's copy


def test_one_bucket_puts_every_notification_channel_in_one_slot():
    made = broker(buckets=1)
    channels = [made._channel(name) for user_id in range(20)
                for name in made.place(groups.groups_of_user(user_id, "advisor"))]
    assert len({slot(channel) for channel in channels}) == 1


def test_project_and_room_groups_are_not_bucketed():
    made = broker()
    assert made.place([groups.project_group(7), "clarion.sessions.5"]) == [groups.project_group(7),
                                                                          "clarion.sessions.5"]


def test_buckets_must_be_positive():
    with pytest.raises(ValueError, match="buckets"):
        broker(buckets=0)


# -- on a real cluster (CLARION_TEST_BACKEND=cluster) -------------------------------------------

def sequenced(seq, group):
    return {"type": "sequenced", "seq": seq, "frame": json.dumps({"seq": seq, "group": group})}


async def until(predicate, timeout=5.0):
    return await wait_for(predicate, timeout)


@pytest.fixture
async def two_hubs():
    hubs = [Hub(broker(url=REDIS_CLUSTER_TEST_URL)), Hub(broker(url=REDIS_CLUSTER_TEST_URL))]
    yield hubs
    for hub in hubs:
        await hub.broker.close()


async def join(hub, user_id, role, resynced=None):
    socket = Socket()

    async def on_resync():
        if resynced is not None:
            resynced.append(user_id)
        hub.mark_ready(subscription, subscription.last_seq)

    subscription = hub.attach(socket, on_resync=on_resync)
    await hub.join(subscription, groups.groups_of_user(user_id, role))
    hub.mark_ready(subscription, 0)
    return socket


@pytest.mark.cluster
@pytest.mark.cluster_only
async def test_a_batch_across_shards_reaches_every_socket_once_in_seq_order(two_hubs):
    publisher, receiver = two_hubs
    users = list(range(1, 13))  # spread over buckets, so over all three masters
    sockets = {user: await join(receiver, user, "student" if user % 2 else "advisor") for user in users}
    assert len({receiver.broker._owner(receiver.broker._channel(groups.user_group(u))).name for u in users}) == 3
    batch, expected, seq = [], {user: [] for user in users}, 0
    for round_ in range(20):  # personal, everyone and role events interleaved, as group commit sends them
        for group, audience in ((groups.user_group(users[round_ % 12]), [users[round_ % 12]]),
                                (groups.ALL_USERS, users),
                                (groups.role_group("student"), [u for u in users if u % 2])):
            seq += 1
            batch.append((group, sequenced(seq, group)))
            for user in audience:
                expected[user].append(seq)
    await publisher.publish_many(batch)
    assert await until(lambda: all(len(sockets[u].seqs) >= len(expected[u]) for u in users))
    await asyncio.sleep(0.2)  # nothing more arrives (no copy from another bucket)
    assert {u: sockets[u].seqs for u in users} == expected


@pytest.mark.cluster
@pytest.mark.cluster_only
async def test_lost_shard_connections_are_replaced_then_every_socket_resyncs(two_hubs):
    import redis

    publisher, receiver = two_hubs
    resynced = []
    sockets = {user: await join(receiver, user, None, resynced) for user in range(1, 7)}
    masters = {shard.name for shard in receiver.broker._shards.values()}
    assert len(masters) >= 2
    for name in masters:  # every shard connection of every process drops (as at a master's death)
        host, port = name.rsplit(":", 1)
        admin = redis.Redis(host=host, port=int(port))
        try:
            admin.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
        finally:
            admin.close()
    assert await until(lambda: len(resynced) >= 6)
    await publisher.publish(groups.ALL_USERS, sequenced(1, groups.ALL_USERS))
    assert await until(lambda: all(s.seqs == [1] for s in sockets.values()))


@pytest.mark.cluster
@pytest.mark.cluster_only
async def test_a_subscribe_still_on_its_way_is_not_taken_for_a_lost_one(monkeypatch):
    """The periodic slot-map check ran while thousands of sockets connected and resynced them
    all every 5 s (bench cluster scenario, N=5,000): a channel being subscribed is not missing."""
    from clarion.realtime import broker_redis_cluster

    made = broker(url=REDIS_CLUSTER_TEST_URL)
    resyncs = []

    class FakeHub:
        def resync(self):
            resyncs.append(1)

    made.bind(FakeHub())
    release = asyncio.Event()
    real_initialized = broker_redis_cluster.RedisClusterBroker._ensure_initialized

    async def slow_start(self):  # the first subscribes of a process wait for the slot map
        await real_initialized(self)
        await release.wait()

    monkeypatch.setattr(broker_redis_cluster.RedisClusterBroker, "_ensure_initialized", slow_start)
    try:
        joining = asyncio.get_running_loop().create_task(made.subscribe(groups.user_group(77)))
        await asyncio.sleep(0.1)
        await made._repair()  # the periodic check, while the subscribe waits
        assert resyncs == []
        release.set()
        await joining
        await made._repair()
        assert resyncs == [] and not made._trouble.is_set()
    finally:
        release.set()
        await made.close()
