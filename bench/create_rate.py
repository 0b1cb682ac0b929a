"""The create-rate scenario: what a REST create costs the server, with no socket open (issue 11).

Right after the server(s) start, one create is timed on its own (the first request of the
process, which pays for whatever start-up left to build), then ``create_sequential`` more one
after another on the same keep-alive connection (their median is the "later" create). Then
``create_clients`` REST clients, each on its own keep-alive connection (spread round-robin over
the processes), POST personal notifications back to back for ``create_seconds``: creates/s is
the number answered 201 over the wall time, and server CPU per create is the server processes'
user+sys CPU over that phase divided by the creates. The clients run in the driver (core 1),
so with one process the server has core 0 to itself.
"""

import asyncio
import json
import random
import time
from collections import Counter

from bench.proc import cpu_seconds
from bench.restclient import HttpConnection
from bench.scenarios import median, percentile

PATH = "/api/notifications/"


def _body(user_id, i: int) -> bytes:
    return json.dumps({"title": "create-rate", "message": f"create {i}", "recipient_type": "user",
                       "recipient_id": str(user_id), "data": {"i": i}}).encode()


class Creator:
    """One REST client: one keep-alive connection, the admin's token, random recipients."""

    def __init__(self, port: int, token: str, user_ids: list, seed: int):
        self.conn = HttpConnection("127.0.0.1", port)
        self.headers = [("Content-Type", "application/json"), ("Authorization", f"Bearer {token}")]
        self.user_ids = user_ids
        self.rng = random.Random(seed)
        self.count = 0

    async def create(self, timeout: float = 30.0) -> tuple[int, float]:
        """(status, seconds) of one POST."""
        self.count += 1
        body = _body(self.rng.choice(self.user_ids), self.count)
        started = time.perf_counter()
        status, _ = await asyncio.wait_for(self.conn.request("POST", PATH, self.headers, body), timeout)
        return status, time.perf_counter() - started

    def close(self):
        self.conn.close()


async def first_and_later(port: int, token: str, user_ids: list, sequential: int, seed: int) -> dict:
    """The first create a fresh process answers, then ``sequential`` more one after another."""
    creator = Creator(port, token, user_ids, seed)
    try:
        await creator.conn._open()  # connection set-up is not the create's
        status, first = await creator.create(timeout=120.0)
        later, errors = [], Counter()
        if status != 201:
            errors[f"HTTP {status}"] += 1
        for _ in range(sequential):
            status, took = await creator.create()
            if status == 201:
                later.append(took)
            else:
                errors[f"HTTP {status}"] += 1
    finally:
        creator.close()
    later_median = median(later)
    return {"port": port, "first_s": first, "later_median_s": later_median,
            "first_vs_later": first / later_median if later_median else None, "errors": dict(errors)}


async def sustained(ports: list[int], token: str, user_ids: list, clients: int, seconds: float,
                    server_ps: list, seed: int) -> dict:
    """``clients`` clients POST back to back for ``seconds``; creates/s and server CPU per create."""
    creators = [Creator(ports[i % len(ports)], token, user_ids, seed + i) for i in range(clients)]
    latencies, errors = [], Counter()

    async def loop(creator, deadline):
        while time.monotonic() < deadline:
            try:
                status, took = await creator.create()
            except Exception as exc:  # counted, and the client goes on
                errors[type(exc).__name__] += 1
                continue
            if status == 201:
                latencies.append(took)
            else:
                errors[f"HTTP {status}"] += 1

    try:
        for creator in creators:
            await creator.conn._open()
        cpu0 = cpu_seconds(server_ps)
        started = time.monotonic()
        await asyncio.gather(*(loop(c, started + seconds) for c in creators))
        wall = time.monotonic() - started
        cpu1 = cpu_seconds(server_ps)
    finally:
        for creator in creators:
            creator.close()
    created = len(latencies)
    cpu = cpu1 - cpu0
    return {"clients": clients, "procs": len(ports), "created": created, "wall_s": wall,
            "creates_per_s": created / wall if wall > 0 else None, "server_cpu_s": cpu,
            "server_cpu_ms_per_create": cpu / created * 1000 if created else None,
            "p50_s": percentile(latencies, 0.5), "p99_s": percentile(latencies, 0.99), "errors": dict(errors)}


def admin_and_users(stack) -> tuple[str, list]:
    """The admin's token and every user id the stack's users file holds."""
    with open(stack.users_file) as fh:
        users = json.load(fh)
    return users["admin"]["token"], [u["id"] for u in users["users"]]


async def on_fresh_stack(stack, procs: int, row: dict, measure, line) -> dict:
    """Start ``stack`` with ``procs`` processes and no socket open, await ``measure(server
    processes)`` (it fills ``row``), stop the stack; a failure becomes ``row["error"]``. Shared
    by the scenarios that measure REST writes on a fresh server (create-rate, bulk)."""
    try:
        await stack.start(0, procs)
        await measure([child.ps for child in stack.servers])
    except Exception as exc:
        row["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        try:
            await stack.stop()
        except Exception as exc:
            row.setdefault("error", f"stopping: {exc}")
    row["duration_s"] = time.time() - row["started"]
    print(f"   {line(row)}", flush=True)
    return row


async def run(ctx, stack, procs: int) -> dict:
    """Start ``stack`` with ``procs`` processes and no socket open, measure, stop it."""
    p = ctx.params
    row = {"stack": stack.name, "procs": procs, "started": time.time()}
    ctx.tag = f"{stack.name}-create-rate-p{procs}"
    print(f"== {stack.name} create-rate procs={procs}", flush=True)
    token, user_ids = admin_and_users(stack)

    async def measure(server_ps):
        row["first"] = [await first_and_later(port, token, user_ids, p.create_sequential, p.seed)
                        for port in stack.ports]
        row["sustained"] = await sustained(stack.ports, token, user_ids, p.create_clients, p.create_seconds,
                                           server_ps, p.seed)

    return await on_fresh_stack(stack, procs, row, measure, one_line)


def one_line(row: dict) -> str:
    if row.get("error"):
        return "ERROR " + row["error"]
    s = row["sustained"]
    firsts = ", ".join(f"{f['first_s'] * 1000:.0f} ms (x{f['first_vs_later'] or 0:.0f})" for f in row["first"])
    return (f"{s['creates_per_s']:.0f} creates/s with {s['clients']} clients, "
            f"{s['server_cpu_ms_per_create'] or 0:.2f} ms server CPU/create, p50 {(s['p50_s'] or 0) * 1000:.1f} ms; "
            f"first create {firsts}" + (f"; errors {s['errors']}" if s["errors"] else ""))
