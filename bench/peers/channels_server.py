"""Serve the naive Channels design with uvicorn (uvloop, httptools, ws=websockets)."""

import argparse
import os

import uvicorn

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.peers.channels_naive.settings")
    uvicorn.run("bench.peers.channels_naive.asgi:application", host="127.0.0.1", port=args.port, ws="websockets",
                log_level="warning", lifespan="off")
