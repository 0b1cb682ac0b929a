"""The relay's timer: every serving process sweeps the logs every RELAY_INTERVAL for rows
nobody sequenced and pushes that failed (the sweeps themselves: clarion.streams.relay).
"""

import asyncio
import contextlib
import logging

from asgiref.sync import sync_to_async

from clarion.conf import clarion_settings
from clarion.realtime.publish import publish_backlogs
from clarion.realtime.tasks import PerLoop
from clarion.streams.relay import publish_pending

logger = logging.getLogger("clarion.relay")

# A sweep holds a stream's lock while it pushes, and its pushes run on this event loop. A sweep
# cancelled half-way, its loop then closed, would leave the thread waiting for that loop forever
# with the lock held: so stopping lets the sweep in progress finish first.
STOP_GRACE_SECONDS = 10.0


async def _run(stopping: asyncio.Event) -> None:
    while not stopping.is_set():
        try:
            await sync_to_async(publish_pending)()
        except Exception:  # the database may be down; the next sweep tries again
            logger.warning("relay sweep failed; retrying", exc_info=True)
        try:
            await sync_to_async(publish_backlogs)()
        except Exception:
            logger.warning("relay backlog sweep failed; retrying", exc_info=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), clarion_settings.RELAY_INTERVAL)


_relay = PerLoop("clarion-relay", _run, STOP_GRACE_SECONDS, logger)
# Start this event loop's relay if it is not running (idempotent, cheap).
ensure_started = _relay.ensure_started
# Stop this event loop's relay (at shutdown) once its sweep in progress is done.
stop = _relay.stop
