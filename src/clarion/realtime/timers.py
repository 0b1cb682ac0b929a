"""Per-process timed jobs that reach this process's own sockets (a snoozed notification coming
back, an expired one leaving).

Each serving process runs the registered jobs every TICK seconds for the sockets it holds and
delivers to them directly through its hub, never through the broker: every process does the
same for its own sockets, so nothing is sent twice and no process needs to claim a row. The
domain registers its jobs at start-up (clarion.apps); this layer knows none of them.
"""

import asyncio
import contextlib
import logging
import time

from clarion.realtime.tasks import PerLoop

logger = logging.getLogger("clarion.timers")

TICK = 1.0  # seconds between runs: a snooze comes back within a second of its time

# job(hub, since, now): a coroutine delivering what fell due in (since, now] (epoch seconds)
_jobs: list = []


def register(job) -> None:
    if job not in _jobs:
        _jobs.append(job)


async def _run(stopping: asyncio.Event) -> None:
    from clarion.realtime.hub import get_hub

    since = time.time()
    while not stopping.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), TICK)
        now = time.time()
        for job in list(_jobs):
            try:
                await job(get_hub(), since, now)
            except Exception:  # the database may be down: the window is retried next tick
                logger.warning("timed job %s failed; retrying", getattr(job, "__name__", job), exc_info=True)
                now = since
                break
        since = now


_timers = PerLoop("clarion-timers", _run, 5.0, logger)
ensure_started = _timers.ensure_started  # idempotent, cheap
stop = _timers.stop
