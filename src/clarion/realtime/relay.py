"""The outbox relay: publishes committed rows (notifications, project events, chat messages)
that no one has published yet.

They exist when the creating process could not push (a CLI on the embedded in-process layer,
a crash between commit and push, a failed sequencing). Every serving process runs one; the
publish lock makes sure each notification is sequenced and pushed exactly once.
"""

import asyncio
import logging

from asgiref.sync import sync_to_async

from clarion.conf import clarion_settings
from clarion.realtime.publish import LOGS, publish_backlogs, sequence_and_publish_row

logger = logging.getLogger("clarion.relay")

_BATCH = 200
_tasks: dict[asyncio.AbstractEventLoop, asyncio.Task] = {}


def publish_pending(limit: int = _BATCH) -> int:
    """Sequence and push unpublished rows of every log, oldest first; returns how many."""
    published = 0
    for log in list(LOGS.values()):
        published += sum(1 for pk in log.pending_ids(limit) if sequence_and_publish_row(log, pk))
    return published


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
