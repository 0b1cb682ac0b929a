"""python-socketio AsyncServer (ASGI, uvicorn) with AsyncRedisManager and rooms.

Clients: /socket.io/?EIO=4&transport=websocket&uid=N join the rooms ``notifications_all`` and
``notifications_N``. Publishes come from a separate process through a write-only
AsyncRedisManager (bench/publisher.py), as a Django site would emit from its workers.
"""

import argparse
from urllib.parse import parse_qs

import socketio
import uvicorn


def build(redis_url: str):
    sio = socketio.AsyncServer(async_mode="asgi", client_manager=socketio.AsyncRedisManager(redis_url),
                               cors_allowed_origins="*", logger=False, engineio_logger=False)

    @sio.event
    async def connect(sid, environ, auth=None):
        uid = parse_qs(environ.get("QUERY_STRING", "")).get("uid", ["0"])[0]
        await sio.enter_room(sid, "notifications_all")
        await sio.enter_room(sid, f"notifications_{uid}")

    return socketio.ASGIApp(sio)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis", required=True)
    args = parser.parse_args()
    # ws="websockets", as the anchor ran uvicorn (uvloop and httptools are picked automatically)
    uvicorn.run(build(args.redis), host="127.0.0.1", port=args.port, ws="websockets", log_level="warning",
                lifespan="off")
