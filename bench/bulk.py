"""The bulk scenario: personal notifications through ``POST /api/notifications/bulk/`` (issue 11).

Two measurements, both over one keep-alive connection per REST client, the clients in the driver
(core 1):

* ``rate``: one server process, no socket open. One request of ``bulk_size`` entries is timed on
  its own (the first a fresh process answers), then ``bulk_requests`` requests one after another
  from one client, then as many again from ``bulk_clients`` clients at once. Each entry goes to
  another user (there are at least ``bulk_size`` users). rows/s answered = entries answered 201 /
  time to the last answer; rows/s settled = the same rows / time until the server went quiet
  (the rows are sequenced and pushed after their commit, so the server works on after it has
  answered); server CPU per row = the server's user+sys CPU until quiet / rows.
* ``deliver``: inside a per-N run, with N clients connected through the load generator: every
  connected user gets one notification, in requests of N/10 entries (at most ``bulk_size``) sent
  back to back, each awaited. An entry's ``data`` carries the load generator's marker (phase,
  seq = entry number, ``t`` = the clock just before its request was sent), so the existing
  per-phase summaries give each delivery's latency from its own request, and
  ``last delivery`` = the latest (request time + latency) - the first request's time.
"""

import asyncio
import math
import time
from collections import Counter

import orjson

from bench.create_rate import admin_and_users, on_fresh_stack
from bench.frames import MESSAGE, TITLE, marker
from bench.proc import cpu_seconds
from bench.restclient import HttpConnection
from bench.scenarios import median, percentile

PATH = "/api/notifications/bulk/"
PHASE = "bulk"


def entries(user_ids: list, ph: str, seq0: int, t: float) -> list[dict]:
    """One personal notification per user, shaped like the other scenarios' (same frame size)."""
    return [{"title": TITLE, "message": MESSAGE, "recipient_type": "user", "recipient_id": str(uid),
             "data": marker(ph, seq0 + i, t)} for i, uid in enumerate(user_ids)]


class BulkClient:
    """One REST client on one keep-alive connection, with the admin's token."""

    def __init__(self, port: int, token: str):
        self.conn = HttpConnection("127.0.0.1", port)
        self.headers = [("Content-Type", "application/json"), ("Authorization", f"Bearer {token}")]

    async def open(self):
        await self.conn._open()  # connection set-up is not the request's

    async def post(self, user_ids: list, ph: str, seq0: int, timeout: float = 120.0) -> tuple[int, int, float, float]:
        """(status, ids created, t the entries carry, seconds). ``t`` is read before the body is
        built, so serialising 1,000 entries counts in the latency, as it would for a user."""
        t = time.time()
        started = time.perf_counter()
        body = orjson.dumps({"notifications": entries(user_ids, ph, seq0, t)})
        status, text = await asyncio.wait_for(self.conn.request("POST", PATH, self.headers, body), timeout)
        took = time.perf_counter() - started
        created = len(orjson.loads(text).get("ids", [])) if status == 201 else 0
        return status, created, t, took

    def close(self):
        self.conn.close()


async def _settled(server_ps: list, quiet: float = 0.015, every: float = 0.1,
                   limit: float = 60.0) -> tuple[float, float]:
    """(server CPU, monotonic time) once the server has gone quiet, i.e. used less than ``quiet``
    CPU seconds in ``every`` seconds (psutil counts in 10 ms ticks). The rows are sequenced and
    pushed after their commit, after the answer, and that work belongs to them too."""
    last, last_t = cpu_seconds(server_ps), time.monotonic()
    deadline = last_t + limit
    while last_t < deadline:
        await asyncio.sleep(every)
        now, now_t = cpu_seconds(server_ps), time.monotonic()
        if now - last < quiet:
            return now, last_t  # the work ended within the last interval: count it ended at its start
        last, last_t = now, now_t
    return last, last_t


def _chunks(seq: list, size: int) -> list[list]:
    return [seq[i:i + size] for i in range(0, len(seq), size)]


# -- rate: no socket open ---------------------------------------------------------------------

async def _phase(port: int, token: str, batches: list[list], clients: int, server_ps: list) -> dict:
    """``batches`` posted by ``clients`` clients at once, each taking the next batch when free."""
    posters = [BulkClient(port, token) for _ in range(clients)]
    todo = list(enumerate(batches))
    latencies, errors, rows = [], Counter(), 0

    async def loop(client):
        nonlocal rows
        while todo:
            k, batch = todo.pop(0)
            try:
                status, created, _, took = await client.post(batch, "bulk-rate", k * len(batch) + 1)
            except Exception as exc:  # counted, and the client goes on
                errors[type(exc).__name__] += 1
                continue
            if status == 201:
                rows += created
                latencies.append(took)
            else:
                errors[f"HTTP {status}"] += 1

    try:
        for client in posters:
            await client.open()
        cpu0 = cpu_seconds(server_ps)
        started = time.monotonic()
        await asyncio.gather(*(loop(c) for c in posters))
        answered = time.monotonic()
        cpu1, quiet_at = await _settled(server_ps)
        cpu = cpu1 - cpu0
        wall, settled = answered - started, max(quiet_at, answered) - started
    finally:
        for client in posters:
            client.close()
    return {"clients": clients, "requests": len(batches), "ok": len(latencies), "rows": rows, "wall_s": wall,
            "rows_per_s": rows / wall if wall > 0 else None, "settled_s": settled,
            "rows_per_s_settled": rows / settled if settled > 0 else None, "server_cpu_s": cpu,
            "server_cpu_us_per_row": cpu / rows * 1e6 if rows else None,
            "p50_s": percentile(latencies, 0.5), "max_s": max(latencies) if latencies else None,
            "errors": dict(errors)}


async def rate(ctx, stack) -> dict:
    """Start ``stack`` (one process, no socket), measure the bulk create rate, stop it."""
    p = ctx.params
    row = {"stack": stack.name, "procs": 1, "size": p.bulk_size, "started": time.time()}
    ctx.tag = f"{stack.name}-bulk-rate"
    print(f"== {stack.name} bulk rate", flush=True)
    token, user_ids = admin_and_users(stack)
    if len(user_ids) < p.bulk_size:
        row["error"] = f"{len(user_ids)} users, {p.bulk_size} needed for distinct recipients"
        return row
    batch = user_ids[:p.bulk_size]

    async def measure(server_ps):
        port = stack.ports[0]
        first = await _phase(port, token, [batch], 1, server_ps)  # the first a fresh process answers
        row["first_s"] = first["p50_s"]
        row["first_errors"] = first["errors"]
        row["sequential"] = await _phase(port, token, [batch] * p.bulk_requests, 1, server_ps)
        row["concurrent"] = await _phase(port, token, [batch] * p.bulk_requests, p.bulk_clients, server_ps)

    return await on_fresh_stack(stack, 1, row, measure, rate_line)


def rate_line(row: dict) -> str:
    if row.get("error"):
        return "ERROR " + row["error"]
    parts = []
    for key in ("sequential", "concurrent"):
        s = row[key]
        parts.append(f"{s['clients']} client(s): {s['rows_per_s'] or 0:.0f} rows/s answered, "
                     f"{s['rows_per_s_settled'] or 0:.0f} rows/s until the server was quiet, "
                     f"{s['server_cpu_us_per_row'] or 0:.0f} us server CPU/row, p50 {(s['p50_s'] or 0) * 1000:.0f} ms"
                     + (f", errors {s['errors']}" if s["errors"] else ""))
    return "; ".join(parts) + f"; first request {(row.get('first_s') or 0) * 1000:.0f} ms"


# -- deliver: N clients connected --------------------------------------------------------------

async def deliver(s, stall: float = 8.0, limit: float = 120.0) -> dict:
    """One notification per connected user, in requests of N/10, sent back to back."""
    import json

    p = s.p
    with open(s.stack.users_file) as fh:
        users = json.load(fh)
    token, user_ids = users["admin"]["token"], [u["id"] for u in users["users"]][:s.n]
    size = min(p.bulk_size, max(1, math.ceil(len(user_ids) / p.bulk_delivery_requests)))
    batches = _chunks(user_ids, size)
    open_now = (await s.stats(PHASE, 0))["open"]
    client = BulkClient(s.stack.ports[0], token)
    sent, errors, took = [], Counter(), []  # sent: (seq0, count, t) per request answered 201
    await client.open()
    cpu0 = s.cpu()
    loop_started = time.time()
    try:
        seq0 = 1
        for batch in batches:
            try:
                status, created, t, secs = await client.post(batch, PHASE, seq0)
            except Exception as exc:
                errors[f"{type(exc).__name__}: {str(exc)[:80]}"] += 1
            else:
                if status == 201:
                    sent.append((seq0, created, t))
                    took.append(secs)
                else:
                    errors[f"HTTP {status}"] += 1
            seq0 += len(batch)
    finally:
        client.close()
    loop_s = time.time() - loop_started
    expected = sum(count for _, count, _ in sent)
    # Poll one seq only (0, never sent): the full summary of 10,000 seqs is fetched once, at the end.
    started = last_change = time.monotonic()
    last_total = -1
    while True:
        total = (await s.stats(PHASE, 0))["total"]
        now = time.monotonic()
        if total != last_total:
            last_total, last_change = total, now
        if total >= expected or now - last_change > stall or now - started > limit:
            break
        await asyncio.sleep(0.05)
    cpu1 = s.cpu()
    st = await s.stats(PHASE)
    latencies, last_at, received, duplicates = [], [], 0, 0
    for seq_start, count, t in sent:
        for seq in range(seq_start, seq_start + count):
            rec = st["msgs"].get(seq)
            if not rec or not rec[0]:
                continue
            received += rec[0]
            duplicates += rec[0] - 1
            latencies.append(rec[1])
            last_at.append(t + rec[2])
    first_t = sent[0][2] if sent else None
    server_cpu = cpu1["server"] - cpu0["server"]
    redis_cpu = cpu1["redis"] - cpu0["redis"]
    return {"n_open": open_now, "requests": len(batches), "size": size, "answered": len(sent),
            "expected": expected, "received": received, "lost": expected - (received - duplicates),
            "duplicates": duplicates, "order_errors": st["order"],
            "publish_loop_s": loop_s, "request_p50_s": median(took), "request_max_s": max(took) if took else None,
            "last_delivery_s": max(last_at) - first_t if last_at else None,
            "latency_p50_s": percentile(latencies, 0.5), "latency_p99_s": percentile(latencies, 0.99),
            "server_cpu_s": server_cpu, "redis_cpu_s": redis_cpu,
            "server_cpu_us_per_row": server_cpu / expected * 1e6 if expected else None,
            "publish_errors": dict(errors)}
