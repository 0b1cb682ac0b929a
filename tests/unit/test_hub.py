"""The fan-out hub and the outbox: order per socket, no head-of-line blocking, bounded queues.

The broker contract tests at the bottom run against every broker: the in-process one and,
in the scale-out pass, Redis (including a dropped subscriber connection).
"""

import asyncio
import json

import pytest

from clarion.realtime import hub as hub_module
from clarion.realtime.broker_memory import MemoryBroker
from clarion.realtime.hub import Hub
from clarion.realtime.outbox import Outbox

from tests.conftest import CLUSTER, SCALEOUT
from tests.settings import REDIS_CLUSTER_TEST_URL
from tests.unit.fakes import RecordingOutbox as Socket, wait_for


def event(seq, group="g"):
    return {"type": "notification.created", "seq": seq, "frame": json.dumps({"seq": seq, "group": group})}


async def joined(hub, groups, head=0):
    socket = Socket()
    subscription = hub.attach(socket, on_resync=None)
    await hub.join(subscription, groups)
    hub.mark_ready(subscription, head)
    return socket, subscription


async def test_a_personal_event_overtakes_a_large_broadcast_without_breaking_order(monkeypatch):
    monkeypatch.setattr(hub_module, "SLICE", 3)
    hub = Hub(MemoryBroker())
    sockets = [(await joined(hub, ["all", f"user.{i}"]))[0] for i in range(12)]
    hub.dispatch("all", event(1, "all"))  # 4 slices: the first now, the rest on later loop turns
    assert [s.seqs for s in sockets[:3]] == [[1]] * 3 and sockets[11].seqs == []
    hub.dispatch("user.11", event(2, "user.11"))  # the last socket's own event arrives meanwhile
    assert sockets[11].seqs == [1, 2]  # the broadcast frame was pulled ahead, order kept
    await asyncio.sleep(0.05)
    assert all(s.seqs == [1] for s in sockets[:11]) and sockets[11].seqs == [1, 2]  # nothing twice


async def test_events_held_before_the_snapshot_flush_in_seq_order_without_what_it_covered():
    hub = Hub(MemoryBroker())
    socket = Socket()
    subscription = hub.attach(socket, on_resync=None)
    await hub.join(subscription, ["a", "b"])
    for seq, group in ((7, "b"), (5, "a"), (6, "a")):
        hub.dispatch(group, event(seq, group))
    hub.dispatch("a", {"type": "notifications.read", "frame": json.dumps({"seq": None, "read": True})})
    assert socket.frames == []  # not ready: held
    hub.mark_ready(subscription, head=5)  # the snapshot already had seq 5
    assert socket.seqs == [6, 7, None]


async def test_leaving_the_last_socket_of_a_group_unsubscribes_it():
    calls = []

    class Recording(MemoryBroker):
        async def subscribe(self, group):
            calls.append(("sub", group))

        async def unsubscribe(self, group):
            calls.append(("unsub", group))

    hub = Hub(Recording())
    _, first = await joined(hub, ["g"])
    _, second = await joined(hub, ["g"])
    await hub.detach(first)
    await hub.detach(second)
    assert calls == [("sub", "g"), ("unsub", "g")]
    hub.dispatch("g", event(1))  # no members: nothing to do, no error


# -- outbox -----------------------------------------------------------------------------


class ServerSend:
    """An ASGI send that completes at once while writable, and waits while paused."""

    def __init__(self):
        self.writable = asyncio.Event()
        self.writable.set()
        self.sent = []

    async def __call__(self, message):
        await self.writable.wait()
        self.sent.append(message["text"])


async def test_outbox_writes_synchronously_while_the_socket_is_writable():
    send = ServerSend()
    outbox = Outbox(send, limit=10, on_overflow=None)
    outbox.push("a")
    outbox.push("b")
    assert send.sent == ["a", "b"]  # no task switch needed


async def test_outbox_queues_behind_a_paused_socket_and_keeps_order():
    send = ServerSend()
    outbox = Outbox(send, limit=10, on_overflow=None)
    send.writable.clear()
    for text in "abc":
        outbox.push(text)  # returns at once: the fan-out never waits for this client
    assert send.sent == [] and outbox.backlog == 2
    send.writable.set()
    await asyncio.sleep(0.01)
    assert send.sent == ["a", "b", "c"] and outbox.backlog == 0
    outbox.push("d")
    assert send.sent[-1] == "d"


async def test_a_client_that_stops_reading_is_cut_off_at_the_limit():
    send = ServerSend()
    overflowed = []
    outbox = Outbox(send, limit=3, on_overflow=lambda: overflowed.append(True))
    send.writable.clear()
    for i in range(10):
        outbox.push(str(i))
    assert overflowed == [True] and outbox.closed and outbox.backlog == 0
    outbox.discard()


# -- broker contract: every broker, same behaviour ------------------------------------------


def brokers():
    from clarion.realtime.broker_redis import RedisBroker

    yield "memory", lambda: MemoryBroker()
    if CLUSTER:
        from clarion.realtime.broker_redis_cluster import RedisClusterBroker

        yield "redis-cluster", lambda: RedisClusterBroker(url=REDIS_CLUSTER_TEST_URL, prefix="clarion-contract")
    elif SCALEOUT:
        yield "redis", lambda: RedisBroker(url="redis://127.0.0.1:6379/0", prefix="clarion-contract")


@pytest.fixture(params=[pytest.param(name, marks=[pytest.mark.cluster, pytest.mark.cluster_only])
                        if name == "redis-cluster" else name for name, _ in brokers()])
async def pair(request):
    """Two hubs as two processes would have them (for memory: one process, one hub)."""
    factory = dict(brokers())[request.param]
    first = Hub(factory())
    second = first if request.param == "memory" else Hub(factory())
    yield first, second
    await first.broker.close()
    if second is not first:
        await second.broker.close()




async def test_broker_delivers_published_events_in_order_to_subscribed_hubs(pair):
    publisher, receiver = pair
    socket, _ = await joined(receiver, ["contract.g"])
    other, _ = await joined(receiver, ["contract.other"])
    await asyncio.sleep(0.1)  # the Redis subscription settles
    for seq in range(1, 51):
        await publisher.publish("contract.g", event(seq, "contract.g"))
    assert await wait_for(lambda: len(socket.frames) == 50)
    assert socket.seqs == list(range(1, 51)) and other.frames == []


async def test_broker_stops_delivering_after_the_last_socket_leaves(pair):
    publisher, receiver = pair
    socket, subscription = await joined(receiver, ["contract.leave"])
    await receiver.detach(subscription)
    await asyncio.sleep(0.1)
    await publisher.publish("contract.leave", event(1))
    await asyncio.sleep(0.2)
    assert socket.frames == []


@pytest.mark.scaleout
async def test_redis_subscriber_drop_resubscribes_and_resyncs_every_socket():
    import redis.asyncio as redis

    from clarion.realtime.broker_redis import RedisBroker

    resynced = asyncio.Event()
    receiver = Hub(RedisBroker(url="redis://127.0.0.1:6379/0", prefix="clarion-drop"))
    publisher = Hub(RedisBroker(url="redis://127.0.0.1:6379/0", prefix="clarion-drop"))
    socket = Socket()

    async def on_resync():
        resynced.set()
        receiver.mark_ready(subscription, head=subscription.last_seq)

    subscription = receiver.attach(socket, on_resync=on_resync)
    await receiver.join(subscription, ["drop.g"])
    receiver.mark_ready(subscription, 0)
    await asyncio.wait_for(resynced.wait(), 5)  # the first connect resyncs too (joined before it)
    resynced.clear()
    admin = redis.Redis.from_url("redis://127.0.0.1:6379/0")
    try:
        killed = await admin.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
        assert killed >= 1
        await asyncio.wait_for(resynced.wait(), 5)
        await publisher.publish("drop.g", event(1))
        assert await wait_for(lambda: socket.seqs == [1])
    finally:
        await admin.aclose()
        await receiver.broker.close()
        await publisher.broker.close()
