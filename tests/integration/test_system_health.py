"""/ws/system-health/ and /metrics against real `clarion serve` processes, over real sockets.

The servers of this module are its own (not the session's), started with a short health
interval so that snapshots come quickly, and with a metrics token; the scale-out tests add
processes on the same PostgreSQL and Redis and kill one with SIGKILL.
"""

import asyncio
import json
import signal
import time
import urllib.error
import urllib.request

import pytest

from tests.integration.harness import SCALEOUT, ServerProcess, close_code, next_frame, prepare_backend

pytestmark = pytest.mark.integration

INTERVAL = 0.5
EXPIRY_BOUND = 4 * INTERVAL  # TTL (3 intervals) + one interval until the next snapshot
METRICS_TOKEN = "metrics-token-for-tests"

SNAPSHOT_FIELDS = {
    "at", "interval", "expiry", "partial", "process_count", "connections", "connections_total", "rates",
    "delivery_latency", "database", "redis", "warnings_last_minute", "errors_last_minute", "parked_rows",
    "processes",
}
PROCESS_FIELDS = {
    "id", "host", "pid", "started_at", "reported_at", "connections", "rates", "delivery_latency", "database",
    "redis", "cpu_percent", "rss_bytes", "warnings_last_minute", "errors_last_minute", "parked_rows",
}


@pytest.fixture(scope="module")
def health_env(tmp_path_factory):
    # A backend of its own (data directory, PostgreSQL database): these tests kill servers.
    backend = prepare_backend(tmp_path_factory.mktemp("health-data"), database_name="clarion_health_it")
    return {**backend, "CLARION_HEALTH_INTERVAL": str(INTERVAL), "CLARION_METRICS_TOKEN": METRICS_TOKEN}


@pytest.fixture(scope="module")
def health_server(health_env, tmp_path_factory):
    process = ServerProcess(health_env, tmp_path_factory.mktemp("logs") / "health-a.log").start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def health_tokens(health_server):
    return {name: health_server.token(name) for name in ("alice", "bob", "carol", "dave")}


async def snapshot_where(ws, predicate, timeout: float = 10.0) -> dict:
    """The first health snapshot on ``ws`` for which ``predicate(data)`` holds."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        frame = await next_frame(ws, timeout=max(0.1, deadline - time.monotonic()))
        if frame["type"] != "health":
            continue
        last = frame["data"]
        if predicate(last):
            return last
    raise AssertionError(f"no matching health snapshot within {timeout}s; last: {json.dumps(last)[:2000]}")


def process_of(data: dict, server: ServerProcess) -> dict | None:
    return next((p for p in data["processes"] if p["pid"] == server.process.pid), None)


def get_metrics(server: ServerProcess, token: str | None = None):
    request = urllib.request.Request(server.url + "/metrics")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


# -- both backends -------------------------------------------------------------------------


async def test_admin_gets_health_snapshots_with_the_documented_fields(health_server, health_tokens):
    async with health_server.socket(health_tokens["dave"], path="/ws/system-health/") as ws, \
            health_server.socket(health_tokens["alice"]) as alice:
        first = await next_frame(ws, timeout=5)
        assert first["type"] == "health"  # sent at once: the server had one from its boot
        assert set(first["data"]) == SNAPSHOT_FIELDS
        assert first["data"]["interval"] == INTERVAL and first["data"]["expiry"] == 3 * INTERVAL
        await next_frame(alice)

        def measured(data):
            own = process_of(data, health_server)
            return (own is not None and own["connections"].get("notifications") == 1
                    and own["connections"].get("system_health") == 1 and own["delivery_latency"] is not None
                    and own["database"]["status"] == "up")

        data = await snapshot_where(ws, measured)
        own = process_of(data, health_server)
        assert set(own) == PROCESS_FIELDS
        assert 0 <= own["delivery_latency"] < 1 and 0 <= own["database"]["rtt"] < 1
        assert own["rss_bytes"] > 10 * 2**20 and own["cpu_percent"] >= 0
        assert set(own["rates"]) == {"frames_in", "frames_out", "deliveries"}
        if SCALEOUT:
            assert own["redis"]["status"] == "up" and 0 <= own["redis"]["rtt"] < 1
        else:
            assert own["redis"] == {"status": "not used", "rtt": None}
            assert data["redis"]["status"] == "not used" and data["process_count"] == 1
        assert data["connections_total"] == sum(data["connections"].values())
        assert data["database"]["status"] == "up" and data["partial"] is False

        # A snapshot every interval, and the socket still answers pings.
        started = time.monotonic()
        for _ in range(3):
            assert (await next_frame(ws, timeout=3 * INTERVAL))["type"] == "health"
        assert time.monotonic() - started < 5 * INTERVAL
        await ws.send(json.dumps({"type": "ping"}))
        await snapshot_or(ws, "pong")


async def snapshot_or(ws, frame_type: str) -> dict:
    for _ in range(10):
        frame = await next_frame(ws, timeout=3)
        if frame["type"] == frame_type:
            return frame
    raise AssertionError(f"no {frame_type} frame")


async def test_frames_in_and_out_show_up_as_rates(health_server, health_tokens):
    async with health_server.socket(health_tokens["dave"], path="/ws/system-health/") as ws, \
            health_server.socket(health_tokens["bob"]) as bob:
        await next_frame(bob)
        for _ in range(20):
            await bob.send(json.dumps({"type": "ping"}))
            await next_frame(bob)
        data = await snapshot_where(ws, lambda d: (process_of(d, health_server) or {}).get("rates", {})
                                    .get("frames_in", 0) > 0)
        assert process_of(data, health_server)["rates"]["frames_out"] > 0


async def test_students_and_advisors_get_4403_and_bad_tokens_4401(health_server, health_tokens):
    for name in ("alice", "carol"):
        async with health_server.socket(health_tokens[name], path="/ws/system-health/") as ws:
            assert await close_code(ws) == 4403, name
    async with health_server.socket("not-a-token", path="/ws/system-health/") as ws:
        assert await close_code(ws) == 4401
    async with health_server.socket(None, path="/ws/system-health/") as ws:
        assert await close_code(ws) == 4401


async def test_metrics_needs_the_token_and_serves_the_cluster_gauges(health_server, health_tokens):
    status, body = get_metrics(health_server)
    assert status == 401 and "Bearer" in body
    assert get_metrics(health_server, "wrong")[0] == 401
    async with health_server.socket(health_tokens["alice"]) as alice:
        await next_frame(alice)
        deadline = time.monotonic() + 10
        while True:
            status, body = get_metrics(health_server, METRICS_TOKEN)
            assert status == 200
            if 'clarion_cluster_connections{endpoint="notifications"} 1.0' in body or time.monotonic() > deadline:
                break
            await asyncio.sleep(INTERVAL / 2)
    pid = health_server.process.pid
    for expected in ('clarion_cluster_connections{endpoint="notifications"} 1.0',
                     "clarion_cluster_processes ",
                     'clarion_cluster_messages_per_second{kind="frames_in"}',
                     'clarion_delivery_latency_seconds{stat="max"}',
                     f':{pid}"}} 1.0'):  # clarion_db_up{process="<host>:<pid>"} 1.0
        assert expected in body, expected
    assert ("clarion_redis_up{" in body) == SCALEOUT


# -- scale-out: several processes ----------------------------------------------------------


@pytest.fixture(scope="module")
def health_server_b(health_env, tmp_path_factory):
    process = ServerProcess(health_env, tmp_path_factory.mktemp("logs") / "health-b.log").start()
    yield process
    process.stop()


@pytest.mark.scaleout
async def test_snapshot_counts_connections_on_both_processes(health_server, health_server_b, health_tokens):
    a, b = health_server, health_server_b
    async with a.socket(health_tokens["dave"], path="/ws/system-health/") as watch_a, \
            b.socket(health_tokens["dave"], path="/ws/system-health/") as watch_b, \
            a.socket(health_tokens["alice"]) as alice_a, a.socket(health_tokens["bob"]) as bob_a, \
            b.socket(health_tokens["carol"]) as carol_b:
        for ws in (alice_a, bob_a, carol_b):
            await next_frame(ws)

        def both_counted(data):
            on_a, on_b = process_of(data, a), process_of(data, b)
            return (on_a is not None and on_b is not None
                    and on_a["connections"].get("notifications") == 2 and on_a["connections"].get("system_health") == 1
                    and on_b["connections"].get("notifications") == 1 and on_b["connections"].get("system_health") == 1
                    # null until the first probe came back (a new process subscribes asynchronously)
                    and on_a["delivery_latency"] is not None and on_b["delivery_latency"] is not None)

        for watch in (watch_a, watch_b):  # each process pushes the same cluster-wide view
            data = await snapshot_where(watch, both_counted)
            assert data["process_count"] == len(data["processes"]) >= 2
            assert data["connections"]["notifications"] == sum(
                p["connections"].get("notifications", 0) for p in data["processes"]) >= 3
            assert data["connections"]["system_health"] >= 2
            assert data["redis"]["status"] == "up" and data["database"]["status"] == "up"
            assert all(0 <= p["delivery_latency"] < 1 for p in (process_of(data, a), process_of(data, b)))


@pytest.mark.scaleout
async def test_a_killed_process_drops_out_of_the_snapshot_within_the_bound(health_server, health_env, health_tokens,
                                                                           tmp_path):
    doomed = ServerProcess(health_env, tmp_path / "health-doomed.log").start()
    try:
        async with health_server.socket(health_tokens["dave"], path="/ws/system-health/") as watch:
            await snapshot_where(watch, lambda d: process_of(d, doomed) is not None)
            doomed.stop(sig=signal.SIGKILL)
            killed_at = time.monotonic()
            await snapshot_where(watch, lambda d: process_of(d, doomed) is None, timeout=EXPIRY_BOUND + 5)
            gone_after = time.monotonic() - killed_at
    finally:
        doomed.stop()
    print(f"\nkilled process left the snapshot after {gone_after:.2f}s (bound {EXPIRY_BOUND:.2f}s)")
    # The bound, plus scheduling slack for a loaded test machine.
    assert gone_after <= EXPIRY_BOUND + 1.0


@pytest.mark.scaleout
async def test_a_stopped_process_leaves_at_once(health_server, health_env, health_tokens, tmp_path):
    leaving = ServerProcess(health_env, tmp_path / "health-leaving.log").start()
    try:
        async with health_server.socket(health_tokens["dave"], path="/ws/system-health/") as watch:
            await snapshot_where(watch, lambda d: process_of(d, leaving) is not None)
            pid = leaving.process.pid
            leaving.stop()  # SIGTERM: graceful shutdown withdraws the record
            stopped_at = time.monotonic()
            await snapshot_where(watch, lambda d: all(p["pid"] != pid for p in d["processes"]),
                                 timeout=EXPIRY_BOUND + 5)
            assert time.monotonic() - stopped_at <= 2 * INTERVAL + 1.0
    finally:
        leaving.stop()
