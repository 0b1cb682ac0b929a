"""Per-user limits on what a socket may send. Hand-written: they are a few lines, and the
ASGI rate-limit libraries limit HTTP requests, not frames inside one socket."""

import asyncio
import time


class TokenBucket:
    """``rate`` actions per second on average, ``burst`` at once."""

    __slots__ = ("rate", "burst", "tokens", "stamp")

    def __init__(self, rate: float, burst: int):
        self.rate, self.burst = rate, burst
        self.tokens, self.stamp = float(burst), time.monotonic()

    def take(self) -> float:
        """0 if allowed (a token is spent), else the seconds until one is available."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


class TrailingThrottle:
    """At most one call per ``interval``; a value submitted inside the gap replaces any
    earlier one and is sent when the gap ends, so the last state (typing stopped, the
    final cursor position) always arrives."""

    def __init__(self, interval: float, send):
        self.interval, self.send = interval, send
        self._last = 0.0
        self._pending = None
        self._timer = None

    async def submit(self, value) -> None:
        wait = self._last + self.interval - time.monotonic()
        if wait <= 0 and self._timer is None:
            self._last = time.monotonic()
            await self.send(value)
            return
        self._pending = value
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(max(wait, 0), self._flush)

    def _flush(self) -> None:
        self._timer = None
        value, self._pending = self._pending, None
        self._last = time.monotonic()
        asyncio.get_running_loop().create_task(self.send(value))

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
