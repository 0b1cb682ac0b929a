"""A Redis Cluster master killed mid-stream: its replica takes over, the brokers move their
shard subscriptions to it and every socket catches up from the database. 0 lost, 0 twice,
on the raw socket (no client-side dedupe) as well as in the real client."""

import asyncio
import json
import time
import uuid

import pytest
from redis.crc import key_slot

from tests.faults.recorder import Publisher, Recorder, seq_of

pytestmark = [pytest.mark.cluster, pytest.mark.cluster_only]


class RawSocket:
    """One socket that never reconnects, recording the seq of every notification frame."""

    def __init__(self, server, token, prefix):
        self.server, self.token, self.prefix = server, token, prefix
        self.seqs: list[int] = []
        self.ids: list[int] = []
        self._task = None

    async def start(self):
        ready = asyncio.Event()

        async def run():
            async with self.server.socket(self.token) as ws:
                async for text in ws:
                    frame = json.loads(text)
                    if frame["type"] == "recent_notifications":
                        ready.set()
                    elif frame["type"] == "notification" and frame["data"]["title"].startswith(self.prefix):
                        self.seqs.append(seq_of(frame["data"]["cursor"]))
                        self.ids.append(frame["data"]["id"])

        self._task = asyncio.get_running_loop().create_task(run())
        await asyncio.wait_for(ready.wait(), 10)
        return self

    async def stop(self):
        self._task.cancel()
        try:
            await self._task
        except (asyncio.CancelledError, Exception):
            pass


def master_serving(cluster, channel: str) -> int:
    slot = key_slot(channel.encode())
    for node in cluster.nodes():
        if "master" not in node["flags"] or "fail" in node["flags"]:
            continue
        for span in node["slots"]:
            low, _, high = span.partition("-")
            if int(low) <= slot <= int(high or low):
                return node["port"]
    raise AssertionError(f"no master serves slot {slot}")


async def test_a_master_killed_mid_stream_fails_over_and_loses_nothing(servers, private_redis):
    a, b = servers
    tokens = {name: a.token(name) for name in ("alice", "bob", "carol", "dave")}
    alice_id = a.request("GET", "/api/me/", token=tokens["alice"])[1]["id"]
    prefix = f"failover-{uuid.uuid4().hex[:6]}"
    tabs = [await Recorder(a, tokens["alice"], prefix=prefix).start(),
            await Recorder(b, tokens["alice"], prefix=prefix).start(),
            await Recorder(b, tokens["bob"], prefix=prefix).start(),
            await Recorder(a, tokens["carol"], prefix=prefix).start()]
    raw = [await RawSocket(b, tokens["alice"], prefix).start(), await RawSocket(a, tokens["bob"], prefix).start()]
    publishers = [
        Publisher(servers, tokens["dave"], prefix=prefix, rate=8, recipient={"recipient_type": "all"}).start(),
        Publisher(servers, tokens["dave"], prefix=prefix, rate=8,
                  recipient={"recipient_type": "user", "recipient_id": str(alice_id)}).start(),
        Publisher(servers, tokens["dave"], prefix=prefix, rate=4,
                  recipient={"recipient_type": "role", "recipient_id": "student"}).start(),
    ]
    await asyncio.sleep(2)
    # The master of alice's bucket: her personal channel and her copy of every broadcast die with it.
    bucket = key_slot(f"clarion.user.{alice_id}".encode()) % 16
    victim = master_serving(private_redis, f"clarion:{{b{bucket}}}:clarion.user.{alice_id}")
    private_redis.kill_node(victim)
    killed = time.monotonic()
    await asyncio.to_thread(private_redis.wait_healthy, 30)  # its replica took its slots
    failed_over = time.monotonic() - killed
    probe = a.notify(tokens["dave"], title=f"{prefix} probe", recipient_type="all")
    heal = max([await tab.wait_for([probe["id"]], timeout=20) for tab in tabs])
    await asyncio.sleep(1.5)
    for publisher in publishers:
        publisher.stop()
    everyone = publishers[0].created + [probe["id"]]
    to_alice = publishers[1].created
    to_students = publishers[2].created
    seen_by = {"alice": everyone + to_alice + to_students, "bob": everyone + to_students, "carol": everyone}
    for tab, name in zip(tabs, ("alice", "alice", "bob", "carol")):
        await tab.wait_for(seen_by[name], timeout=20)
        tab.assert_exactly_once_in_order(seen_by[name])
    for socket, name in zip(raw, ("alice", "bob")):
        deadline = time.monotonic() + 20
        while set(socket.ids) < set(seen_by[name]) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert sorted(socket.ids) == sorted(seen_by[name]), "the raw socket lost or gained notifications"
        assert socket.seqs == sorted(set(socket.seqs)), "the raw socket saw a seq twice or out of order"
    created = sum(len(p.created) for p in publishers) + 1
    print(f"\ncluster master {victim} SIGKILLed: {created} created, 0 lost, 0 twice; failover "
          f"{failed_over:.1f} s; live again {heal:.2f} s after it; REST failures "
          f"{sum(len(p.failures) for p in publishers)}; REST max "
          f"{max(max(p.latencies) for p in publishers) * 1000:.0f} ms")
    assert all(p.failures == [] for p in publishers)  # REST never noticed
    assert all(s.process.poll() is None for s in servers), "a server process died"
    for socket in raw:
        await socket.stop()
    for tab in tabs:
        await tab.stop()
