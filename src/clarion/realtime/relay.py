"""The relay's timer: every serving process sweeps the logs every RELAY_INTERVAL for rows
nobody sequenced and pushes that failed (the sweeps themselves: clarion.streams.relay).
"""

import asyncio
import logging

from asgiref.sync import sync_to_async

from clarion.conf import clarion_settings
from clarion.realtime.publish import publish_backlogs
from clarion.streams.relay import publish_pending

logger = logging.getLogger("clarion.relay")

_tasks: dict[asyncio.AbstractEventLoop, asyncio.Task] = {}


async def _run() -> None:
    while True:
        try:
            await sync_to_async(publish_pending)()
        except Exception:  # the database may be down; the next sweep tries again
            logger.warning("relay sweep failed; retrying", exc_info=True)
        try:
            await sync_to_async(publish_backlogs)()
        except Exception:
            logger.warning("relay backlog sweep failed; retrying", exc_info=True)
        await asyncio.sleep(clarion_settings.RELAY_INTERVAL)


def ensure_started() -> None:
    """Start this event loop's relay if it is not running (idempotent, cheap)."""
    loop = asyncio.get_running_loop()
    task = _tasks.get(loop)
    if task is None or task.done():
        _tasks[loop] = loop.create_task(_run(), name="clarion-relay")


async def stop() -> None:
    """Cancel this event loop's relay (at shutdown)."""
    import contextlib

    task = _tasks.pop(asyncio.get_running_loop(), None)
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
