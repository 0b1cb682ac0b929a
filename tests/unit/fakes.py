import asyncio
import json


class RecordingOutbox:
    """Stands in for a socket's outbox: records, in order, the frames the hub hands it."""

    closed = False

    def __init__(self):
        self.frames = []

    def push(self, text):
        self.frames.append(json.loads(text))

    def discard(self):
        self.closed = True

    @property
    def seqs(self):
        return [f["seq"] for f in self.frames]


async def wait_for(predicate, timeout=3.0) -> bool:
    """Whether ``predicate()`` became true within ``timeout`` seconds (polled every 20 ms)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True
