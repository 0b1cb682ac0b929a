"""python -m bench.reconnect_storm [--clients N] [--quick]: a reconnect storm against Clarion.

N sockets held by the real Python client (``clarion.client.Client``: exponential backoff, resume
by cursor, dedupe by id) are connected to an embedded ``clarion serve`` (SQLite, in-process
layer; set up like bench/stacks.py ClarionStack: users and tokens minted by
bench/peers/clarion_users.py). Then the server is restarted:

1. every client is connected and has its snapshot; the workers are "armed" (storm fields reset);
2. SIGTERM: uvicorn closes every socket with 1012 and the process exits (bounded; SIGKILL after);
3. while it is down, M notifications to everyone are created with ``clarion send --all`` (4 at a
   time; they write to the database only: a CLI cannot reach the in-process layer, so the
   restarted server's outbox relay sequences and pushes them);
4. ``--down`` seconds after the exit (later if the sends took longer) the server is started again
   on the same port, pinned to core 0; t0 = the moment its port accepts a TCP connection
   (probed every 10 ms);
5. per client: *reconnected* = its first snapshot (``recent_notifications``, ``resumed: true``)
   after the restart; *resynced* = that snapshot and all M missed notifications received. Times
   are from t0. *lost* = expected ids never received; *duplicates shown* = a notification the
   client's ``events()`` yielded twice (must be 0); *wire duplicates* = second deliveries the
   client's own dedupe dropped (counted from its debug log record).

Both modes run in one invocation, each on a fresh server from the same database copy, with fresh
clients: ``jitter`` = the client's default ``Backoff()`` (full jitter: a uniform draw in
[0, min(cap, base * 2**n)]), ``nojitter`` = the same backoff that always waits the bound
(``NoJitterBackoff`` below: ``Backoff`` has no switch for it, but ``Client(backoff=...)`` takes
any object with its interface, so nothing in src/clarion/client changes). Both use base 0.5 s,
cap 30 s, the default heartbeat (20 s ping, 10 s timeout) and open timeout (10 s).

Modes alternate across ``--repeats`` (on, off, off, on, ...) so that drift in a shared box's load
hits both; the summary gives per-mode medians and off/on ratios. Also recorded: failed attempts
(while down / after t0, by reason), connection attempts started per second (each Disconnected's
time + its ``reconnect_in``), server and load CPU, and each worker's event-loop stalls (a late
50 ms timer): a stalled worker means the load generator, not the server, is in the figures.

Pinning as in bench/proc.py: the server on core 0; the load workers (``--workers``, N/k sockets
each, each process with its own fd limit), this driver and the probe on core 1. The CLI sends run
unpinned (the server core is idle then). Every wait is bounded, every child is stopped by pid
(also on Ctrl+C), and the result goes to bench/results/reconnect-storm-<date>.json.

    .venv/bin/python -m bench.reconnect_storm --quick            # 400 clients, M = 5 (about 1 min)
    .venv/bin/python -m bench.reconnect_storm                    # 10,000 clients, M = 20, 2 runs per mode
    .venv/bin/python -m bench.reconnect_storm --clients 8000 --repeats 1
    .venv/bin/python -m bench.reconnect_storm --report FILE      # the tables of a result file again
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import logging
import math
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
MODES = ("jitter", "nojitter")
MODE_TEXT = {
    "jitter": "Backoff() as shipped: full jitter, uniform in [0, min(30, 0.5 * 2**n)] s",
    "nojitter": "NoJitterBackoff: always min(30, 0.5 * 2**n) s (the bound, no draw)",
}
PERCENTS = (50, 90, 99, 100)


# ---------------------------------------------------------------------------------------------
# The load worker: N/k real clients in one process, driven over JSON lines on stdin/stdout.
# ---------------------------------------------------------------------------------------------


def _backoff_classes():
    from clarion.client import Backoff

    class NoJitterBackoff(Backoff):
        """Backoff without jitter: always wait the bound (min(cap, base * 2**failures))."""

        def delay(self):
            if self.max_attempts is not None and self.failures >= self.max_attempts:
                return None
            return self.bound()

    return Backoff, NoJitterBackoff


class _DupCounter(logging.Handler):
    """Counts the client's log records by message: "dropping a second delivery of notification"
    is the client's dedupe at work (a duplicate on the wire that it did not show)."""

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.counts: Counter = Counter()

    def emit(self, record):
        self.counts[str(record.msg)[:60]] += 1


def _reason(event) -> str:
    if event.code is None:
        return event.reason or "connection lost"
    return f"closed {event.code}"


class Tracked:
    __slots__ = (
        "app_dups",
        "client",
        "close_code",
        "close_t",
        "conn_t",
        "connect_fails",
        "errors",
        "fails",
        "got",
        "idx",
        "missing",
        "ready_t",
        "released",
        "resumed",
        "resync_t",
        "snap_t",
        "stopped",
        "task",
    )

    def __init__(self, idx: int, client):
        self.idx = idx
        self.client = client
        self.ready_t = None  # first snapshot at the initial connect
        self.connect_fails = 0
        self.released = False
        self.task = None
        self.stopped = None
        self.reset()

    def reset(self):
        self.close_t = None  # the first Disconnected after arming (the 1012)
        self.close_code = None
        self.conn_t = None  # the handshake of the connection that delivered the first snapshot
        self.snap_t = None  # first snapshot after arming: reconnected
        self.resumed = None
        self.got: dict[int, float] = {}
        self.missing = None  # expected ids not received yet (None until the driver sends them)
        self.resync_t = None
        self.app_dups = 0
        self.fails: list[tuple[float, str]] = []  # every later Disconnected: failed attempts, drops
        self.errors: Counter = Counter()


class Worker:
    def __init__(self):
        self.clients: list[Tracked] = []
        self.armed = False
        self.expected: set[int] = set()
        self.sem: asyncio.Semaphore | None = None
        self.attempt_starts: list[float] = []
        self.lags: list[float] = []  # this process's event-loop lag samples since arming
        self.big_lags: list[tuple[float, float]] = []
        self.dups = _DupCounter()
        log = logging.getLogger("clarion.client")
        log.setLevel(logging.DEBUG)
        log.addHandler(self.dups)
        warn = logging.StreamHandler(sys.stderr)
        warn.setLevel(logging.WARNING)
        log.addHandler(warn)
        log.propagate = False

    def start(self, cmd: dict) -> dict:
        from clarion.client import Client

        Backoff, NoJitterBackoff = _backoff_classes()
        cls = Backoff if cmd["jitter"] else NoJitterBackoff
        for k, token in enumerate(cmd["tokens"]):
            idx = cmd["first"] + k
            rng = random.Random(cmd["seed"] * 1_000_003 + idx)  # reproducible draws per client
            client = Client(cmd["url"], token=token, backoff=cls(base=cmd["base"], cap=cmd["cap"], rng=rng))
            self.clients.append(Tracked(idx, client))
        self.sem = asyncio.Semaphore(cmd["in_flight"])
        asyncio.get_running_loop().create_task(self._ramp())
        return {"ok": True, "clients": len(self.clients), "backoff": cls.__name__}

    async def _ramp(self):
        # At most in_flight initial connects at a time (as bench/loadgen.py): the initial connect
        # is set-up, not the storm. Each slot is freed by the first snapshot or the first failure.
        for st in self.clients:
            await self.sem.acquire()
            st.task = asyncio.get_running_loop().create_task(self._consume(st))

    def _release(self, st: Tracked):
        if not st.released:
            st.released = True
            self.sem.release()

    async def _consume(self, st: Tracked):
        from clarion.client import (
            ClientError,
            Connected,
            Disconnected,
            Notification,
            RecentNotifications,
            ServerError,
        )

        try:
            async for ev in st.client.events():
                now = time.time()
                if isinstance(ev, Notification):
                    if self.armed:
                        self._got(st, ev.id, now)
                elif isinstance(ev, RecentNotifications):
                    if st.ready_t is None:
                        st.ready_t = now
                        self._release(st)
                    if self.armed and st.snap_t is None:
                        st.snap_t = now
                        st.resumed = bool(ev.resumed)
                        for n in ev.notifications:  # only a fresh snapshot carries any
                            self._got(st, n.id, now)
                        self._check(st, now)
                elif isinstance(ev, Disconnected):
                    if st.ready_t is None:
                        st.connect_fails += 1
                        self._release(st)
                    if self.armed:
                        # When the client will try next: the attempts the server sees, per second.
                        self.attempt_starts.append(now + ev.reconnect_in)
                        if st.close_t is None:
                            st.close_t, st.close_code = now, ev.code
                        else:
                            st.fails.append((now, _reason(ev)))
                elif isinstance(ev, Connected):
                    if self.armed and st.snap_t is None:
                        st.conn_t = now
                elif isinstance(ev, ServerError):
                    st.errors[str(ev.code)] += 1
        except ClientError as error:
            st.stopped = str(error)[:200]
        except Exception as error:  # noqa: BLE001 - one client's bug must not hang the run
            st.stopped = f"{type(error).__name__}: {error}"[:200]
        finally:
            self._release(st)

    def _got(self, st: Tracked, nid: int, now: float):
        if nid in st.got:
            st.app_dups += 1  # shown twice by events(): the client's dedupe failed
            return
        st.got[nid] = now
        if st.missing is not None and nid in self.expected:
            st.missing -= 1
            self._check(st, now)

    def _check(self, st: Tracked, now: float):
        if st.resync_t is None and st.missing == 0 and st.snap_t is not None:
            st.resync_t = now

    def status(self) -> dict:
        c = self.clients
        return {"n": len(c), "ready": sum(1 for s in c if s.ready_t is not None),
                "connect_fails": sum(s.connect_fails for s in c),
                "closed": sum(1 for s in c if s.close_t is not None),
                "reconnected": sum(1 for s in c if s.snap_t is not None),
                "resynced": sum(1 for s in c if s.resync_t is not None),
                "stopped": sum(1 for s in c if s.stopped),
                "fails": sum(len(s.fails) for s in c)}

    def arm(self) -> dict:
        for st in self.clients:
            st.reset()
        self.expected = set()
        self.armed = True
        self.dups.counts.clear()
        self.attempt_starts = []
        self.lags = []
        self.big_lags = []
        return self.status()

    def expect(self, ids: list[int]) -> dict:
        self.expected = set(ids)
        now = time.time()
        for st in self.clients:
            st.missing = len(self.expected - st.got.keys())
            self._check(st, now)
        return self.status()

    async def watch_lag(self, every: float = 0.05):
        # A late timer means this process was too busy to read its sockets on time: then the
        # load generator, not the server, would be what the figures measure.
        while True:
            t = time.monotonic()
            await asyncio.sleep(every)
            if self.armed:
                lag = time.monotonic() - t - every
                self.lags.append(lag)
                if lag > 0.25:
                    self.big_lags.append((time.time() - lag, lag))  # when the stall began, how long

    def results(self, t_listen: float) -> dict:
        before, after = Counter(), Counter()
        per = []
        stopped = Counter()
        errors = Counter()
        for st in self.clients:
            fb = fa = 0
            for t, why in st.fails:
                # A refusal means nothing listened: with tcp_abort_on_overflow = 0 a full accept
                # queue drops SYNs instead of refusing. So a refusal the consumer stamped a few ms
                # after t0 (the event waited in the loop) still counts as "while down".
                if t < t_listen or why == "connection refused":
                    before[why] += 1
                    fb += 1
                else:
                    after[why] += 1
                    fa += 1
            lost = len(self.expected - st.got.keys())
            per.append([st.close_t, st.close_code, st.conn_t, st.snap_t, st.resumed, st.resync_t, lost,
                        st.app_dups, fb, fa])
            if st.stopped:
                stopped[st.stopped] += 1
            errors.update(st.errors)
        return {"fields": ["close_t", "close_code", "conn_t", "snap_t", "resumed", "resync_t", "lost", "app_dups",
                           "fails_before_listen", "fails_after_listen"],
                "per_client": per, "fails_before": dict(before), "fails_after": dict(after),
                "stopped": dict(stopped), "server_errors": dict(errors), "client_log": dict(self.dups.counts),
                "attempts_per_s": dict(Counter(math.floor(t - t_listen) for t in self.attempt_starts)),
                "loop_lag": {"max_s": max(self.lags, default=0.0),
                             "p99_s": sorted(self.lags)[int(0.99 * (len(self.lags) - 1))] if self.lags else 0.0,
                             "over_1s": sum(1 for x in self.lags if x > 1.0), "samples": len(self.lags),
                             "stalls": [[round(t - t_listen, 2), round(lag, 2)] for t, lag in self.big_lags]}}


async def worker_main() -> None:
    from bench.loadgen import raise_nofile

    raise_nofile()
    w = Worker()
    loop = asyncio.get_running_loop()
    w.lag_task = loop.create_task(w.watch_lag())  # for the process's life
    reader = asyncio.StreamReader(limit=256 * 1024 * 1024)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    out = sys.stdout
    while True:
        line = await reader.readline()
        if not line:  # the driver went away: stop at once
            os._exit(0)
        cmd = json.loads(line)
        op = cmd["op"]
        try:
            if op == "start":
                reply = w.start(cmd)
            elif op == "status":
                reply = w.status()
            elif op == "arm":
                reply = w.arm()
            elif op == "expect":
                reply = w.expect(cmd["ids"])
            elif op == "results":
                reply = w.results(cmd["t_listen"])
            elif op == "quit":
                reply = {"ok": True}
            else:
                reply = {"error": f"unknown op {op!r}"}
        except Exception as error:  # noqa: BLE001 - reported to the driver as an error reply
            reply = {"error": f"{type(error).__name__}: {error}"}
        out.write(json.dumps(reply) + "\n")
        out.flush()
        if op == "quit":
            # No closing handshakes: the kernel drops the sockets with the process (fast, and
            # the server is torn down next anyway).
            os._exit(0)


def run_worker() -> None:
    try:
        import uvloop

        uvloop.run(worker_main())
    except ImportError:
        asyncio.run(worker_main())


# ---------------------------------------------------------------------------------------------
# The driver
# ---------------------------------------------------------------------------------------------


def at_percent(times: list, n: int, pct: float):
    """Time by which pct % of all n clients had resynced (None: never reached within the run)."""
    done = sorted(t for t in times if t is not None)
    k = max(1, math.ceil(pct / 100 * n))
    return done[k - 1] if k <= len(done) else None


def peak_rate(times: list, width: float = 1.0) -> int:
    """Most events within any window of ``width`` seconds (sliding over the sorted times)."""
    ts = sorted(t for t in times if t is not None)
    best, j = 0, 0
    for i, t in enumerate(ts):
        while ts[j] < t - width:
            j += 1
        best = max(best, i - j + 1)
    return best


def plateau(timeline: list) -> dict | None:
    """The longest stretch between the first and the last resync in which no client resynced,
    with the server CPU spent meanwhile: work for handshakes whose clients had given up."""
    best = None
    start = None
    for i, (t, _rec, res, cpu, _fails) in enumerate(timeline):
        if res == 0:
            continue
        if start is None or res != timeline[start][2]:
            start = i
            continue
        length = t - timeline[start][0]
        if best is None or length > best["s"]:
            best = {"from_s": timeline[start][0], "s": length, "resynced": res,
                    "server_cpu_s": cpu - timeline[start][3]}
    if best is not None and best["resynced"] == timeline[-1][2]:
        return None if best["s"] < 1 else best  # the tail after the last resync
    return best


class Run:
    """One mode: a fresh server, fresh workers, connect, restart, measure."""

    def __init__(self, args, stack, mode: str, rep: int):
        self.args = args
        self.stack = stack
        self.mode = mode
        self.rep = rep
        self.workers = []

    async def call_all(self, msg: dict | list, timeout: float = 60.0) -> list[dict]:
        msgs = msg if isinstance(msg, list) else [msg] * len(self.workers)
        replies = await asyncio.gather(*(w.call(m, timeout) for w, m in zip(self.workers, msgs)))
        for r in replies:
            if "error" in r:
                raise RuntimeError(f"worker: {r['error']}")
        return replies

    async def status(self) -> dict:
        total = Counter()
        for r in await self.call_all({"op": "status"}, timeout=30):
            total.update(r)
        return dict(total)

    async def execute(self) -> dict:
        from bench.proc import (
            LOAD_CORE,
            PYTHON,
            SERVER_CORE,
            Child,
            cpu_seconds,
        )

        a, stack, n = self.args, self.stack, self.args.clients
        row = {"mode": self.mode, "rep": self.rep, "backoff": MODE_TEXT[self.mode], "started": time.time(),
               "loadavg_at_start": os.getloadavg()}
        tag = f"{self.mode}-r{self.rep}"
        stack.ctx.tag = tag
        print(f"== {self.mode} (rep {self.rep}), N = {n}", flush=True)
        await stack.start(n)
        port = stack.ports[0]
        server = stack.servers[0]
        k = a.workers
        shares = [list(range(i * n // k, (i + 1) * n // k)) for i in range(k)]
        self.workers = [Child(f"storm-worker{i}", [PYTHON, "-m", "bench.reconnect_storm", "--worker"],
                              log=stack.ctx.logdir / f"{tag}-worker{i}.log", core=LOAD_CORE, pipes=True)
                        for i in range(k)]
        for w in self.workers:
            await w.start()
        await self.call_all([{"op": "start", "url": f"ws://127.0.0.1:{port}", "first": share[0],
                              "tokens": [stack.tokens[i] for i in share], "jitter": self.mode == "jitter",
                              "base": a.base, "cap": a.cap, "in_flight": a.in_flight, "seed": a.seed}
                             for share in shares])

        # -- initial connect (set-up) --------------------------------------------------------
        t0 = time.time()
        last_change, last_ready, st = t0, -1, {}
        while True:
            await asyncio.sleep(0.5)
            st = await self.status()
            if st["ready"] != last_ready:
                last_ready, last_change = st["ready"], time.time()
            if st["ready"] >= n:
                break
            if time.time() - t0 > a.connect_timeout or time.time() - last_change > 60:
                break
        row["connect"] = {"ready": st["ready"], "wall_s": time.time() - t0, "failed_attempts": st["connect_fails"],
                          "conn_per_s": st["ready"] / max(time.time() - t0, 1e-9)}
        print(f"   connected {st['ready']}/{n} in {row['connect']['wall_s']:.1f} s "
              f"({st['connect_fails']} failed attempts, retried)", flush=True)
        if st["ready"] < n:
            row["error"] = f"only {st['ready']} of {n} clients connected within the limits"
            return row
        await asyncio.sleep(a.settle)
        await self.call_all({"op": "arm"})

        # -- restart -------------------------------------------------------------------------
        loads = [w.ps for w in self.workers]
        t_term = time.time()
        old_cpu = cpu_seconds([server.ps])
        await server.stop(grace=a.shutdown_timeout)  # SIGTERM; SIGKILL after the grace
        t_exit = time.time()
        row["old_server_exit"] = server.proc.returncode
        row["old_server_log"] = [line for line in server.log_tail(200, _interesting)][-20:]
        ids, t_sends = await self.create_notifications(a.missed)
        await self.call_all({"op": "expect", "ids": ids})
        wait = t_exit + a.down - time.time()
        if wait > 0:
            await asyncio.sleep(wait)
        new = Child("clarion-server-restarted", stack.server_argv(port), env=stack.server_env(),
                    log=stack.ctx.logdir / f"{tag}-server-restarted.log", core=SERVER_CORE)
        t_spawn = time.time()
        await new.start()
        stack.servers = [new]  # stack.stop() stops this one
        t_listen = await probe_listen(port, new, timeout=90)
        cpu0 = cpu_seconds([new.ps])
        load0 = cpu_seconds(loads)
        closed = await self.status()
        row["restart"] = {"shutdown_s": t_exit - t_term, "sends_s": t_sends, "down_target_s": a.down,
                          "exit_to_spawn_s": t_spawn - t_exit, "spawn_to_listen_s": t_listen - t_spawn,
                          "term_to_listen_s": t_listen - t_term, "old_server_cpu_s": old_cpu,
                          "closed_before_listen": closed["closed"]}
        row["missed_ids"] = ids
        print(f"   SIGTERM -> exit {t_exit - t_term:.2f} s; {len(ids)} sends {t_sends:.1f} s; listening again "
              f"{t_listen - t_term:.2f} s after SIGTERM (startup {t_listen - t_spawn:.2f} s)", flush=True)

        # -- the storm -----------------------------------------------------------------------
        timeline = []
        deadline = t_listen + a.storm_timeout
        cpu_at = {}
        while True:
            await asyncio.sleep(0.25)
            st = await self.status()
            now = time.time()
            cpu = cpu_seconds([new.ps])
            timeline.append([round(now - t_listen, 3), st["reconnected"], st["resynced"], round(cpu - cpu0, 3),
                             st["fails"]])
            for pct in PERCENTS:
                if pct not in cpu_at and st["resynced"] >= math.ceil(pct / 100 * n):
                    cpu_at[pct] = cpu - cpu0
            if st["resynced"] >= n or now > deadline or not new.alive():
                break
        t_end = time.time()
        cpu_storm = cpu_seconds([new.ps]) - cpu0
        load_storm = cpu_seconds(loads) - load0
        await asyncio.sleep(a.settle)  # late second deliveries, if any, would show now
        results = await self.call_all({"op": "results", "t_listen": t_listen}, timeout=120)
        row["server_log"] = new.log_tail(30, _interesting)
        row.update(self.summarize(results, n, t_term, t_listen, t_end, cpu_storm, load_storm, cpu_at))
        row["timeline_fields"] = ["s_from_listen", "reconnected", "resynced", "server_cpu_s", "failed_attempts"]
        row["plateau"] = plateau(timeline)
        row["timeline"] = timeline
        if not new.alive():
            row["error"] = f"the restarted server exited ({new.proc.returncode})"
        return row

    async def create_notifications(self, m: int) -> tuple[list[int], float]:
        """m x ``clarion send --all`` while the server is down, 4 at a time; their ids."""
        from bench.proc import Child

        stack = self.stack
        sem = asyncio.Semaphore(4)
        t0 = time.time()

        async def one(i):
            async with sem:
                child = Child(f"send{i}", [stack.cli, "send", "--all", "--title", f"Storm {i + 1}",
                                           "--message", "sent while the server was down"],
                              env=stack.server_env(), log=stack.ctx.logdir / f"{stack.ctx.tag}-send.log",
                              core=None, pipes=True)
                await child.start()
                try:
                    out = await asyncio.wait_for(child.proc.stdout.read(), 60)
                    code = await asyncio.wait_for(child.proc.wait(), 10)
                finally:
                    await child.stop(grace=2)
                if code != 0:
                    raise RuntimeError(f"clarion send failed ({code}); see {child.log_path}")
                return json.loads(out)["id"]

        ids = await asyncio.gather(*(one(i) for i in range(m)))
        return sorted(ids), time.time() - t0

    def summarize(self, results, n, t_term, t_listen, t_end, cpu_storm, load_storm, cpu_at) -> dict:
        per = [c for r in results for c in r["per_client"]]
        # fields: close_t, close_code, conn_t, snap_t, resumed, resync_t, lost, app_dups, fb, fa
        rel = lambda t: None if t is None else t - t_listen
        resync = [rel(c[5]) for c in per]
        recon = [rel(c[3]) for c in per]
        handshakes = [rel(c[2]) for c in per]
        fails_before, fails_after, stopped, errors, clog = Counter(), Counter(), Counter(), Counter(), Counter()
        for r in results:
            fails_before.update(r["fails_before"])
            fails_after.update(r["fails_after"])
            stopped.update(r["stopped"])
            errors.update(r["server_errors"])
            clog.update(r["client_log"])
        closes = [c[0] - t_term for c in per if c[0] is not None]
        attempts = Counter()
        for r in results:
            attempts.update({int(k): v for k, v in r["attempts_per_s"].items()})
        after_listen = {k: v for k, v in attempts.items() if k >= 0}
        wire_dups = sum(v for k, v in clog.items() if k.startswith("dropping a second delivery"))
        out = {
            "n": n,
            "resynced": sum(1 for t in resync if t is not None),
            "reconnected": sum(1 for t in recon if t is not None),
            "resync_s": {str(p): at_percent(resync, n, p) for p in PERCENTS},
            "reconnect_s": {str(p): at_percent(recon, n, p) for p in PERCENTS},
            "resync_early": sum(1 for t in resync if t is not None and t < 0),
            "lost": sum(c[6] for c in per),
            "duplicates_shown": sum(c[7] for c in per),
            "wire_duplicates_dropped": wire_dups,
            "not_resumed": sum(1 for c in per if c[4] is False),
            "close_codes": dict(Counter(str(c[1]) for c in per)),
            "close_spread_s": [min(closes), max(closes)] if closes else None,
            "failed_attempts_before_listen": sum(c[8] for c in per),
            "failed_attempts_after_listen": sum(c[9] for c in per),
            "clients_failing_after_listen": sum(1 for c in per if c[9] > 0),
            "max_failed_after_listen": max((c[9] for c in per), default=0),
            "fail_reasons_before_listen": dict(fails_before.most_common(10)),
            "fail_reasons_after_listen": dict(fails_after.most_common(10)),
            "peak_handshakes_per_s": peak_rate(handshakes),
            # Attempts started per second from t0 (second k = [t0 + k, t0 + k + 1)); negative
            # seconds: while the server was down. Each Disconnected's time + its reconnect_in.
            "attempts_per_s": {str(k): attempts[k] for k in sorted(attempts)},
            "attempts_after_listen": sum(after_listen.values()),
            "peak_attempts_per_s_after_listen": max(after_listen.values(), default=0),
            "worker_loop_lag": {"max_s": max(r["loop_lag"]["max_s"] for r in results),
                                "p99_s": max(r["loop_lag"]["p99_s"] for r in results),
                                "over_1s": sum(r["loop_lag"]["over_1s"] for r in results),
                                # [start s from t0, length s] of every stall over 0.25 s, per worker
                                "stalls": [r["loop_lag"]["stalls"] for r in results],
                                "stalled_after_listen_s": sum(max(0.0, lag - max(0.0, -t)) for r in results
                                                              for t, lag in r["loop_lag"]["stalls"]
                                                              if t + lag > 0)},
            "peak_resyncs_per_s": peak_rate(resync),
            "clients_stopped": dict(stopped),
            "server_errors": dict(errors),
            "client_log": dict(clog),
            "storm_wall_s": t_end - t_listen,
            "server_cpu_s": cpu_storm,
            "server_cpu_busy": cpu_storm / max(t_end - t_listen, 1e-9),
            "server_cpu_s_at": {str(p): v for p, v in cpu_at.items()},
            "load_cpu_s": load_storm,
            "load_cpu_busy": load_storm / max(t_end - t_listen, 1e-9),
        }
        return out


async def probe_listen(port: int, child, timeout: float) -> float:
    """The time the restarted server's port first accepts a TCP connection (10 ms probes)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not child.alive():
            raise RuntimeError(f"the restarted server exited ({child.proc.returncode}):\n"
                               + "\n".join(child.log_tail(15)))
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 1)
            t = time.time()
            writer.close()
            return t
        except (TimeoutError, OSError):
            await asyncio.sleep(0.01)
    raise RuntimeError(f"the restarted server does not listen on {port} after {timeout:.0f} s")


def _interesting(line: str) -> bool:
    from bench.driver import log_interesting

    return log_interesting(line)


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def summarize(rows: list[dict]) -> dict:
    keys = ["resync_s.50", "resync_s.90", "resync_s.99", "resync_s.100", "reconnect_s.99",
            "failed_attempts_before_listen", "failed_attempts_after_listen", "clients_failing_after_listen",
            "peak_handshakes_per_s", "attempts_after_listen", "peak_attempts_per_s_after_listen",
            "worker_loop_lag.max_s", "server_cpu_s", "server_cpu_busy", "load_cpu_busy", "lost",
            "duplicates_shown", "wire_duplicates_dropped", "restart.term_to_listen_s", "restart.shutdown_s"]
    per_mode = {}
    for mode in MODES:
        mine = [r for r in rows if r["mode"] == mode and "error" not in r]
        per_mode[mode] = {key: med([_get(r, key) for r in mine]) for key in keys}
        per_mode[mode]["runs"] = len(mine)
        if mine:
            per_mode[mode]["lost"] = sum(r["lost"] for r in mine)  # totals: any loss counts
            per_mode[mode]["duplicates_shown"] = sum(r["duplicates_shown"] for r in mine)
    ratios = {}
    for key in keys:
        on, off = per_mode["jitter"].get(key), per_mode["nojitter"].get(key)
        if isinstance(on, (int, float)) and isinstance(off, (int, float)) and on:
            ratios[key] = off / on
    return {"per_mode": per_mode, "ratios_off_vs_on": ratios}


def _get(row, key):
    value = row
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _s(v, digits=2):
    return "-" if v is None else f"{v:.{digits}f}"


def render(result: dict) -> str:
    rows = result["rows"]
    n = result["args"]["clients"]
    lines = [(f"Reconnect storm, N = {n}, M = {result['args']['missed']} notifications missed, "
              f"down {result['args']['down']} s after exit; times from the restarted server listening."), ""]
    lines.append("| mode | rep | resynced | 50 % s | 90 % s | 99 % s | 100 % s | reconnected 99 % s | "
                 "failed attempts down / after listen (clients) | peak handshakes/s | lost | dup shown | "
                 "wire dup | server CPU s (busy) | load CPU busy | SIGTERM->listen s |")
    lines.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        if "error" in r and "resync_s" not in r:
            lines.append(f"| {r['mode']} | {r['rep']} | error: {r['error']} |" + " |" * 13)
            continue
        rs = r["resync_s"]
        lines.append(
            f"| {r['mode']} | {r['rep']} | {r['resynced']}/{r['n']} | {_s(rs['50'])} | {_s(rs['90'])} | "
            f"{_s(rs['99'])} | {_s(rs['100'])} | {_s(r['reconnect_s']['99'])} | "
            f"{r['failed_attempts_before_listen']} / {r['failed_attempts_after_listen']} "
            f"({r['clients_failing_after_listen']}) | {r['peak_handshakes_per_s']} | {r['lost']} | "
            f"{r['duplicates_shown']} | {r['wire_duplicates_dropped']} | {_s(r['server_cpu_s'], 1)} "
            f"({r['server_cpu_busy'] * 100:.0f} %) | {r['load_cpu_busy'] * 100:.0f} % | "
            f"{_s(r['restart']['term_to_listen_s'])} |")
    s = result.get("summary")
    if s:
        lines += ["", "Medians per mode, and no jitter / jitter:", "",
                  "| figure | jitter | no jitter | off / on |", "|---|---|---|---|"]
        names = {"resync_s.50": "50 % resynced, s", "resync_s.90": "90 % resynced, s",
                 "resync_s.99": "99 % resynced, s", "resync_s.100": "100 % resynced, s",
                 "reconnect_s.99": "99 % reconnected, s",
                 "failed_attempts_before_listen": "failed attempts while down",
                 "failed_attempts_after_listen": "failed attempts after listen",
                 "clients_failing_after_listen": "clients with a failed attempt after listen",
                 "attempts_after_listen": "connection attempts after listen",
                 "peak_attempts_per_s_after_listen": "peak attempts started in 1 s after listen",
                 "peak_handshakes_per_s": "peak handshakes in 1 s", "server_cpu_s": "server CPU s (storm)",
                 "worker_loop_lag.max_s": "load worker loop lag max, s",
                 "server_cpu_busy": "server CPU busy", "lost": "lost (total)",
                 "duplicates_shown": "duplicates shown (total)"}
        for key, name in names.items():
            on, off = s["per_mode"]["jitter"].get(key), s["per_mode"]["nojitter"].get(key)
            ratio = s["ratios_off_vs_on"].get(key)
            if key.endswith("busy"):
                fmt = lambda v: "-" if v is None else f"{v * 100:.0f} %"
            elif key.startswith(("resync_s", "reconnect_s", "server_cpu_s", "worker_loop_lag")):
                fmt = lambda v: "-" if v is None else f"{v:.2f}"
            else:  # counts (a median of two runs may end in .5)
                fmt = lambda v: "-" if v is None else f"{v:g}"
            lines.append(f"| {name} | {fmt(on)} | {fmt(off)} | {'-' if ratio is None else f'{ratio:.2f}x'} |")
    notes = []
    for r in rows:
        for label in ("fail_reasons_before_listen", "fail_reasons_after_listen", "close_codes", "clients_stopped",
                      "server_errors"):
            if r.get(label):
                notes.append(f"* {r['mode']} rep {r['rep']} {label.replace('_', ' ')}: {r[label]}")
        if r.get("worker_loop_lag"):
            lag = r["worker_loop_lag"]
            notes.append(f"* {r['mode']} rep {r['rep']} load worker loop lag: max {lag['max_s']:.2f} s, "
                         f"p99 {lag['p99_s']:.3f} s, {lag['over_1s']} samples over 1 s; initial connect "
                         f"{r['connect']['conn_per_s']:.0f} conn/s")
        if r.get("server_log"):
            notes.append(f"* {r['mode']} rep {r['rep']} restarted server log: {len(r['server_log'])} lines, e.g. "
                         f"{r['server_log'][-1][:160]!r}")
    if notes:
        lines += ["", *notes]
    return "\n".join(lines)


def result_path(quick: bool) -> Path:
    stem = f"reconnect-storm-{dt.date.today().isoformat()}" + ("-quick" if quick else "")
    path, k = RESULTS / f"{stem}.json", 2
    while path.exists():
        path, k = RESULTS / f"{stem}-{k}.json", k + 1
    return path


def _save(out: Path, result: dict, started: float) -> None:
    result["duration_s"] = time.time() - started
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=1, default=str))
    tmp.replace(out)


async def run(args) -> Path:
    from bench.driver import git, machine_info
    from bench.loadgen import raise_nofile
    from bench.proc import LOAD_CORE, can_pin, stop_all
    from bench.stacks import ClarionStack

    RESULTS.mkdir(parents=True, exist_ok=True)
    if can_pin():
        os.sched_setaffinity(0, {LOAD_CORE})  # the driver and its probe are load, not server
    fd_limit = raise_nofile()
    per_worker = math.ceil(args.clients / args.workers)
    if per_worker + 200 > fd_limit:
        raise SystemExit(f"{per_worker} sockets per worker exceed the fd limit {fd_limit} (ulimit -Hn): "
                         f"use --workers {math.ceil(args.clients / (fd_limit - 200))} or more")
    if args.clients + 200 > fd_limit:
        raise SystemExit(f"the server process would need {args.clients} sockets, over the fd limit {fd_limit} "
                         f"(ulimit -Hn): the largest N one server process can hold here is about {fd_limit - 200}")
    out = Path(args.out) if args.out else result_path(args.quick)
    ctx = SimpleNamespace(args=SimpleNamespace(clarion_src=args.clarion_src), tmp=Path(tempfile.mkdtemp(prefix="clarion-storm-")),
                          logdir=RESULTS / "logs" / out.stem, tag="setup")
    ctx.logdir.mkdir(parents=True, exist_ok=True)
    result = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "commit": git("rev-parse", "HEAD"), "commit_short": git("rev-parse", "--short", "HEAD"),
        "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        "quick": args.quick, "machine": machine_info(),
        "args": {k: getattr(args, k) for k in ("clients", "missed", "down", "workers", "repeats", "modes", "base", "cap",
                                                "in_flight", "seed", "storm_timeout")},
        "client": "clarion.client.Client (websockets), heartbeat 20 s / 10 s, open_timeout 10 s",
        "modes": MODE_TEXT, "rows": [], "logs": str(ctx.logdir.relative_to(ROOT)),
    }
    started = time.time()
    stack = ClarionStack(ctx)
    try:
        print(f"== preparing: migrate, {args.clients} users and tokens", flush=True)
        t = time.time()
        await stack.prepare(args.clients)
        print(f"   ready in {time.time() - t:.0f} s", flush=True)
        order = []
        for rep in range(1, args.repeats + 1):  # alternate the order: drift in the box's load hits both
            order += [(m, rep) for m in (MODES if rep % 2 else MODES[::-1])]
        order = [(m, rep) for m, rep in order if m in args.modes]
        for mode, rep in order:
            r = Run(args, stack, mode, rep)
            try:
                row = await asyncio.wait_for(r.execute(), args.run_timeout)
            except TimeoutError:
                row = {"mode": mode, "rep": rep, "error": f"run exceeded {args.run_timeout} s and was stopped"}
            except Exception as exc:  # noqa: BLE001 - recorded in the row; the other mode still runs
                row = {"mode": mode, "rep": rep, "error": f"{type(exc).__name__}: {exc}"}
            finally:
                for w in r.workers:
                    await w.stop(grace=3)
                try:
                    await stack.stop()
                except Exception as exc:  # noqa: BLE001 - the next mode starts a fresh server anyway
                    print(f"   stopping the server: {type(exc).__name__}: {exc}", flush=True)
            result["rows"].append(row)
            _print_row(row)
            _save(out, result, started)
        result["summary"] = summarize(result["rows"])
    finally:
        await stop_all()
        shutil.rmtree(ctx.tmp, ignore_errors=True)
        _save(out, result, started)
    print()
    print(render(result))
    print(f"\nwrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out} ({result['duration_s']:.0f} s); "
          f"logs in {result['logs']}")
    return out


def _print_row(row: dict) -> None:
    if "resync_s" not in row:
        print(f"   ERROR {row.get('error')}", flush=True)
        return
    rs = row["resync_s"]
    print(f"   resynced {row['resynced']}/{row['n']}: 50 % {_s(rs['50'])} s, 90 % {_s(rs['90'])} s, "
          f"99 % {_s(rs['99'])} s, 100 % {_s(rs['100'])} s; lost {row['lost']}, dup shown "
          f"{row['duplicates_shown']} (wire {row['wire_duplicates_dropped']}); failed attempts "
          f"{row['failed_attempts_before_listen']} while down, {row['failed_attempts_after_listen']} after; "
          f"server CPU {row['server_cpu_s']:.1f} s ({row['server_cpu_busy'] * 100:.0f} %)", flush=True)
    if row.get("error"):
        print(f"   ERROR {row['error']}", flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reconnect_storm", description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, help="sockets (default 10000; --quick: 400)")
    parser.add_argument("--quick", action="store_true", help="400 clients, 5 missed notifications, 3 s down")
    parser.add_argument("--missed", type=int, help="notifications created while the server is down (default 20)")
    parser.add_argument("--down", type=float, help="seconds from the old server's exit to the new one's start "
                                                   "(default 15; --quick: 3); longer if the sends take longer")
    parser.add_argument("--workers", type=int, default=2, help="load processes (default 2), N/k sockets each")
    parser.add_argument("--repeats", type=int, help="runs per mode, in alternating order (default 2; --quick: 1)")
    parser.add_argument("--modes", default="jitter,nojitter", help="comma list (default both)")
    parser.add_argument("--base", type=float, default=0.5, help="backoff base (client default 0.5 s)")
    parser.add_argument("--cap", type=float, default=30.0, help="backoff cap (client default 30 s)")
    parser.add_argument("--clarion-src", help="run the server from another checkout's src/ (compare with an "
                        "older commit: git archive <commit> src | tar -x -C DIR)")
    parser.add_argument("--in-flight", type=int, default=100, help="initial connects in flight per worker")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--connect-timeout", type=float, default=300.0, help="initial connect limit, s")
    parser.add_argument("--storm-timeout", type=float, default=240.0, help="limit after the restart, s")
    parser.add_argument("--shutdown-timeout", type=float, default=60.0, help="SIGTERM grace before SIGKILL, s")
    parser.add_argument("--settle", type=float, default=2.0)
    parser.add_argument("--run-timeout", type=float, default=900.0, help="limit per mode run, s")
    parser.add_argument("--out", help="result file (default bench/results/reconnect-storm-<date>.json)")
    parser.add_argument("--report", metavar="FILE", help="print the tables of a result file")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        run_worker()
        return 0
    if args.report:
        print(render(json.loads(Path(args.report).read_text())))
        return 0
    args.clients = args.clients or (400 if args.quick else 10000)
    args.missed = args.missed or (5 if args.quick else 20)
    args.down = args.down if args.down is not None else (3.0 if args.quick else 15.0)
    args.repeats = args.repeats or (1 if args.quick else 2)
    args.modes = [m for m in args.modes.split(",") if m]
    if not args.modes or set(args.modes) - set(MODES):
        parser.error(f"--modes: a comma list of {', '.join(MODES)}")
    if args.missed < 1 or args.clients < 1 or args.workers < 1:
        parser.error("--clients, --missed and --workers must be at least 1")

    from bench.proc import run_interruptibly

    out = run_interruptibly(run(args))
    if out is None:
        return 130
    result = json.loads(out.read_text())
    broken = [f"{r['mode']} rep {r['rep']}: {r['error']}" for r in result["rows"] if r.get("error")]
    for line in broken:
        print("FAILED:", line, file=sys.stderr)
    return 1 if broken or not result["rows"] else 0


if __name__ == "__main__":
    sys.exit(main())
