"""Per-socket writes that never make a fan-out wait.

Why hand-written: a fan-out loop that awaits each socket's ASGI ``send`` stalls behind the
first client whose TCP buffer is full (the ASGI server pauses writes until it drains). The
outbox runs ``send`` eagerly: when the server can write at once (the common case, and the
whole of uvicorn's ``send`` then completes without suspending), the frame is written inside
the fan-out loop with no task switch. Only when ``send`` would suspend does a background task
take over that socket, and later frames queue behind it, bounded: a client that stops reading
is cut off (CloseCode.SLOW_CONSUMER) instead of growing the server's memory.
"""

import asyncio
from collections import deque


class _Continue:
    """Awaitable finishing a coroutine that already ran up to its first suspension.

    It re-yields what the coroutine yielded (a future) to the driving Task and forwards the
    Task's answers, so the coroutine resumes exactly as if a Task had run it from the start.
    """

    __slots__ = ("_coro", "_yielded")

    def __init__(self, coro, yielded):
        self._coro = coro
        self._yielded = yielded

    def __await__(self):
        to_yield = self._yielded
        while True:
            try:
                sent = yield to_yield
            except BaseException as exc:  # cancellation and errors go into the coroutine
                try:
                    to_yield = self._coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    to_yield = self._coro.send(sent)
                except StopIteration as stop:
                    return stop.value


class Outbox:
    __slots__ = ("_send", "_limit", "_on_overflow", "_backlog", "_task", "closed")

    def __init__(self, send, *, limit: int, on_overflow):
        self._send = send
        self._limit = limit
        self._on_overflow = on_overflow
        self._backlog = None  # a deque while a background task owns the socket
        self._task = None
        self.closed = False

    def push(self, text: str) -> None:
        if self.closed:
            return
        if self._backlog is not None:
            if len(self._backlog) >= self._limit:
                self.closed = True
                self._backlog.clear()
                self._on_overflow()
                return
            self._backlog.append(text)
            return
        coro = self._send({"type": "websocket.send", "text": text})
        try:
            yielded = coro.send(None)
        except StopIteration:
            return  # written synchronously
        except Exception:
            self.closed = True  # the socket is gone; its disconnect is on its way
            return
        self._backlog = deque()
        self._task = asyncio.get_running_loop().create_task(self._finish(coro, yielded))

    async def _finish(self, coro, yielded) -> None:
        try:
            await _Continue(coro, yielded)
            while self._backlog:
                text = self._backlog.popleft()
                await self._send({"type": "websocket.send", "text": text})
        except Exception:
            self.closed = True
        finally:
            self._backlog = None
            self._task = None

    @property
    def backlog(self) -> int:
        return len(self._backlog) if self._backlog is not None else 0

    def discard(self) -> None:
        """The socket closed: drop what is queued and stop writing."""
        self.closed = True
        if self._backlog is not None:
            self._backlog.clear()
        if self._task is not None:
            self._task.cancel()
