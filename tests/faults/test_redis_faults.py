"""Redis killed, paused, restarted empty: nothing committed is lost, REST keeps answering,
live delivery comes back by itself. Figures are printed (pytest -s shows them)."""

import asyncio
import time
import uuid

import pytest

from tests.faults.recorder import Publisher, Recorder, assert_back_to_baseline, baseline
from tests.integration.harness import CLUSTER

pytestmark = pytest.mark.cluster  # the same faults, on a Redis Cluster, in the cluster pass

# A Redis client holds a connection per master it has talked to. Once a whole cluster has
# restarted, every client of a process talks to all three masters, where before it may have
# talked to one: more descriptors, not a leak (repeated restarts level off: 35, 41, 44, 47, 48).
FD_SLACK = 12 if CLUSTER else 4


def tokens_for(server, *names):
    return {name: server.token(name) for name in names}


async def test_redis_sigkill_mid_stream_loses_nothing_and_heals_by_itself(servers, private_redis):
    a, b = servers
    tokens = tokens_for(a, "alice", "bob", "dave")
    prefix = f"kill-{uuid.uuid4().hex[:6]}"
    tabs = [await Recorder(a, tokens["alice"], prefix=prefix).start(),
            await Recorder(b, tokens["alice"], prefix=prefix).start(),
            await Recorder(b, tokens["bob"], prefix=prefix).start()]
    before = baseline(servers)
    publisher = Publisher(servers, tokens["dave"], prefix=prefix,
                          recipient={"recipient_type": "role", "recipient_id": "student"}).start()
    await asyncio.sleep(2)
    private_redis.kill()
    await asyncio.sleep(3)
    private_redis.start()
    restarted = time.monotonic()
    # Live delivery is back when a notification created now reaches every tab without a reconnect.
    probe = a.notify(tokens["dave"], title=f"{prefix} probe", recipient_type="role", recipient_id="student")
    heal = max([await tab.wait_for([probe["id"]], timeout=20) for tab in tabs])
    await asyncio.sleep(1)
    publisher.stop()
    created = publisher.created + [probe["id"]]
    for tab in tabs:
        await tab.wait_for(created, timeout=20)
        tab.assert_exactly_once_in_order(created)
    print(f"\nredis SIGKILL: {len(created)} created, 0 lost; REST failures {len(publisher.failures)}; "
          f"REST max {max(publisher.latencies) * 1000:.0f} ms; delivery back {time.monotonic() - restarted:.1f} s "
          f"after restart (probe {heal:.2f} s)")
    assert publisher.failures == []  # REST never noticed Redis was gone
    assert all(s.process.poll() is None for s in servers), "a server process died"
    for tab in tabs:
        await tab.stop()
    await assert_back_to_baseline(servers, before, fd_slack=FD_SLACK)


async def test_redis_paused_bounds_rest_latency_by_the_publish_timeout(servers, private_redis):
    a, _ = servers
    tokens = tokens_for(a, "alice", "dave")
    alice_id = str(a.request("GET", "/api/me/", token=tokens["alice"])[1]["id"])
    prefix = f"pause-{uuid.uuid4().hex[:6]}"
    tab = await Recorder(a, tokens["alice"], prefix=prefix).start()
    before = baseline(servers)
    created, took = [], []
    private_redis.pause()
    try:
        for i in range(6):
            started = time.monotonic()
            created.append(a.notify(tokens["dave"], title=f"{prefix} {i}", recipient_type="user",
                                    recipient_id=alice_id)["id"])
            took.append(time.monotonic() - started)
    finally:
        private_redis.resume()
    print(f"\nredis paused: 6 REST creates answered in {', '.join(f'{t * 1000:.0f}' for t in took)} ms")
    assert took[0] < 4.0  # one PUBLISH_TIMEOUT (2 s) plus the request itself
    assert sum(took) < 8.0  # not one timeout per create: the breaker leaves the rest to the relay
    await tab.wait_for(created, timeout=20)
    tab.assert_exactly_once_in_order(created)
    await tab.stop()
    await assert_back_to_baseline(servers, before, fd_slack=FD_SLACK)


async def test_redis_restarted_empty_leaves_no_socket_deaf(servers, private_redis):
    a, b = servers
    tokens = tokens_for(a, "alice", "bob", "dave")
    prefix = f"empty-{uuid.uuid4().hex[:6]}"
    tabs = [await Recorder(a, tokens["alice"], prefix=prefix).start(),
            await Recorder(b, tokens["bob"], prefix=prefix).start()]
    before = baseline(servers)
    private_redis.kill()
    private_redis.start()  # no persistence: every subscription and key is gone
    created = []
    deadline = time.monotonic() + 15
    for i in range(5):
        created.append(b.notify(tokens["dave"], title=f"{prefix} {i}", recipient_type="all")["id"])
    for tab in tabs:
        await tab.wait_for(created, timeout=deadline - time.monotonic())
        tab.assert_exactly_once_in_order(created)
        await tab.stop()
    await assert_back_to_baseline(servers, before, fd_slack=FD_SLACK)


async def test_an_idle_socket_keeps_receiving_past_redis_idle_timeouts(servers, private_redis):
    """Channels' groups expire (a day by default) and leave sockets deaf. Clarion's hub keeps
    membership in the process for the socket's life, and its Redis subscription is a
    connection, not a key: even a Redis that drops idle clients does not make it deaf."""
    a, b = servers
    tokens = tokens_for(a, "alice", "dave")
    prefix = f"idle-{uuid.uuid4().hex[:6]}"
    tab = await Recorder(b, tokens["alice"], prefix=prefix).start()
    private_redis.config_set("timeout", 1)  # Redis closes connections idle for 1 s
    try:
        await asyncio.sleep(4)
        created = [a.notify(tokens["dave"], title=f"{prefix} {i}", recipient_type="all")["id"] for i in range(3)]
        await tab.wait_for(created, timeout=10)
        tab.assert_exactly_once_in_order(created)
    finally:
        private_redis.config_set("timeout", 0)
        await tab.stop()
