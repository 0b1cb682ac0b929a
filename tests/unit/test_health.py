"""System health: aggregation, expiry of a silent process, the monitor, the socket, /metrics.

Stores are driven with a fake clock where expiry matters; the Redis store test runs in the
scale-out pass against the real Redis (Redis itself expires the records).
"""

import asyncio
import json
import logging
import uuid

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import override_settings

from clarion.auth.tokens import access_token_for
from clarion.conf import clarion_settings
from clarion.observability import aggregate, metrics, sampling
from clarion.realtime import health_monitor
from clarion.realtime.health_store import MemoryHealthStore, RedisHealthStore
from clarion.realtime.routing import websocket_application

from tests.conftest import SCALEOUT


class FakeClock:
    def __init__(self, now=1000.0):
        self.now = now

    def __call__(self):
        return self.now


def record(pid, *, host="h", connections=None, rates=(0, 0, 0), latency=None, db=("up", 0.001),
           redis=("not used", None), warnings=0, errors=0):
    return {
        "id": f"{host}:{pid}:x", "host": host, "pid": pid,
        "started_at": "2026-01-01T00:00:00.000000Z", "reported_at": "2026-01-01T00:00:01.000000Z",
        "connections": connections or {},
        "rates": dict(zip(sampling.RATE_KINDS, rates)),
        "delivery_latency": latency,
        "database": {"status": db[0], "rtt": db[1]},
        "redis": {"status": redis[0], "rtt": redis[1]},
        "cpu_percent": 1.0, "rss_bytes": 1 << 20,
        "warnings_last_minute": warnings, "errors_last_minute": errors,
    }


# -- aggregation ---------------------------------------------------------------------------


def test_aggregate_sums_connections_rates_and_log_records_and_takes_max_and_median_latency():
    snapshot = aggregate.aggregate(
        [
            record(2, connections={"notifications": 3, "system_health": 1}, rates=(1.5, 10, 7), latency=0.004,
                   warnings=2, errors=1),
            record(1, connections={"notifications": 2, "projects": 4}, rates=(0.5, 5, 3), latency=0.001),
            record(3, host="a", latency=0.002),
            record(4, host="z", latency=None),
        ],
        every=2.0, now=0.0,
    )
    assert snapshot["process_count"] == 4
    assert snapshot["connections"] == {"notifications": 5, "projects": 4, "system_health": 1}
    assert snapshot["connections_total"] == 10
    assert snapshot["rates"] == {"frames_in": 2.0, "frames_out": 15.0, "deliveries": 10.0}
    assert snapshot["delivery_latency"] == {"max": 0.004, "median": 0.002, "processes_measured": 3}
    assert snapshot["warnings_last_minute"] == 2 and snapshot["errors_last_minute"] == 1
    assert [(p["host"], p["pid"]) for p in snapshot["processes"]] == [("a", 3), ("h", 1), ("h", 2), ("z", 4)]
    assert snapshot["interval"] == 2.0 and snapshot["expiry"] == 6.0 and snapshot["partial"] is False
    assert snapshot["at"] == "1970-01-01T00:00:00.000000Z"
    assert snapshot["redis"] == {"status": "not used", "rtt_max": None, "processes_down": 0}


@pytest.mark.parametrize("states, expected", [
    ([("up", 0.001), ("up", 0.003)], ("up", 0.003, 0)),
    ([("up", 0.001), ("down", None)], ("degraded", 0.001, 1)),
    ([("down", None), ("down", None)], ("down", None, 2)),
    ([("unknown", None), ("up", 0.002)], ("up", 0.002, 0)),
    ([("unknown", None)], ("unknown", None, 0)),
])
def test_a_dependency_is_up_only_when_every_process_that_checked_it_reached_it(states, expected):
    snapshot = aggregate.aggregate([record(i, db=state) for i, state in enumerate(states)], every=1.0, now=0.0)
    database = snapshot["database"]
    assert (database["status"], database["rtt_max"], database["processes_down"]) == expected


def test_no_latency_measured_anywhere_gives_nulls():
    snapshot = aggregate.aggregate([record(1)], every=1.0, now=0.0)
    assert snapshot["delivery_latency"] == {"max": None, "median": None, "processes_measured": 0}


# -- expiry of a dead process's record -----------------------------------------------------


async def test_memory_store_drops_a_record_not_renewed_within_its_ttl():
    clock = FakeClock()
    store = MemoryHealthStore(clock=clock)
    await store.put("a", record(1), ttl=3.0)
    await store.put("b", record(2), ttl=3.0)
    clock.now += 2.0
    await store.put("b", record(2), ttl=3.0)  # b keeps reporting, a died
    assert sorted(r["pid"] for r in await store.all()) == [1, 2]
    clock.now += 1.0  # a's last report is 3 s old: gone
    assert [r["pid"] for r in await store.all()] == [2]
    await store.remove("b")
    assert await store.all() == []


async def test_a_monitor_that_stops_reporting_leaves_the_others_snapshot_after_three_intervals():
    clock = FakeClock()
    store = MemoryHealthStore(clock=clock)
    alive, dying = health_monitor.HealthMonitor(every=1.0, store=store), health_monitor.HealthMonitor(every=1.0, store=store)
    dying.pid = alive.pid + 1  # two "processes" in one test process
    try:
        await dying.tick()
        assert {p["id"] for p in (await alive.tick())["processes"]} == {alive.process_id, dying.process_id}
        for _ in range(2):  # dying no longer ticks; within the TTL it is still shown
            clock.now += 1.0
            assert len((await alive.tick())["processes"]) == 2
        clock.now += 1.0
        snapshot = await alive.tick()
        assert [p["id"] for p in snapshot["processes"]] == [alive.process_id]
        assert snapshot["process_count"] == 1
    finally:
        await alive.stop()
        await dying.stop()


async def test_a_store_that_does_not_answer_gives_a_partial_snapshot_of_this_process():
    class DownStore(MemoryHealthStore):
        async def put(self, process_id, record, ttl):
            raise ConnectionError("Redis is down")

    monitor = health_monitor.HealthMonitor(every=0.2, store=DownStore())
    try:
        snapshot = await monitor.tick()
        assert snapshot["partial"] is True
        assert [p["id"] for p in snapshot["processes"]] == [monitor.process_id]
    finally:
        await monitor.stop()


@pytest.mark.scaleout  # deselected in the embedded pass, run in the scale-out pass
async def test_redis_store_lets_redis_expire_records_and_prunes_its_index():
    from tests.settings import REDIS_TEST_URL

    store = RedisHealthStore(REDIS_TEST_URL, prefix=f"clarion-unit-{uuid.uuid4().hex[:8]}")
    try:
        await store.put("a", record(1), ttl=0.3)
        await store.put("b", record(2), ttl=5.0)
        assert sorted(r["pid"] for r in await store.all()) == [1, 2]
        assert await store.ping() < 1.0
        await asyncio.sleep(0.45)
        assert [r["pid"] for r in await store.all()] == [2]
        assert await store._redis.smembers(store._index) == {store._key("b").encode()}
        await store.remove("b")
        assert await store.all() == []
    finally:
        await store._redis.delete(store._index, store._key("a"), store._key("b"))
        await store.close()


# -- this process's figures ----------------------------------------------------------------


def test_log_counter_counts_warnings_and_errors_of_the_last_minute():
    clock = FakeClock()
    counter = sampling.LogRecordCounter(window=60.0, clock=clock)
    log = logging.getLogger("clarion.test-health-counter")
    log.addHandler(counter)
    try:
        log.info("not counted")
        log.warning("one")
        log.error("two")
        clock.now += 30
        log.critical("three")
        assert counter.counts() == (1, 2)
        clock.now += 31  # the first two are older than a minute
        assert counter.counts() == (0, 1)
    finally:
        log.removeHandler(counter)


def test_sampler_turns_counter_deltas_into_rates_and_leaves_probes_out_of_deliveries():
    clock, cpu = FakeClock(), FakeClock(5.0)
    sampler = sampling.ProcessSampler(clock=clock, cpu_clock=cpu)
    metrics.FRAMES_IN.labels(endpoint="health-test").inc(4)
    metrics.FRAMES_OUT.labels(endpoint="health-test").inc(10)
    metrics.DELIVERIES.inc(6)
    clock.now += 2.0
    cpu.now += 0.5
    sample = sampler.sample(not_deliveries=2)
    assert sample["rates"] == {"frames_in": 2.0, "frames_out": 5.0, "deliveries": 2.0}
    assert sample["cpu_percent"] == 25.0


def test_rss_is_a_plausible_number_of_bytes():
    assert 1 << 20 < sampling.rss_bytes() < 1 << 40


# -- the monitor over the real hub and database --------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_monitor_reports_database_probe_latency_and_pushes_to_watchers():
    monitor = health_monitor.HealthMonitor(every=0.2)  # the store of the backend: Redis in the scale-out pass

    class Watcher:
        def __init__(self):
            self.frames = []

        async def send_text(self, text):
            self.frames.append(json.loads(text))

    watcher = Watcher()
    await monitor.watch(watcher)  # nothing yet: no snapshot was built
    assert watcher.frames == []
    monitor.start()
    try:
        for _ in range(50):
            await asyncio.sleep(0.1)
            own = next((p for p in (monitor.latest or {}).get("processes", ()) if p["id"] == monitor.process_id), None)
            if own and own["delivery_latency"] is not None and own["database"]["status"] == "up" \
                    and own["redis"]["status"] != "unknown":
                break
        assert own is not None
        assert own["pid"] == monitor.pid and own["database"]["status"] == "up" and own["database"]["rtt"] < 1
        assert 0 <= own["delivery_latency"] < 1
        assert own["redis"]["status"] == ("up" if SCALEOUT else "not used")
        assert watcher.frames and watcher.frames[-1]["type"] == "health"
        late = Watcher()
        await monitor.watch(late)  # a new watcher gets the latest snapshot at once
        assert late.frames[0]["data"]["at"] == monitor.latest["at"]
        metrics_text = metrics_body()
        assert f"clarion_cluster_processes {float(monitor.latest['process_count'])}" in metrics_text
        assert f'clarion_db_up{{process="{own["host"]}:{own["pid"]}"}} 1.0' in metrics_text
    finally:
        await monitor.stop()


def metrics_body() -> str:
    from prometheus_client import generate_latest

    return generate_latest().decode()


@pytest.mark.django_db(transaction=True)
async def test_a_database_that_does_not_answer_is_reported_down_and_logged_once(monkeypatch, caplog):
    def broken():
        raise RuntimeError("connection refused")

    monkeypatch.setattr(health_monitor, "_select_one", broken)
    monitor = health_monitor.HealthMonitor(every=0.2, store=MemoryHealthStore())
    try:
        with caplog.at_level(logging.WARNING, logger="clarion.health"):
            for _ in range(3):
                snapshot = await monitor.tick()
        assert snapshot["database"]["status"] == "down"
        assert snapshot["processes"][0]["database"]["error"] == "RuntimeError: connection refused"
        assert len([r for r in caplog.records if "database check failed" in r.getMessage()]) == 1
    finally:
        await monitor.stop()


# -- /ws/system-health/ in process ---------------------------------------------------------

APP = websocket_application()


@pytest.fixture
async def fast_health():
    with override_settings(CLARION={**_clarion(), "HEALTH_INTERVAL": 0.2}):
        yield
        await health_monitor.stop()


def _clarion():
    from django.conf import settings

    return settings.CLARION


async def connect(user):
    token = await database_sync_to_async(access_token_for)(user) if user else "garbage"
    ws = WebsocketCommunicator(APP, f"/ws/system-health/?token={token}",
                               headers=[(b"host", b"testserver"), (b"origin", b"http://testserver")])
    connected, _ = await ws.connect()
    assert connected
    return ws


async def close_code(ws):
    message = await ws.receive_output(timeout=3)
    assert message["type"] == "websocket.close", message
    return message.get("code")


@pytest.mark.django_db(transaction=True)
async def test_socket_admits_admins_and_superusers_and_closes_others(people, make_user, fast_health):
    root = await database_sync_to_async(make_user)("root", is_superuser=True)
    for user in (people["dave"], root):
        ws = await connect(user)
        frame = await ws.receive_json_from(timeout=3)
        assert frame["type"] == "health" and frame["data"]["process_count"] >= 1
        assert frame["data"]["connections"].get("system_health", 0) >= 1
        await ws.send_json_to({"type": "ping"})
        while (reply := await ws.receive_json_from(timeout=3))["type"] == "health":
            pass
        assert reply == {"type": "pong"}
        await ws.send_json_to({"type": "mark_all_as_read"})
        while (reply := await ws.receive_json_from(timeout=3))["type"] == "health":
            pass
        assert reply["type"] == "error" and reply["data"]["code"] == "unknown_type"
        await ws.disconnect()
    for user in (people["alice"], people["carol"]):
        assert await close_code(await connect(user)) == 4403
    assert await close_code(await connect(None)) == 4401


# -- /metrics ------------------------------------------------------------------------------


@pytest.fixture
def metrics_settings():
    def apply(**values):
        return override_settings(CLARION={**_clarion(), **values})

    return apply


@pytest.mark.django_db
def test_metrics_answers_loopback_and_refuses_other_addresses(client, metrics_settings):
    # opened without a token (METRICS_PUBLIC), the address rule alone decides
    with metrics_settings(METRICS_PUBLIC=True):
        assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200
        assert client.get("/metrics", REMOTE_ADDR="::1").status_code == 200
        assert client.get("/metrics", REMOTE_ADDR="::ffff:127.0.0.1").status_code == 200
        refused = client.get("/metrics", REMOTE_ADDR="10.1.2.3")
        assert refused.status_code == 403 and b"may not read /metrics" in refused.content
    with metrics_settings(METRICS_PUBLIC=True, METRICS_ALLOWED_IPS=["10.0.0.0/8"]):
        assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
        assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403


@pytest.mark.django_db
def test_metrics_token_is_required_when_set_and_does_not_bypass_the_address_list(client, metrics_settings):
    with metrics_settings(METRICS_TOKEN="s3cret-token"):
        missing = client.get("/metrics", REMOTE_ADDR="127.0.0.1")
        assert missing.status_code == 401 and missing["WWW-Authenticate"] == 'Bearer realm="metrics"'
        for header in ("Bearer wrong", "s3cret-token", "Basic s3cret-token", "Bearer s3cret-token-and-more"):
            assert client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_AUTHORIZATION=header).status_code == 401
        ok = client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_AUTHORIZATION="Bearer s3cret-token")
        assert ok.status_code == 200 and b"clarion_open_connections" in ok.content
        assert client.get("/metrics", REMOTE_ADDR="192.0.2.1",
                          HTTP_AUTHORIZATION="Bearer s3cret-token").status_code == 403


def test_metrics_serves_the_cluster_gauges_of_the_latest_snapshot():
    aggregate.update_gauges(aggregate.aggregate(
        [record(7, host="gauge-test", connections={"notifications": 3}, rates=(1, 2, 3), latency=0.002,
                redis=("up", 0.0005))],
        every=2.0, now=0.0,
    ))
    text = metrics_body()
    for line in ('clarion_cluster_connections{endpoint="notifications"} 3.0',
                 'clarion_cluster_messages_per_second{kind="deliveries"} 3.0',
                 'clarion_delivery_latency_seconds{stat="max"} 0.002',
                 'clarion_db_up{process="gauge-test:7"} 1.0',
                 'clarion_redis_rtt_seconds{process="gauge-test:7"} 0.0005',
                 'clarion_process_rss_bytes{process="gauge-test:7"} 1.048576e+06'):
        assert line in text, line
    aggregate.update_gauges(aggregate.aggregate([record(8, host="gauge-test")], every=2.0, now=0.0))
    assert 'process="gauge-test:7"' not in metrics_body()  # a process that left leaves no series


def test_system_checks_refuse_bad_addresses_and_intervals(metrics_settings):
    from clarion.checks import check_health_and_metrics

    with metrics_settings(METRICS_ALLOWED_IPS=["127.0.0.1", "localhost"], HEALTH_INTERVAL=0):
        ids = sorted(error.id for error in check_health_and_metrics(None))
    assert ids == ["clarion.E003", "clarion.E004"]
    assert check_health_and_metrics(None) == []
    assert clarion_settings.HEALTH_INTERVAL == 2.0
