"""The floor: raw ``websockets`` (new asyncio API), sets of connections per group,
``websockets.broadcast()`` (the frame is encoded once, written to every socket).

Clients: /ws?uid=N joins ``notifications_all`` and ``notifications_N``.
Publisher: /control, one text message per publish, "all\\n<frame>" or "user <uid>\\n<frame>",
answered with "ok" once the frame was handed to every socket (so an awaited publish means
the fan-out call is done, as in the anchor method).
"""

import argparse
import asyncio
from collections import defaultdict
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import broadcast, serve
from websockets.exceptions import ConnectionClosed

groups: dict[str, set] = defaultdict(set)


async def control(ws):
    try:
        async for message in ws:
            head, _, frame = message.partition("\n")
            if head == "all":
                broadcast(groups["notifications_all"], frame)
            elif head.startswith("user "):
                broadcast(groups.get("notifications_" + head[5:], ()), frame)
            await ws.send("ok")
    except ConnectionClosed:  # the publisher went away at the end of a run
        pass


async def handler(ws):
    parts = urlsplit(ws.request.path)
    if parts.path.startswith("/control"):
        return await control(ws)
    uid = parse_qs(parts.query).get("uid", ["0"])[0]
    names = ("notifications_all", f"notifications_{uid}")
    for name in names:
        groups[name].add(ws)
    try:
        await ws.wait_closed()
    finally:
        for name in names:
            groups[name].discard(ws)


async def main(port: int):
    # compression=None: the clients offer none anyway; say so explicitly. backlog=2048 is
    # uvicorn's default, so every stack queues SYNs alike.
    async with serve(handler, "127.0.0.1", port, compression=None, max_size=2**20, backlog=2048) as server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.run(main(args.port))
    except ImportError:
        asyncio.run(main(args.port))
