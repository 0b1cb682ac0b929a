"""Stopping a background task for good.

Why not ``task.cancel(); await task``: on Python 3.11 ``asyncio.wait_for`` can swallow a
cancellation that arrives just as the future it waits on completes (CPython gh-86296, fixed in
3.12). A background loop cancelled at that moment goes on running: a server whose start failed
(its port taken) then waited forever at shutdown for its health monitor, which had swallowed the
cancel inside a ``wait_for`` and gone back to sleep. So: cancel, wait a little, cancel again.
"""

import asyncio

RETRY_SECONDS = 0.25
MAX_ATTEMPTS = 40  # 10 s: a task that survives this many cancels is left to the process's exit


async def cancel_and_wait(task: asyncio.Task | None) -> bool:
    """Cancel ``task`` until it has ended; whether it did (it is never awaited for its result)."""
    if task is None:
        return True
    for _ in range(MAX_ATTEMPTS):
        if task.done():
            break
        task.cancel()
        await asyncio.wait({task}, timeout=RETRY_SECONDS)
    if task.done() and not task.cancelled():
        task.exception()  # retrieved, so that asyncio does not log it as never retrieved
    return task.done()


class PerLoop:
    """A background loop, one per event loop (a serving process has one): started idempotently,
    stopped by setting its ``stopping`` event and letting the round in progress finish (``grace``
    seconds at most, then cancelled until it ends). The relay and the timers are two."""

    def __init__(self, name: str, body, grace: float, logger=None):
        self.name = name
        self.body = body  # coroutine function taking the asyncio.Event that asks it to stop
        self.grace = grace
        self.logger = logger
        self._running: dict[asyncio.AbstractEventLoop, tuple[asyncio.Task, asyncio.Event]] = {}

    def ensure_started(self) -> None:
        loop = asyncio.get_running_loop()
        running = self._running.get(loop)
        if running is None or running[0].done():
            stopping = asyncio.Event()
            self._running[loop] = (loop.create_task(self.body(stopping), name=self.name), stopping)

    async def stop(self) -> None:
        running = self._running.pop(asyncio.get_running_loop(), None)
        if running is None:
            return
        task, stopping = running
        stopping.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), self.grace)
        except TimeoutError:
            if self.logger is not None:
                self.logger.warning("%s did not finish its round within %s s; cancelling it", self.name, self.grace)
            await cancel_and_wait(task)
