"""python -m bench.deflate [--quick]: permessage-deflate on vs off, measured on Clarion's own server.

The figures behind docs/decisions/0006-permessage-deflate.md, all from one run on one machine:

1. server RSS per idle socket (clients that offer deflate as browsers do; the server takes it or not);
2. server CPU per delivered broadcast frame and bytes on the wire per frame;
3. the client's CPU per received frame (Python's websockets client, a proxy for a browser's inflate);
4. what a client can make the server inflate: a 10 MB message compressed to ~10 KB (one frame,
   and fragmented), and a flood of messages just under the size limit.

Modes (``--modes``; each one a fresh server from the same database copy):

  off     ``clarion serve``: the default, the server declines the offer
  on      ``clarion serve --ws-per-message-deflate``: uvicorn's websockets-sansio settings,
          12-bit windows both ways, memLevel 5, context takeover (uvicorn exposes no knob)
  on-w15  zlib's defaults (15-bit windows, memLevel 8): what deflate costs without uvicorn's
          reduced settings (bench server below, same app, same uvicorn, another extension factory)
  on-nct  uvicorn's settings plus no context takeover either way: no zlib state kept between
          messages (bench server, as on-w15)

Modes run in a rotated order in each of ``--reps`` repetitions; the report gives per-mode medians
and, for every ratio, the median of the ratios within each repetition (runs a minute apart, not
hours). Server pinned to core 0, this process (clients, publisher, micro-benchmarks) to core 1, as
in bench/proc.py. Every child is stopped by pid at the end, on error and on Ctrl+C.

    .venv/bin/python -m bench.deflate --quick        # 300 clients, 2 reps, off/on (about 1 min)
    .venv/bin/python -m bench.deflate                # 2000 clients, 3 reps, all four modes (about 4 min)
    .venv/bin/python -m bench.deflate --report FILE  # the tables of a result file again
"""

import argparse
import asyncio
import collections
import datetime as dt
import json
import logging
import os
import random
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

import orjson
import psutil

from bench.proc import (LOAD_CORE, PYTHON, ROOT, SERVER_CORE, Child, can_pin, cpu_seconds, free_port, run_checked,
                        stop_all, stop_all_sync, wait_port)
from bench.stacks import CLARION_SECRET, TOKEN_MINUTES

RESULTS = ROOT / "bench" / "results"
MODES = {
    "off": "clarion serve (default; clients offer deflate, the server declines)",
    "on": "clarion serve --ws-per-message-deflate (uvicorn: 12-bit windows, memLevel 5, context takeover)",
    "on-w15": "same app under uvicorn with zlib defaults: 15-bit windows, memLevel 8, context takeover",
    "on-nct": "same app under uvicorn: 12-bit windows, memLevel 5, no context takeover either way",
}
BOMB_BYTES = 10 * 1024 * 1024
FRAGMENT = 32 * 1024
WORDS = ("defense schedule room thesis advisor committee deadline submission review draft chapter meeting "
         "office hours moved cancelled approved library form signature grade seminar lab report presentation "
         "tomorrow today friday monday morning afternoon please check portal update your profile new comment "
         "on reminder final version uploaded feedback available rescheduled building second floor").split()


# -- the bench-only servers (on-w15, on-nct) ------------------------------------------------------

def variant_factory(mode: str):
    from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory

    if mode == "on-w15":
        return ServerPerMessageDeflateFactory()  # no window limits, zlib's memLevel 8
    if mode == "on-nct":
        return ServerPerMessageDeflateFactory(server_max_window_bits=12, client_max_window_bits=12,
                                              server_no_context_takeover=True, client_no_context_takeover=True,
                                              compress_settings={"memLevel": 5})
    raise ValueError(mode)


def serve_variant(mode: str, port: int) -> None:
    """Clarion's app exactly as ``clarion serve`` runs it, with another deflate factory."""
    from clarion.cli.setup import django_setup

    django_setup()
    import uvicorn
    from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
    from websockets.server import ServerProtocol

    from clarion.conf import clarion_settings

    class Protocol(WebSocketsSansIOProtocol):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.conn = ServerProtocol(extensions=[variant_factory(mode)], max_size=self.config.ws_max_size,
                                       logger=logging.getLogger("uvicorn.error"))

    config = uvicorn.Config("clarion.server.asgi:application", host="127.0.0.1", port=port, log_level="warning",
                            lifespan="on", ws=Protocol, ws_max_size=clarion_settings.MAX_FRAME_BYTES,
                            ws_per_message_deflate=True, proxy_headers=False)
    uvicorn.Server(config).run()


# -- clients ----------------------------------------------------------------------------------------

def _client_classes():
    from websockets.asyncio.client import ClientConnection

    class Counting(ClientConnection):
        rx = 0  # bytes read from every client socket of this process

        def data_received(self, data):
            Counting.rx += len(data)
            super().data_received(data)

    return Counting


class Clients:
    """N websockets clients (compression="deflate" offered, as browsers do), one reader task each."""

    def __init__(self, port: int, tokens: list[str]):
        self.port, self.tokens = port, tokens
        self.origin = f"http://127.0.0.1:{port}"
        self.conns, self.tasks = [], []
        self.got = collections.Counter()  # seq -> deliveries
        self.last = {}  # seq -> time.time() of the latest delivery
        self.snapshots = 0  # recent_notifications frames (connect done)
        self.sample: list[str] = []  # the notification frames client 0 got, as text
        self.errors = collections.Counter()
        self.Counting = _client_classes()

    def uri(self, token: str) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/notifications/?token={token}"

    async def open(self, token: str, **kw):
        from websockets.asyncio.client import connect

        return await connect(self.uri(token), origin=self.origin, compression="deflate", ping_interval=None,
                             open_timeout=30, close_timeout=3, max_size=2 ** 20, create_connection=self.Counting,
                             **kw)

    async def _read(self, ws, keep: bool):
        from websockets.exceptions import ConnectionClosed

        try:
            async for text in ws:
                frame = orjson.loads(text)
                kind = frame["type"]
                if kind == "notification":
                    seq = frame["data"]["data"]["seq"]
                    self.got[seq] += 1
                    self.last[seq] = time.time()
                    if keep:
                        self.sample.append(text)
                elif kind == "recent_notifications":
                    self.snapshots += 1
        except ConnectionClosed:
            pass

    async def connect_all(self, n: int, in_flight: int = 100) -> dict:
        gate = asyncio.Semaphore(in_flight)

        async def one(i):
            async with gate:
                try:
                    ws = await self.open(self.tokens[i])
                except Exception as exc:
                    self.errors[type(exc).__name__] += 1
                    return
                self.conns.append(ws)
                self.tasks.append(asyncio.ensure_future(self._read(ws, keep=(i == 0))))

        started = time.monotonic()
        await asyncio.gather(*(one(i) for i in range(n)))
        deadline = time.monotonic() + 60
        while self.snapshots < len(self.conns) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        wall = time.monotonic() - started
        deflated = sum(1 for ws in self.conns if ws.protocol.extensions)
        return {"connected": len(self.conns), "failed": dict(self.errors), "snapshots": self.snapshots,
                "deflate_negotiated": deflated, "connect_s": round(wall, 3),
                "conn_per_s": round(len(self.conns) / wall, 1)}

    async def close_all(self):
        for ws in self.conns:
            if ws.transport is not None and not ws.transport.is_closing():
                ws.transport.abort()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


def notification_text(k: int) -> tuple[str, str]:
    """A title and message like a real one: English words, new text each time (seeded)."""
    rnd = random.Random(k)
    title = " ".join(rnd.sample(WORDS, 3)).capitalize()
    message = " ".join(rnd.sample(WORDS, 12)).capitalize() + "."
    return title, message


# -- measurements -------------------------------------------------------------------------------------

def hwm_bytes(pid: int) -> int:
    """Peak RSS so far (VmHWM): shows whether a bomb was inflated whole, even briefly."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def rss(ps: psutil.Process) -> int:
    return ps.memory_info().rss


def own_cpu() -> float:
    t = psutil.Process().cpu_times()
    return t.user + t.system


async def broadcasts(clients: Clients, rest, server_ps, m: int) -> dict:
    """1 warm-up + m broadcasts to everyone, each awaited until every client has it."""
    expected = len(clients.conns)
    lat, lost = [], 0
    cpu0 = rx0 = own0 = t_start = None
    for k in range(m + 1):
        if k == 1:  # the warm-up is out of the figures
            cpu0, own0, rx0, t_start = cpu_seconds([server_ps]), own_cpu(), clients.Counting.rx, time.monotonic()
        title, message = notification_text(k)
        t0 = time.time()
        status, body = await rest.post_json("/api/notifications/", {
            "title": title, "message": message, "recipient_type": "all", "data": {"seq": k}})
        if status != 201:
            raise RuntimeError(f"publish: HTTP {status}: {body[:200]!r}")
        deadline = time.monotonic() + 30
        while clients.got[k] < expected and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        if k >= 1:
            lost += expected - clients.got[k]
            if k in clients.last:
                lat.append((clients.last[k] - t0) * 1000)
        await asyncio.sleep(0.2)
    server_cpu = cpu_seconds([server_ps]) - cpu0
    client_cpu = own_cpu() - own0
    deliveries = sum(clients.got[k] for k in range(1, m + 1))
    rx = clients.Counting.rx - rx0
    return {"broadcasts": m, "deliveries": deliveries, "lost": lost, "phase_s": round(time.monotonic() - t_start, 2),
            "server_cpu_s": round(server_cpu, 3), "server_cpu_us_per_delivery": round(server_cpu / deliveries * 1e6, 2),
            "client_cpu_s": round(client_cpu, 3), "client_cpu_us_per_delivery": round(client_cpu / deliveries * 1e6, 2),
            "wire_bytes_per_delivery": round(rx / deliveries, 1),
            "last_client_ms_median": round(statistics.median(lat), 1) if lat else None}


async def bomb(clients: Clients, token: str, server_ps, kind: str, max_frame: int, flood: int) -> dict:
    """What a client can make the server inflate. ``single``: 10 MB of NULs in one message;
    ``fragmented``: the same as 320 fragments of 32 KB (each under the limit, the sum not);
    ``flood``: ``flood`` messages just under the limit ({"type":"ping"} + spaces) written back to
    back, each answered with a pong."""
    from websockets.exceptions import ConnectionClosed
    from websockets.extensions.permessage_deflate import PerMessageDeflate
    from websockets.frames import Frame, Opcode

    ws = await clients.open(token)
    try:
        first = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
        assert first["type"] == "recent_notifications", first
        ext = ws.protocol.extensions[0] if ws.protocol.extensions else None

        def wire_size(text: str) -> int:
            """Payload bytes of ``text`` as this client sends it (a fresh encoder = this socket's,
            which has sent nothing yet)."""
            if ext is None:
                return len(text.encode())
            enc = PerMessageDeflate(ext.remote_no_context_takeover, ext.local_no_context_takeover,
                                    ext.remote_max_window_bits, ext.local_max_window_bits, ext.compress_settings)
            return len(enc.encode(Frame(Opcode.TEXT, text.encode())).data)

        await asyncio.sleep(0.3)
        rss0, hwm0, cpu0 = rss(server_ps), hwm_bytes(server_ps.pid), cpu_seconds([server_ps])
        started = time.monotonic()
        out = {"kind": kind, "deflate": ext is not None}
        if kind == "flood":
            # Written back to back: the server parses (and inflates) every complete frame of one
            # socket read before the app takes the first, so this measures that buffer.
            text = '{"type":"ping"}' + " " * (max_frame - 100)
            raw = text.encode()
            if ext is not None:  # with context takeover, later messages compress against earlier ones
                enc = PerMessageDeflate(ext.remote_no_context_takeover, ext.local_no_context_takeover,
                                        ext.remote_max_window_bits, ext.local_max_window_bits, ext.compress_settings)
                wire = sum(len(enc.encode(Frame(Opcode.TEXT, raw)).data) for _ in range(flood))
            else:
                wire = len(raw) * flood
            out.update(wire_bytes=wire, inflated_bytes_per_message=len(raw))
            pongs = 0
            for _ in range(flood):
                await ws.send(text)
            while pongs < flood:
                reply = orjson.loads(await asyncio.wait_for(ws.recv(), 60))
                pongs += reply["type"] == "pong"
            cpu = cpu_seconds([server_ps]) - cpu0
            out.update(messages=flood, answered=pongs, elapsed_s=round(time.monotonic() - started, 3),
                       server_cpu_us_per_message=round(cpu / flood * 1e6, 1),
                       server_cpu_us_per_wire_kb=round(cpu * 1e6 / (wire / 1024), 2))
        else:
            if kind == "single":
                payload = "\x00" * BOMB_BYTES
                out["wire_bytes"] = wire_size(payload)
                message = payload
            else:
                chunk = "\x00" * FRAGMENT

                async def fragments():
                    # Paced, so the client reads the server's close frame instead of running into
                    # the reset that closing a socket with unread data sends.
                    for _ in range(BOMB_BYTES // FRAGMENT):
                        yield chunk
                        await asyncio.sleep(0.005)

                message = fragments()
                out["wire_bytes_first_fragment"] = wire_size(chunk)
            try:
                await asyncio.wait_for(ws.send(message), 30)
            except ConnectionClosed:
                pass
            try:
                await asyncio.wait_for(ws.wait_closed(), 15)
            except asyncio.TimeoutError:
                pass
            out["closed_after_s"] = round(time.monotonic() - started, 3)
            out["close_code"] = None if ws.close_code is None else int(ws.close_code)
            out["close_reason"] = ws.close_reason
            await asyncio.sleep(0.5)
        out["server_rss_delta_kb"] = round((rss(server_ps) - rss0) / 1024)
        out["server_peak_rss_delta_kb"] = round((hwm_bytes(server_ps.pid) - hwm0) / 1024)
        out["server_cpu_ms"] = round((cpu_seconds([server_ps]) - cpu0) * 1000, 1)
        out["inflated_bytes"] = BOMB_BYTES if kind != "flood" else flood * out["inflated_bytes_per_message"]
        out["server_alive"] = server_ps.is_running()
        return out
    finally:
        if ws.transport is not None and not ws.transport.is_closing():
            ws.transport.abort()


def micro(frames: list[str], reps: int) -> dict:
    """In-process, core 1: websockets' PerMessageDeflate on the frames a client really got, per
    message: server-side compress, client-side inflate, and the compressed sizes."""
    from websockets.extensions.permessage_deflate import PerMessageDeflate
    from websockets.frames import Frame, Opcode

    settings = {"on (12-bit, memLevel 5)": (False, 12, {"memLevel": 5}), "on-w15 (15-bit, memLevel 8)": (False, 15, {}),
                "on-nct (12-bit, memLevel 5, no takeover)": (True, 12, {"memLevel": 5})}
    data = [f.encode() for f in frames]
    out = {"frames": len(data), "frame_bytes_median": statistics.median(len(d) for d in data)}
    for name, (nct, bits, cs) in settings.items():
        enc_t, dec_t = [], []
        sizes = None
        for _ in range(reps):
            server = PerMessageDeflate(nct, nct, bits, bits, cs)
            client = PerMessageDeflate(nct, nct, bits, bits, cs)
            t = time.perf_counter()
            encoded = [server.encode(Frame(Opcode.TEXT, d)) for d in data]
            enc_t.append((time.perf_counter() - t) / len(data))
            t = time.perf_counter()
            for f in encoded:
                client.decode(f, max_size=2 ** 20)
            dec_t.append((time.perf_counter() - t) / len(data))
            sizes = [len(f.data) for f in encoded]
        out[name] = {"compress_us": round(statistics.median(enc_t) * 1e6, 2),
                     "inflate_us": round(statistics.median(dec_t) * 1e6, 2),
                     "first_frame_bytes": sizes[0], "later_frames_bytes_median": statistics.median(sizes[1:] or sizes),
                     "ratio_later": round(statistics.median(sizes[1:] or sizes) / out["frame_bytes_median"], 3)}
    return out


# -- one run -------------------------------------------------------------------------------------------

class Setup:
    def __init__(self, n: int, logdir: Path, clarion_src: str | None = None):
        self.clarion_src = clarion_src
        self.tmp = Path(tempfile.mkdtemp(prefix="clarion-deflate-"))
        self.template = self.tmp / "template"
        self.logdir = logdir
        self.n = n
        self.cli = str(Path(PYTHON).parent / "clarion")

    def env(self, data_dir: Path) -> dict:
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
        env.update(CLARION_DATA_DIR=str(data_dir), CLARION_SECRET_KEY=CLARION_SECRET,
                   CLARION_ACCESS_TOKEN_MINUTES=TOKEN_MINUTES, DJANGO_SETTINGS_MODULE="clarion.server.settings")
        if self.clarion_src:  # Clarion from another tree (e.g. `git archive HEAD src`), ahead of the installed one
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [self.clarion_src, env.get("PYTHONPATH")]))
        return env

    async def prepare(self) -> None:
        self.template.mkdir(parents=True)
        env, log = self.env(self.template), self.logdir / "setup.log"
        await run_checked([self.cli, "migrate"], env=env, log=log, timeout=300)
        users = self.tmp / "users.json"
        # n sockets + 2 for the bomb tests (users of their own, so their frames stay apart)
        await run_checked([PYTHON, "-m", "bench.peers.clarion_users", "--count", str(self.n + 2), "--out", str(users)],
                          env=env, log=log, timeout=600)
        data = json.loads(users.read_text())
        self.tokens = [u["token"] for u in data["users"]]
        self.admin = data["admin"]["token"]


async def run_mode(setup: Setup, mode: str, rep: int, args) -> dict:
    from bench.restclient import HttpPool

    data_dir = setup.tmp / f"run-{mode}-{rep}"
    shutil.copytree(setup.template, data_dir)
    port = free_port()
    if mode in ("off", "on"):
        argv = [setup.cli, "serve", "--port", str(port)] + (["--ws-per-message-deflate"] if mode == "on" else [])
    else:
        argv = [PYTHON, "-m", "bench.deflate", "--serve-variant", mode, "--port", str(port)]
    server = Child(f"server-{mode}-{rep}", argv, env=setup.env(data_dir), log=setup.logdir / f"server-{mode}-{rep}.log",
                   core=SERVER_CORE)
    clients = Clients(port, setup.tokens)
    rest = HttpPool("127.0.0.1", port, size=2, headers=[("Authorization", f"Bearer {setup.admin}")])
    row = {"mode": mode, "rep": rep, "server": " ".join(["clarion" if argv[0] == setup.cli else "python", *argv[1:]])}
    try:
        await server.start()
        await wait_port(port, server)
        ps = server.ps
        # One request first, so lazy imports and the database connection are in the idle figure.
        status, _ = await rest.post_json("/api/notifications/", {"title": "warm", "message": "up",
                                                                 "recipient_type": "all"})
        if status != 201:
            raise RuntimeError(f"warm-up publish: HTTP {status}")
        await asyncio.sleep(1)
        idle = rss(ps)
        row["connect"] = await clients.connect_all(args.clients)
        n = row["connect"]["connected"]
        await asyncio.sleep(2)
        after_connect = rss(ps)
        row["broadcast"] = await broadcasts(clients, rest, ps, args.bcasts)
        await asyncio.sleep(1)
        after_bcast = rss(ps)
        row["memory"] = {"idle_mb": round(idle / 2 ** 20, 1),
                         "rss_per_conn_kb": round((after_connect - idle) / n / 1024, 1),
                         "rss_per_conn_after_bcasts_kb": round((after_bcast - idle) / n / 1024, 1)}
        if rep == 0 or mode in ("off", "on"):
            row["sample"] = clients.sample
        bombs = []
        for i, kind in enumerate(("flood", "single", "fragmented")):
            try:
                bombs.append(await bomb(clients, setup.tokens[args.clients + (i % 2)], ps, kind,
                                        args.max_frame, args.flood))
            except Exception as exc:
                bombs.append({"kind": kind, "error": f"{type(exc).__name__}: {exc}"})
        row["bombs"] = bombs
        row["server_alive"] = server.alive()
    except Exception as exc:
        row["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        rest.close()
        await clients.close_all()
        await server.stop(grace=5)
        shutil.rmtree(data_dir, ignore_errors=True)
    return row


# -- report ----------------------------------------------------------------------------------------------

def med(values):
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 2) if values else None


def summarize(rows: list[dict], modes: list[str]) -> dict:
    ok = [r for r in rows if "error" not in r]
    out = {}
    for mode in modes:
        mine = [r for r in ok if r["mode"] == mode]
        if not mine:
            continue
        out[mode] = {
            "runs": len(mine),
            "idle_mb": med(r["memory"]["idle_mb"] for r in mine),
            "rss_per_conn_kb": med(r["memory"]["rss_per_conn_kb"] for r in mine),
            "rss_per_conn_after_bcasts_kb": med(r["memory"]["rss_per_conn_after_bcasts_kb"] for r in mine),
            "conn_per_s": med(r["connect"]["conn_per_s"] for r in mine),
            "deflate_negotiated": min(r["connect"]["deflate_negotiated"] for r in mine),
            "connected": min(r["connect"]["connected"] for r in mine),
            "server_cpu_us_per_delivery": med(r["broadcast"]["server_cpu_us_per_delivery"] for r in mine),
            "client_cpu_us_per_delivery": med(r["broadcast"]["client_cpu_us_per_delivery"] for r in mine),
            "wire_bytes_per_delivery": med(r["broadcast"]["wire_bytes_per_delivery"] for r in mine),
            "last_client_ms_median": med(r["broadcast"]["last_client_ms_median"] for r in mine),
            "lost": sum(r["broadcast"]["lost"] for r in mine),
        }
        # ratios to "off" within the same repetition, then their median
        for key in ("rss_per_conn_kb", "rss_per_conn_after_bcasts_kb", "server_cpu_us_per_delivery",
                    "client_cpu_us_per_delivery", "wire_bytes_per_delivery", "last_client_ms_median", "conn_per_s"):
            ratios = []
            for r in mine:
                base = [b for b in ok if b["mode"] == "off" and b["rep"] == r["rep"]]
                if base:
                    a, b = _get(r, key), _get(base[0], key)
                    if a is not None and b:
                        ratios.append(a / b)
            out[mode][key + "_x_off"] = round(med(ratios), 2) if ratios else None
        bombs = collections.defaultdict(list)
        for r in mine:
            for b in r.get("bombs", []):
                bombs[b["kind"]].append(b)
        out[mode]["bombs"] = {kind: _bomb_summary(bs) for kind, bs in bombs.items()}
    return out


def _get(row, key):
    for part in ("memory", "broadcast", "connect"):
        if key in row.get(part, {}):
            return row[part][key]
    return None


def _bomb_summary(bs: list[dict]) -> dict:
    good = [b for b in bs if "error" not in b]
    s = {"runs": len(bs), "errors": [b["error"] for b in bs if "error" in b]}
    if not good:
        return s
    if good[0]["kind"] == "flood":
        s.update(wire_bytes=good[0]["wire_bytes"], inflated_bytes=good[0]["inflated_bytes"],
                 answered=f"{sum(b['answered'] for b in good)}/{sum(b['messages'] for b in good)}",
                 server_cpu_us_per_message=med(b["server_cpu_us_per_message"] for b in good),
                 server_cpu_us_per_wire_kb=med(b["server_cpu_us_per_wire_kb"] for b in good))
    else:
        s.update(close_codes=sorted({b["close_code"] for b in good}, key=str),
                 wire_bytes=good[0].get("wire_bytes", good[0].get("wire_bytes_first_fragment")),
                 closed_after_s=med(b["closed_after_s"] for b in good))
    s.update(server_rss_delta_kb=med(b["server_rss_delta_kb"] for b in good),
             server_rss_delta_kb_max=max(b["server_rss_delta_kb"] for b in good),
             server_peak_rss_delta_kb=med(b["server_peak_rss_delta_kb"] for b in good),
             server_peak_rss_delta_kb_max=max(b["server_peak_rss_delta_kb"] for b in good),
             server_cpu_ms=med(b["server_cpu_ms"] for b in good))
    return s


def render(result: dict) -> str:
    s, modes = result["summary"], [m for m in result["args"]["modes"] if m in result["summary"]]
    lines = [f"Run {result['date']} at commit {result['commit_short']}{' (dirty tree)' if result['dirty'] else ''}; "
             f"N = {result['args']['clients']} clients, {result['args']['bcasts']} broadcasts, "
             f"{result['args']['reps']} repetitions; {result['duration_s']:.0f} s.",
             f"Machine: {result['machine']['nproc']} cores, {result['machine']['cpu_model']}, load average at start "
             f"{', '.join(f'{x:.2f}' for x in result['machine']['loadavg_at_start'])}; "
             f"pinning: {result['machine']['pinning']}.", "",
             "| mode | deflate negotiated | RSS/conn KB (x off) | RSS/conn after bcasts KB (x off) "
             "| server CPU us/delivery (x off) | client CPU us/delivery (x off) | wire B/delivery (x off) "
             "| last-client ms (x off) | conn/s (x off) | lost |",
             "|---|---|---|---|---|---|---|---|---|---|"]

    def cell(m, key):
        v, x = s[m].get(key), s[m].get(key + "_x_off")
        return f"{v} ({x:.2f}x)" if v is not None and x is not None else str(v)

    for m in modes:
        lines.append(f"| {m} | {s[m]['deflate_negotiated']}/{s[m]['connected']} | {cell(m, 'rss_per_conn_kb')} "
                     f"| {cell(m, 'rss_per_conn_after_bcasts_kb')} | {cell(m, 'server_cpu_us_per_delivery')} "
                     f"| {cell(m, 'client_cpu_us_per_delivery')} | {cell(m, 'wire_bytes_per_delivery')} "
                     f"| {cell(m, 'last_client_ms_median')} | {cell(m, 'conn_per_s')} | {s[m]['lost']} |")
    lines += ["", "Bombs (one more client per test; server RSS change 0.5 s after, and of its peak (VmHWM); "
              "medians over the repetitions (max)):", "",
              "| mode | test | wire bytes | message bytes | outcome | server RSS delta KB | peak RSS delta KB "
              "| server CPU |",
              "|---|---|---|---|---|---|---|---|"]
    for m in modes:
        for kind, b in s[m]["bombs"].items():
            if b.get("errors") and len(b["errors"]) == b["runs"]:
                lines.append(f"| {m} | {kind} | | | ERROR {b['errors'][0]} | | | |")
                continue
            if kind == "flood":
                lines.append(f"| {m} | {kind}: {result['args']['flood']} msgs | {b['wire_bytes']} "
                             f"| {b['inflated_bytes']} | {b['answered']} answered "
                             f"| {b['server_rss_delta_kb']} ({b['server_rss_delta_kb_max']}) "
                             f"| {b['server_peak_rss_delta_kb']} ({b['server_peak_rss_delta_kb_max']}) "
                             f"| {b['server_cpu_us_per_message']} us/msg, "
                             f"{b['server_cpu_us_per_wire_kb']} us/wire KB |")
            else:
                wire = f"{b['wire_bytes']}" + (" per 32 KB fragment" if kind == "fragmented" else "")
                lines.append(f"| {m} | {kind} | {wire} | {BOMB_BYTES} | close {b['close_codes']} after "
                             f"{b['closed_after_s']} s | {b['server_rss_delta_kb']} ({b['server_rss_delta_kb_max']}) "
                             f"| {b['server_peak_rss_delta_kb']} ({b['server_peak_rss_delta_kb_max']}) "
                             f"| {b['server_cpu_ms']} ms |")
    mic = result.get("micro")
    if mic:
        lines += ["", f"Per message, in-process (websockets' PerMessageDeflate on the {mic['frames']} notification "
                      f"frames a client got, median {mic['frame_bytes_median']} B):", "",
                  "| settings | compress us | inflate us | first frame B | later frames B (ratio) |",
                  "|---|---|---|---|---|"]
        for name, v in mic.items():
            if isinstance(v, dict):
                lines.append(f"| {name} | {v['compress_us']} | {v['inflate_us']} | {v['first_frame_bytes']} "
                             f"| {v['later_frames_bytes_median']} ({v['ratio_later']}) |")
    errors = [f"{r['mode']} rep {r['rep']}: {r['error']}" for r in result["rows"] if "error" in r]
    if errors:
        lines += ["", "Errors:"] + [f"* {e}" for e in errors]
    return "\n".join(lines)


# -- main --------------------------------------------------------------------------------------------------

async def run(args) -> tuple[Path, dict]:
    from bench.driver import git, machine_info
    from bench.loadgen import raise_nofile

    if can_pin():
        os.sched_setaffinity(0, {LOAD_CORE})  # clients and publisher are load, not server
    raise_nofile()
    commit = git("rev-parse", "--short", "HEAD")
    stem = f"{dt.date.today().isoformat()}-{commit or 'nogit'}-deflate" + ("-quick" if args.quick else "")
    out = Path(args.out) if args.out else RESULTS / f"{stem}.json"
    logdir = out.parent / "logs" / out.stem
    logdir.mkdir(parents=True, exist_ok=True)
    machine = machine_info()
    machine["pinning"] = "server: core 0, clients+publisher: core 1" if can_pin() else "none (1 core)"
    result = {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
              "commit": git("rev-parse", "HEAD"), "commit_short": commit,
              "dirty": bool(git("status", "--porcelain", "--untracked-files=no")), "quick": args.quick,
              "command": " ".join(["python -m bench.deflate", *sys.argv[1:]]), "machine": machine,
              "args": {"clients": args.clients, "bcasts": args.bcasts, "reps": args.reps, "modes": args.modes,
                       "flood": args.flood, "max_frame": args.max_frame, "clarion_src": args.clarion_src},
              "modes": {m: MODES[m] for m in args.modes},
              "rows": []}
    started = time.time()
    setup = Setup(args.clients, logdir, args.clarion_src)
    try:
        print(f"== setting up {args.clients + 2} users", flush=True)
        await setup.prepare()
        for rep in range(args.reps):
            order = args.modes[rep % len(args.modes):] + args.modes[:rep % len(args.modes)]
            for mode in order:
                print(f"== rep {rep + 1}/{args.reps}: {mode}", flush=True)
                try:
                    row = await asyncio.wait_for(run_mode(setup, mode, rep, args), args.run_timeout)
                except asyncio.TimeoutError:
                    row = {"mode": mode, "rep": rep, "error": f"run took over {args.run_timeout:.0f} s"}
                result["rows"].append(row)
                if "error" in row:
                    print(f"   ERROR {row['error']}", flush=True)
                else:
                    b, mem = row["broadcast"], row["memory"]
                    print(f"   {row['connect']['connected']} conn ({row['connect']['deflate_negotiated']} deflate), "
                          f"RSS/conn {mem['rss_per_conn_kb']} KB -> {mem['rss_per_conn_after_bcasts_kb']} KB, server "
                          f"{b['server_cpu_us_per_delivery']} us/delivery, "
                          f"client {b['client_cpu_us_per_delivery']} us, "
                          f"{b['wire_bytes_per_delivery']} B/delivery; bombs: "
                          + ", ".join(f"{x['kind']}={x.get('close_code', x.get('answered', x.get('error')))}"
                                      for x in row["bombs"]), flush=True)
        frames = next((r["sample"] for r in result["rows"] if r.get("sample")), [])
        if frames:
            result["micro"] = micro(frames, reps=5 if args.quick else 21)
    finally:
        await stop_all()
        shutil.rmtree(setup.tmp, ignore_errors=True)
    result["summary"] = summarize(result["rows"], args.modes)
    result["duration_s"] = time.time() - started
    for row in result["rows"]:
        row.pop("sample", None)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, default=str))
    return out, result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.deflate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="300 clients, 10 broadcasts, 2 repetitions, off/on")
    parser.add_argument("--clients", type=int, help="sockets per run (default 2000; --quick: 300)")
    parser.add_argument("--bcasts", type=int, help="broadcasts per run after a warm-up (default 20; --quick: 10)")
    parser.add_argument("--reps", type=int, help="repetitions of every mode (default 3; --quick: 2)")
    parser.add_argument("--modes", help=f"comma list of {', '.join(MODES)} (default all; --quick: off,on)")
    parser.add_argument("--flood", type=int, default=1000,
                        help="near-limit messages in the flood test (default 1000)")
    parser.add_argument("--max-frame", type=int, default=int(os.environ.get("CLARION_MAX_FRAME_BYTES", 65536)),
                        help="the server's MAX_FRAME_BYTES (default: CLARION_MAX_FRAME_BYTES or 65536)")
    parser.add_argument("--clarion-src", help="run Clarion from this src/ directory (e.g. a snapshot of a commit, "
                                              "while the working tree is being edited)")
    parser.add_argument("--run-timeout", type=float, default=300, help="seconds one mode's run may take")
    parser.add_argument("--out", help="result JSON (default bench/results/<date>-<commit>-deflate[-quick].json)")
    parser.add_argument("--report", metavar="FILE", help="print the tables of a result file again, and exit")
    parser.add_argument("--serve-variant", choices=["on-w15", "on-nct"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_variant:
        serve_variant(args.serve_variant, args.port)
        return 0
    if args.report:
        result = json.loads(Path(args.report).read_text())
        result["summary"] = summarize(result["rows"], result["args"]["modes"])
        print(render(result))
        return 0
    if args.clarion_src:
        args.clarion_src = str(Path(args.clarion_src).resolve())
    args.clients = args.clients or (300 if args.quick else 2000)
    args.bcasts = args.bcasts or (10 if args.quick else 20)
    args.reps = args.reps or (2 if args.quick else 3)
    args.modes = args.modes.split(",") if args.modes else (["off", "on"] if args.quick else list(MODES))
    unknown = [m for m in args.modes if m not in MODES]
    if unknown or "off" not in args.modes:
        parser.error(f"--modes: choose from {', '.join(MODES)}, including off (the ratios divide by it)")

    import atexit

    atexit.register(stop_all_sync)

    async def guarded():
        task = asyncio.ensure_future(run(args))
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)  # cancel -> finally stops every child
        return await task

    try:
        out, result = asyncio.run(guarded())
    except asyncio.CancelledError:
        print("interrupted; every child process was stopped", file=sys.stderr)
        return 130
    print()
    print(render(result))
    print(f"\nwrote {out}; server logs in {out.parent / 'logs' / out.stem}")
    return 1 if any("error" in r for r in result["rows"]) else 0


if __name__ == "__main__":
    sys.exit(main())
