"""Keep the collector's full passes away from the sockets a serving process holds.

At 10,000 sockets a process holds a few million objects that live as long as their sockets,
and CPython's full (generation 2) collection walks every one of them: 1.2-1.5 s with the event
loop stopped, measured during a 10,000-socket run on PostgreSQL + Redis, and it came again
every few seconds while sockets connected (each pass waits until the long-lived objects grew by
a quarter). Every message in flight waited that long: the personal-latency spikes of issue 11
(docs/benchmarks.md, "Personal latency at 10,000 sockets").

So, as large Python services do (Instagram's ``gc.freeze()``), what has survived a while is
moved out of the collector's walks: every ``FREEZE_EVERY`` seconds the young generations are
collected and then everything tracked is frozen, so the automatic full passes only walk what
came since. Frozen objects are still freed by reference counting; only garbage in reference
cycles among them waits, until the next ``SWEEP_EVERY``, when they are all unfrozen, one full
collection runs, and they are frozen again: one pause of that length per sweep instead of one
every few seconds, and memory kept in cycles bounded by what closed within a sweep.
"""

import asyncio
import gc
import logging
import time

from clarion.realtime.tasks import cancel_and_wait

logger = logging.getLogger("clarion.gc")

FREEZE_EVERY = 1.0  # seconds: a full pass then walks at most a second of survivors
SWEEP_EVERY = 300.0  # seconds: a full collection over every object, frozen ones included


def freeze_survivors() -> None:
    """Collect the young generations, then take everything left out of future walks."""
    gc.collect(1)
    gc.freeze()


def sweep() -> float:
    """The full collection the freezes postpone; returns its seconds."""
    started = time.perf_counter()
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    return time.perf_counter() - started


async def run(freeze_every: float = FREEZE_EVERY, sweep_every: float = SWEEP_EVERY) -> None:
    next_sweep = time.monotonic() + sweep_every
    while True:
        await asyncio.sleep(freeze_every)
        if time.monotonic() >= next_sweep:
            took = sweep()
            next_sweep = time.monotonic() + sweep_every
            logger.info("full garbage collection over %d frozen objects took %.0f ms", gc.get_freeze_count(),
                        took * 1000)
        else:
            freeze_survivors()


_task: asyncio.Task | None = None


def ensure_started() -> None:
    global _task
    if _task is None or _task.done():
        _task = asyncio.get_running_loop().create_task(run(), name="clarion-gc-policy")


async def stop() -> None:
    global _task
    if _task is not None:
        await cancel_and_wait(_task)
        _task = None
