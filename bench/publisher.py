"""Publisher process: triggers publishes the way each stack's users trigger them.

Started by the driver (pinned to core 1, beside the load generator) and driven in JSON lines
over stdin/stdout. Each publish embeds ``t`` = time.time() taken just before publishing, so
latency = client receive time - t covers the whole publish path of that stack:

  control  (websockets floor)  a /control websocket into the server process
  channels (channels-naive)    channel_layer.group_send from this separate process
  sio      (socketio)          a write-only AsyncRedisManager from this separate process
  clarion                      broadcasts: the Python API clarion.send_notification_to_all
                               (Redis variant: it publishes from here) or POST
                               /api/notifications/ (embedded variant: another process cannot
                               reach the server's in-process layer); personal notifications:
                               always POST /api/notifications/ (database insert included)
"""

import argparse
import asyncio
import json
import re
import sys
import time
from collections import Counter, deque

import orjson

from bench.frames import MESSAGE, TITLE, marker, notification_frame

OP_TIMEOUT = 300.0  # no single command may hang the publisher for longer


class ControlBackend:
    """The floor: commands over one websocket; the server acks each after its broadcast() call."""

    def __init__(self, port: int):
        self.port = port
        self.pending: deque = deque()

    async def start(self):
        from websockets.asyncio.client import connect

        # No keepalive pings: a long fan-out on a loaded server must not kill the control link.
        self.ws = await connect(f"ws://127.0.0.1:{self.port}/control", compression=None, max_size=None,
                                ping_interval=None, open_timeout=30)
        self.reader = asyncio.ensure_future(self._read_acks())

    async def _read_acks(self):
        try:
            async for _ in self.ws:
                self.pending.popleft().set_result(None)
        finally:
            while self.pending:
                self.pending.popleft().set_exception(ConnectionError("control socket closed"))

    async def _send(self, head: str, frame: dict):
        fut = asyncio.get_running_loop().create_future()
        self.pending.append(fut)  # acks come back in the order commands were sent
        await self.ws.send(head + "\n" + orjson.dumps(frame).decode())
        await fut

    async def close(self):
        await self.ws.close()

    async def all(self, ph, seq):
        frame = notification_frame(ph, seq)
        await self._send("all", frame)
        return frame["data"]["data"]["t"]

    async def user(self, ph, seq, idx):
        frame = notification_frame(ph, seq, "user", str(idx))
        await self._send(f"user {idx}", frame)
        return frame["data"]["data"]["t"]


class ChannelsBackend:
    async def start(self):
        import django

        django.setup()
        from channels.layers import get_channel_layer

        self.layer = get_channel_layer()

    async def all(self, ph, seq):
        frame = notification_frame(ph, seq)
        await self.layer.group_send("notifications_all", {"type": "notify", "data": frame})
        return frame["data"]["data"]["t"]

    async def user(self, ph, seq, idx):
        frame = notification_frame(ph, seq, "user", str(idx))
        await self.layer.group_send(f"notifications_{idx}", {"type": "notify", "data": frame})
        return frame["data"]["data"]["t"]


class SioBackend:
    def __init__(self, redis_url: str):
        self.redis_url = redis_url

    async def start(self):
        import socketio

        self.mgr = socketio.AsyncRedisManager(self.redis_url, write_only=True)

    async def all(self, ph, seq):
        frame = notification_frame(ph, seq)
        await self.mgr.emit("notification", frame, room="notifications_all", namespace="/")
        return frame["data"]["data"]["t"]

    async def user(self, ph, seq, idx):
        frame = notification_frame(ph, seq, "user", str(idx))
        await self.mgr.emit("notification", frame, room=f"notifications_{idx}", namespace="/")
        return frame["data"]["data"]["t"]


class ClarionBackend:
    def __init__(self, port: int, users_file: str, broadcast: str):
        self.port = port
        self.broadcast = broadcast
        with open(users_file) as fh:
            data = json.load(fh)
        self.user_ids = [u["id"] for u in data["users"]]
        self.user_tokens = [u["token"] for u in data["users"]]
        self.admin_token = data["admin"]["token"]

    async def start(self):
        from bench.restclient import HttpPool

        self.rest = HttpPool("127.0.0.1", self.port, size=8,
                             headers=[("Authorization", f"Bearer {self.admin_token}")])
        if self.broadcast == "api":
            import django

            django.setup()
            from clarion import send_notification_to_all

            self.send_all = send_notification_to_all

    async def _post(self, body: dict):
        status, text = await self.rest.post_json("/api/notifications/", body)
        if status != 201:
            raise RuntimeError(f"HTTP {status}: {_summary(text)}")

    async def all(self, ph, seq, topic=""):
        if self.broadcast == "api":
            def call():
                # t taken in the calling thread, right before the API call (insert + publish)
                data = marker(ph, seq)
                self.send_all(TITLE, MESSAGE, data=data, topic=topic)
                return data["t"]

            return await asyncio.to_thread(call)
        data = marker(ph, seq)
        await self._post({"title": TITLE, "message": MESSAGE, "recipient_type": "all", "data": data, "topic": topic})
        return data["t"]

    async def mute(self, indices, topic):
        """Each of these users mutes ``topic`` with their own token (POST /api/mutes/), 8 at a time."""
        async def one(idx):
            status, text = await self.rest.post_json("/api/mutes/", {"topic": topic},
                                                     headers=[("Authorization", f"Bearer {self.user_tokens[idx]}")])
            if status != 201:
                raise RuntimeError(f"mute: HTTP {status}: {_summary(text)}")

        await asyncio.gather(*(one(idx) for idx in indices))

    async def user(self, ph, seq, idx):
        data = marker(ph, seq)
        await self._post({"title": TITLE, "message": MESSAGE, "recipient_type": "user",
                          "recipient_id": str(self.user_ids[idx]), "data": data})
        return data["t"]


def _summary(body: bytes) -> str:
    """An error body in one short line: an HTML error page by its title."""
    text = body.decode("utf-8", "replace")
    match = re.search(r"<title>(.*?)</title>", text, re.S | re.I)
    if match:
        text = match.group(1)
    return " ".join(text.split())[:100]


def _err(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc)[:100]}"


class Publisher:
    def __init__(self, backend):
        self.b = backend

    async def bcast(self, cmd):
        started = time.time()
        try:
            t = await (self.b.all(cmd["ph"], cmd["seq"], cmd["topic"]) if cmd.get("topic")
                       else self.b.all(cmd["ph"], cmd["seq"]))
        except Exception as exc:
            return {"t": None, "dur": time.time() - started, "error": _err(exc)}
        return {"t": t, "dur": time.time() - started, "error": None}

    async def mute(self, cmd):
        started = time.time()
        await self.b.mute(cmd["indices"], cmd["topic"])
        return {"dur": time.time() - started}

    async def burst(self, cmd):
        """Back to back, each publish awaited (for the floor: until the server acked it)."""
        ts, errors = [], Counter()
        started = time.time()
        for i in range(1, cmd["count"] + 1):
            try:
                ts.append([i, await self.b.all(cmd["ph"], i)])
            except Exception as exc:
                errors[_err(exc)] += 1
        return {"ts": ts, "loop_s": time.time() - started, "errors": dict(errors)}

    async def paced_unicast(self, ph, seq0, targets, rate):
        """Personal notifications at a fixed rate; each runs as its own task so a slow one
        (a REST insert, say) does not delay the schedule of the next."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        tasks = []
        for i, idx in enumerate(targets):
            delay = start + i / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.ensure_future(self.b.user(ph, seq0 + i, idx)))
        results = await asyncio.gather(*tasks, return_exceptions=True)
        sent, errors = [], Counter()
        for i, result in enumerate(results):
            if isinstance(result, BaseException):
                errors[_err(result)] += 1
            else:
                sent.append([seq0 + i, result])
        return sent, dict(errors)

    async def unicast(self, cmd):
        started = time.time()
        sent, errors = await self.paced_unicast(cmd["ph"], cmd.get("seq0", 1), cmd["targets"], cmd["rate"])
        return {"sent": sent, "errors": errors, "dur": time.time() - started}

    async def hol(self, cmd):
        """One broadcast, and personal notifications starting right behind it."""
        b_task = asyncio.ensure_future(self.bcast({"ph": cmd["ph_b"], "seq": cmd["seq_b"]}))
        await asyncio.sleep(0)  # let the broadcast leave first
        sent, errors = await self.paced_unicast(cmd["ph_u"], cmd["seq0"], cmd["targets"], cmd["rate"])
        b = await b_task
        return {"t_b": b["t"], "b_error": b["error"], "b_dur": b["dur"], "sent": sent, "errors": errors}


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", required=True, choices=["control", "channels", "sio", "clarion"])
    parser.add_argument("--port", type=int)
    parser.add_argument("--redis")
    parser.add_argument("--users")
    parser.add_argument("--broadcast", choices=["api", "rest"], default="rest")
    args = parser.parse_args()
    backend = {
        "control": lambda: ControlBackend(args.port),
        "channels": ChannelsBackend,
        "sio": lambda: SioBackend(args.redis),
        "clarion": lambda: ClarionBackend(args.port, args.users, args.broadcast),
    }[args.mode]()
    await backend.start()
    pub = Publisher(backend)

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=64 * 1024 * 1024)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = await reader.readline()
        if not line:
            return  # the driver went away
        cmd = orjson.loads(line)
        op = cmd["op"]
        if op == "quit":
            if hasattr(backend, "close"):
                await asyncio.wait_for(backend.close(), 5)
            return
        handler = {"hello": None, "bcast": pub.bcast, "burst": pub.burst, "unicast": pub.unicast,
                   "hol": pub.hol, "mute": pub.mute}.get(op, "unknown")
        if handler is None:
            reply = {"ok": True}
        elif handler == "unknown":
            reply = {"error": f"unknown op {op!r}"}
        else:
            try:
                reply = await asyncio.wait_for(handler(cmd), OP_TIMEOUT)
            except Exception as exc:
                reply = {"error": _err(exc)}
        sys.stdout.write(orjson.dumps(reply).decode() + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.run(main())
    except ImportError:
        asyncio.run(main())
