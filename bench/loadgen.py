"""Load-generator worker: holds many WebSocket clients and summarises what they receive.

The driver starts two of these (pinned to core 1) and talks to each in JSON lines over
stdin/stdout. The client is a minimal RFC 6455 implementation on asyncio Protocols rather
than a library client: a library's per-message machinery (queues, tasks, UTF-8 checks) would
cost more client CPU than the servers under test spend, and the load generator shares a
small machine with them. It masks its frames, answers pings, offers no extensions (so no
permessage-deflate), and takes ``time.time()`` once per socket read.

Three client dialects (``kind``):
  ws      - plain WebSocket; connected once the 101 arrives.
  clarion - connected once the first ``recent_notifications`` frame arrives (it is part of
            Clarion's set-up: JWT check + unread snapshot).
  sio     - Engine.IO v4 over WebSocket: '0' open -> send '40'; connected on '40';
            '2' ping -> '3'; events arrive as '42["notification", {...}]'.

Every measured frame is a notification whose innermost ``data`` holds ``ph`` (phase name),
``seq`` and ``t`` (the publisher's clock just before publishing). Per phase and seq the
worker keeps [count, first latency, last latency], so the driver can ask for summaries
without per-message traffic on the pipe.
"""

import asyncio
import base64
import os
import random
import resource
import sys
import time
from collections import Counter

try:
    import orjson

    _loads = orjson.loads

    def _dumps(obj) -> str:
        return orjson.dumps(obj).decode()

except ImportError:  # pragma: no cover - orjson is in bench/requirements.txt
    import json

    _loads = json.loads

    def _dumps(obj) -> str:
        return json.dumps(obj, separators=(",", ":"))


_now = time.time
_NOT_MEASURED = ()  # cached parse result of a frame that carries no measurement
_RECENT = ("recent",)  # Clarion's connect snapshot
_ERROR = ("error",)


def raise_nofile() -> int:
    """Thousands of sockets per process: lift the soft fd limit to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def client_frame(opcode: int, payload: bytes) -> bytes:
    """A masked client frame (RFC 6455 5.3: every client frame is masked)."""
    mask = os.urandom(4)
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        head = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    masked = bytes(b ^ mask[i & 3] for i, b in enumerate(payload))
    return head + mask + masked


class PhaseStats:
    __slots__ = ("msgs", "order", "dup", "total", "ports")

    def __init__(self):
        self.msgs = {}  # seq -> [count, first latency, last latency]
        self.order = 0  # a seq lower than one this client already had in the phase
        self.dup = 0  # the same seq twice on one client
        self.total = 0
        self.ports = Counter()  # receptions per server port (multi-process fan-out)


class Worker:
    def __init__(self):
        self.loop = asyncio.get_running_loop()
        self.clients = []
        self.open = 0
        self.phases: dict[str, PhaseStats] = {}
        self.cache: dict[bytes, tuple] = {}  # frame bytes -> parsed measurement
        self.kind = "ws"
        self.closed_after_connect = Counter()
        # Clarion's delivery receipts (issue 14): when on, a client answers each measured
        # notification frame with {"type": "ack", "data": {"cursor": <its cursor>}}.
        self.ack = False
        self.ack_jitter = 0.0  # > 0: each ack waits ack_delay + a random 0..ack_jitter s
        self.ack_delay = 0.0
        self.acks_sent = 0
        self.errors_after_connect = 0  # error frames on open sockets (a refused ack would show here)

    # -- parsing, cached: in a broadcast every client gets the very same bytes ---------

    def parse(self, payload: bytes) -> tuple:
        info = self.cache.get(payload)
        if info is not None:
            return info
        try:
            if self.kind == "sio":
                event = _loads(payload[2:])
                frame = event[1] if isinstance(event, list) and len(event) > 1 else None
            else:
                frame = _loads(payload)
            info = _NOT_MEASURED
            if isinstance(frame, dict):
                ftype = frame.get("type")
                if ftype == "notification":
                    inner = frame["data"]["data"]
                    cursor = frame["data"].get("cursor") if self.kind == "clarion" else None
                    # the ack frame is built once per distinct frame, like the parse itself
                    ack = _dumps({"type": "ack", "data": {"cursor": cursor}}).encode() if cursor else None
                    info = (inner["ph"], inner["seq"], inner["t"], ack)
                elif ftype == "recent_notifications":
                    info = _RECENT
                elif ftype == "error":
                    info = _ERROR
        except Exception:
            info = _NOT_MEASURED
        if len(self.cache) > 20000:
            self.cache.clear()
        self.cache[payload] = info
        return info

    def record(self, client, info: tuple, now: float) -> None:
        ph, seq, t = info[0], info[1], info[2]
        lat = now - t
        stats = self.phases.get(ph)
        if stats is None:
            stats = self.phases[ph] = PhaseStats()
        rec = stats.msgs.get(seq)
        if rec is None:
            stats.msgs[seq] = [1, lat, lat]
        else:
            rec[0] += 1
            if lat < rec[1]:
                rec[1] = lat
            elif lat > rec[2]:
                rec[2] = lat
        stats.total += 1
        stats.ports[client.port] += 1
        if client.last_ph == ph:
            if seq == client.last_seq:
                stats.dup += 1
            elif seq < client.last_seq:
                stats.order += 1
        client.last_ph = ph
        client.last_seq = seq

    # -- commands ------------------------------------------------------------------

    async def connect(self, cmd: dict) -> dict:
        self.kind = cmd["kind"]
        host = cmd.get("host", "127.0.0.1")
        origin_tpl = cmd.get("origin")
        sources = cmd.get("sources") or [None]
        timeout = float(cmd.get("timeout", 30))
        sem = asyncio.Semaphore(int(cmd.get("inflight", 100)))
        errors = Counter()
        ok = 0

        async def one(i, idx, port, path):
            nonlocal ok
            async with sem:
                client = Client(self, idx, port, f"{host}:{port}", path,
                                origin_tpl.format(port=port) if origin_tpl else None)
                src = sources[i % len(sources)]
                try:
                    await asyncio.wait_for(
                        self.loop.create_connection(lambda: client, host, port,
                                                    local_addr=(src, 0) if src else None),
                        timeout)
                    await asyncio.wait_for(client.ready, timeout)
                except Exception as exc:  # every failure is counted, none stops the storm
                    errors[f"{type(exc).__name__}:{str(exc)[:70]}"] += 1
                    client.abort()
                    return
                ok += 1
                self.clients.append(client)

        t0 = _now()
        tasks = [asyncio.ensure_future(one(i, *spec)) for i, spec in enumerate(cmd["clients"])]
        done, pending = await asyncio.wait(tasks, timeout=float(cmd.get("phase_timeout", 600)))
        for task in pending:  # bounded: what did not connect in time is a failure
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=5)
            errors["phase timeout"] += len(pending)
        t1 = _now()
        return {"ok": ok, "fail": len(cmd["clients"]) - ok, "errors": dict(errors), "t0": t0, "t1": t1,
                "open": self.open}

    def stats(self, cmd: dict) -> dict:
        stats = self.phases.get(cmd["ph"]) or PhaseStats()
        only = cmd.get("seq")
        if only is not None:
            msgs = {str(only): stats.msgs.get(only, [0, None, None])}
        else:
            msgs = {str(k): v for k, v in stats.msgs.items()}
        reply = {"open": self.open, "total": stats.total, "order": stats.order, "dup": stats.dup,
                 "msgs": msgs, "ports": {str(k): v for k, v in stats.ports.items()},
                 "closed": dict(self.closed_after_connect), "acks_sent": self.acks_sent,
                 "errors_after_connect": self.errors_after_connect}
        if cmd.get("per_port"):  # multi-process runs: open clients behind each server process
            reply["open_ports"] = {str(k): v for k, v in Counter(c.port for c in self.clients if c.connected).items()}
        return reply

    def quit(self) -> dict:
        # abort = RST: no TIME_WAIT left behind to eat ephemeral ports of the next run
        for client in self.clients:
            client.abort()
        return {"bye": True}


class Client(asyncio.Protocol):
    __slots__ = ("w", "idx", "port", "host", "path", "origin", "transport", "ready", "buf", "upgraded",
                 "connected", "last_ph", "last_seq", "frag", "close_code")

    def __init__(self, worker: Worker, idx: int, port: int, host: str, path: str, origin):
        self.w = worker
        self.idx = idx
        self.port = port
        self.host = host
        self.path = path
        self.origin = origin
        self.transport = None
        self.ready = worker.loop.create_future()
        self.buf = b""
        self.upgraded = False
        self.connected = False
        self.last_ph = None
        self.last_seq = -1
        self.frag = None
        self.close_code = None

    def connection_made(self, transport):
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET {self.path} HTTP/1.1", f"Host: {self.host}", "Upgrade: websocket", "Connection: Upgrade",
                 f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
        if self.origin:
            lines.append(f"Origin: {self.origin}")
        transport.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    def _set_ready(self):
        if not self.ready.done():
            self.ready.set_result(True)
            self.connected = True
            self.w.open += 1

    def _fail(self, exc: Exception):
        if not self.ready.done():
            self.ready.set_exception(exc)
        self.abort()

    def abort(self):
        if self.transport is not None:
            self.transport.abort()

    def send_text(self, payload: bytes):
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(client_frame(0x1, payload))

    def connection_lost(self, exc):
        if self.connected:
            self.connected = False
            self.w.open -= 1
            # why a connected client was dropped: a server close code (e.g. Clarion's 4008 for a
            # slow reader) or the transport error
            reason = (f"close code {self.close_code}" if self.close_code is not None
                      else type(exc).__name__ if exc else "EOF")
            self.w.closed_after_connect[reason] += 1
        if not self.ready.done():
            self.ready.set_exception(ConnectionError("closed during set-up"))

    def data_received(self, data: bytes):
        now = _now()  # once per socket read, as the method says
        buf = self.buf + data if self.buf else data
        if not self.upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > 65536:
                    self._fail(ConnectionError("oversized handshake response"))
                self.buf = buf
                return
            status = buf[:buf.find(b"\r\n")].decode("latin-1", "replace")
            if " 101 " not in status + " ":
                self._fail(ConnectionError(status))
                return
            buf = buf[end + 4:]
            self.upgraded = True
            if self.w.kind == "ws":
                self._set_ready()
        n = len(buf)
        pos = 0
        while n - pos >= 2:
            b0 = buf[pos]
            b1 = buf[pos + 1]
            ln = b1 & 0x7F
            hdr = 2
            if ln == 126:
                if n - pos < 4:
                    break
                ln = (buf[pos + 2] << 8) | buf[pos + 3]
                hdr = 4
            elif ln == 127:
                if n - pos < 10:
                    break
                ln = int.from_bytes(buf[pos + 2:pos + 10], "big")
                hdr = 10
            mask = None
            if b1 & 0x80:  # servers must not mask; tolerate it rather than mis-parse
                if n - pos < hdr + 4:
                    break
                mask = buf[pos + hdr:pos + hdr + 4]
                hdr += 4
            end = pos + hdr + ln
            if end > n:
                break
            payload = buf[pos + hdr:end]
            pos = end
            if mask is not None:
                payload = bytes(b ^ mask[i & 3] for i, b in enumerate(payload))
            opcode = b0 & 0x0F
            fin = b0 & 0x80
            if opcode == 0x1 or opcode == 0x2 or opcode == 0x0:
                if not fin or self.frag is not None:  # fragmented message (rare: servers send small frames whole)
                    self.frag = (self.frag or b"") + payload
                    if not fin:
                        continue
                    payload, self.frag = self.frag, None
                self.on_message(payload, now)
            elif opcode == 0x9:
                self.transport.write(client_frame(0xA, payload))
            elif opcode == 0x8:
                self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                if self.transport is not None and not self.transport.is_closing():
                    self.transport.write(client_frame(0x8, payload[:2]))
                    self.transport.close()
                if not self.ready.done():
                    code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None
                    self._fail(ConnectionError(f"closed by server during set-up, code {code}"))
                return
        self.buf = buf[pos:] if pos < n else b""

    def on_message(self, payload: bytes, now: float):
        w = self.w
        if w.kind == "sio":
            head = payload[:2]
            if head == b"42":
                pass
            elif payload == b"2":  # Engine.IO ping
                self.send_text(b"3")
                return
            elif payload[:1] == b"0":  # Engine.IO open: join the default namespace
                self.send_text(b"40")
                return
            elif head == b"40":
                self._set_ready()
                return
            elif head == b"44":
                self._fail(ConnectionError("Socket.IO connect refused: " + payload[2:80].decode("utf-8", "replace")))
                return
            else:
                return
        info = w.parse(payload)
        if len(info) == 4:
            w.record(self, info, now)
            if w.ack and info[3] is not None:
                if w.ack_jitter > 0 or w.ack_delay > 0:
                    w.loop.call_later(w.ack_delay + random.random() * w.ack_jitter, self.send_text, info[3])
                else:
                    self.send_text(info[3])
                w.acks_sent += 1
        elif info is _RECENT:
            self._set_ready()
        elif info is _ERROR:
            if not self.ready.done():
                self._fail(ConnectionError("error frame during set-up: " + payload[:120].decode("utf-8", "replace")))
            else:
                w.errors_after_connect += 1


async def main() -> None:
    raise_nofile()
    worker = Worker()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=256 * 1024 * 1024)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    out = sys.stdout
    while True:
        line = await reader.readline()
        if not line:  # the driver went away: drop everything and stop by ourselves
            worker.quit()
            return
        cmd = _loads(line)
        op = cmd["op"]
        if op == "connect":
            reply = await worker.connect(cmd)
        elif op == "stats":
            reply = worker.stats(cmd)
        elif op == "ack":  # turn acknowledgements of notification frames on or off
            worker.ack = bool(cmd["on"])
            worker.ack_jitter = float(cmd.get("jitter") or 0.0)
            worker.ack_delay = float(cmd.get("delay") or 0.0)
            reply = {"ack": worker.ack, "jitter": worker.ack_jitter, "delay": worker.ack_delay}
        elif op == "quit":
            reply = worker.quit()
        else:
            reply = {"error": f"unknown op {op!r}"}
        out.write(_dumps(reply) + "\n")
        out.flush()
        if op == "quit":
            await asyncio.sleep(0.2)
            return


def run() -> None:
    try:
        import uvloop

        uvloop.run(main())
    except ImportError:
        asyncio.run(main())


if __name__ == "__main__":
    run()
