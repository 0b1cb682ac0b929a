"""System health: each server process measures itself, all processes are aggregated.

Every serving process runs one :class:`HealthMonitor` (started at ASGI lifespan start-up, or
by the first /ws/system-health/ socket). Every ``CLARION["HEALTH_INTERVAL"]`` seconds it

1. samples its own figures (clarion.observability.sampling): open sockets per endpoint, frames in/out and hub deliveries per
   second (deltas of the Prometheus counters in :mod:`clarion.observability.metrics`), CPU
   (``time.process_time`` delta over wall time, percent of one core), resident memory
   (``/proc/self/statm``), WARNING and ERROR records of the ``clarion`` loggers in the last
   minute, and the results of its latest checks;
2. writes that record to the shared health store with a time-to-live of ``TTL_INTERVALS``
   intervals (:mod:`clarion.realtime.health_store`) and reads every live record;
3. aggregates them (clarion.observability.aggregate), updates the cluster gauges served at /metrics, and
   pushes a ``health`` frame to its own /ws/system-health/ sockets.

Checks run beside the ticks, bounded by :func:`check_timeout`, so a hung dependency never
stops the reports: ``SELECT 1`` through ``database_sync_to_async``; ``PING`` to Redis when the
Redis broker is in use; and a probe event published through the hub to a group only this
process subscribes to, timed from publish to delivery (through Redis in scale-out mode).

Bound: a process that stops reporting is dropped from snapshots built more than
``TTL_INTERVALS`` x interval after its last report, so it disappears from what clients see
within ``(TTL_INTERVALS + 1)`` x interval of dying (8 s with the default 2 s). A process that
shuts down gracefully removes its record at once.
"""

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
import weakref

import orjson

from clarion.observability.aggregate import aggregate, update_gauges
from clarion.observability.sampling import (
    DOWN, NOT_USED, TTL_INTERVALS, UNKNOWN, UP, ProcessSampler, check_timeout, interval, iso, log_counter,
    open_connections, rss_bytes,
)
from clarion.protocol.frames import ServerFrameType, encode_frame, server_frame
from clarion.realtime.health_store import make_health_store
from clarion.realtime.tasks import cancel_and_wait

logger = logging.getLogger("clarion.health")


class _ProbeInbox:
    """What the hub takes for a socket's outbox: the probe's way back into this process."""

    closed = False

    def __init__(self, on_text):
        self._on_text = on_text

    def push(self, text):
        self._on_text(text)

    def discard(self):
        self.closed = True


def _failure(exc: BaseException) -> str:
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return "timed out"
    text = f"{type(exc).__name__}: {exc}".strip()
    return text if len(text) <= 200 else text[:197] + "..."


def _select_one() -> float:
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return time.perf_counter() - started


def _parked_rows() -> int:
    """Log rows set aside as unpublishable (clarion.streams.parking; `clarion doctor`)."""
    from clarion.streams import parking

    return parking.count()


class HealthMonitor:
    def __init__(self, every: float | None = None, store=None):
        self.every = interval() if every is None else every
        if not self.every > 0:
            from django.core.exceptions import ImproperlyConfigured

            raise ImproperlyConfigured(f'CLARION["HEALTH_INTERVAL"] must be a positive number, got {self.every!r}')
        self.timeout = check_timeout(self.every)
        self.ttl = self.every * TTL_INTERVALS
        self.store = store if store is not None else make_health_store(timeout=self.timeout)
        self.redis_used = self.store.uses_redis  # the store is Redis exactly when the broker is
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.process_id = f"{self.host}:{self.pid}:{secrets.token_hex(4)}"
        self.started_at = time.time()
        self.latest: dict | None = None
        self._latest_text: str | None = None
        self._watchers: dict = {}  # consumer -> None (insertion-ordered set)
        self._sampler = ProcessSampler()
        self._logs = log_counter()
        self._checks = {"database": {"status": UNKNOWN, "rtt": None},
                        "redis": {"status": NOT_USED if not self.redis_used else UNKNOWN, "rtt": None},
                        "delivery_latency": None}
        self._checks_task: asyncio.Task | None = None
        self._parked_rows: int | None = None
        self._task: asyncio.Task | None = None
        self._probe_group = f"clarion.health.probe.{secrets.token_hex(8)}"
        self._probe_subscription = None
        self._probe_waiter: tuple[int, float, asyncio.Future] | None = None
        self._probe_number = 0
        self._probes_received = 0

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="clarion-health")

    async def stop(self) -> None:
        for task in (self._task, self._checks_task):
            await cancel_and_wait(task)
        self._watchers.clear()
        if self._probe_subscription is not None:
            from clarion.realtime.hub import existing_hub

            hub = existing_hub()
            if hub is not None:
                with contextlib.suppress(Exception):
                    await hub.detach(self._probe_subscription)
            self._probe_subscription = None
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.store.remove(self.process_id), self.timeout)
        with contextlib.suppress(Exception):
            await self.store.close()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            await self._join_probe_group()
        except Exception:
            logger.warning("health: could not subscribe the latency probe", exc_info=True)
        while True:
            started = loop.time()
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("health: tick failed")
            await asyncio.sleep(max(0.0, self.every - (loop.time() - started)))

    # -- sockets --------------------------------------------------------------------------

    async def watch(self, consumer) -> None:
        """Send ``health`` frames to this consumer from now on, the latest one at once."""
        self._watchers[consumer] = None
        if self._latest_text is not None:
            await consumer.send_text(self._latest_text)

    def unwatch(self, consumer) -> None:
        self._watchers.pop(consumer, None)

    # -- one report -----------------------------------------------------------------------

    async def tick(self) -> dict:
        # Fresh check results when they come quickly; otherwise report the previous ones and
        # let the checks finish (each is bounded by self.timeout) beside the next ticks.
        if self._checks_task is None or self._checks_task.done():
            self._checks_task = asyncio.get_running_loop().create_task(self._run_checks(), name="clarion-health-checks")
        await asyncio.wait({self._checks_task}, timeout=self.every / 2)

        now = time.time()
        record = self.local_record(now)
        partial = False
        try:
            await asyncio.wait_for(self.store.put(self.process_id, record, self.ttl), self.timeout)
            records = await asyncio.wait_for(self.store.all(), self.timeout)
        except Exception as exc:
            partial, records = True, []
            logger.debug("health: shared store unavailable (%s)", _failure(exc))
        if not any(r.get("id") == self.process_id for r in records):
            records.append(record)
        snapshot = aggregate(records, every=self.every, now=now, partial=partial)
        self.latest = snapshot
        update_gauges(snapshot)
        self._latest_text = encode_frame(server_frame(ServerFrameType.HEALTH, snapshot))
        for consumer in list(self._watchers):
            await consumer.send_text(self._latest_text)
        return snapshot

    def local_record(self, now: float) -> dict:
        probes, self._probes_received = self._probes_received, 0
        sample = self._sampler.sample(not_deliveries=probes)
        warnings, errors = self._logs.counts()
        return {
            "id": self.process_id,
            "host": self.host,
            "pid": self.pid,
            "started_at": iso(self.started_at),
            "reported_at": iso(now),
            "connections": open_connections(),
            "rates": sample["rates"],
            "delivery_latency": self._checks["delivery_latency"],
            "database": dict(self._checks["database"]),
            "redis": dict(self._checks["redis"]),
            "cpu_percent": sample["cpu_percent"],
            "rss_bytes": rss_bytes(),
            "warnings_last_minute": warnings,
            "errors_last_minute": errors,
            "parked_rows": self._parked_rows,
        }

    # -- checks ---------------------------------------------------------------------------

    async def _run_checks(self) -> None:
        jobs = [self._check_database(), self._probe()]
        if self.redis_used:
            jobs.append(self._check_redis())
        await asyncio.gather(*jobs)

    async def _timed(self, name: str, measure) -> None:
        previous = self._checks[name]["status"]
        try:
            rtt = await asyncio.wait_for(measure(), self.timeout)
            self._checks[name] = {"status": UP, "rtt": round(rtt, 6)}
            if previous == DOWN:
                logger.info("health: %s is answering again", name)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._checks[name] = {"status": DOWN, "rtt": None, "error": _failure(exc)}
            if previous != DOWN:
                logger.warning("health: %s check failed: %s", name, _failure(exc))

    async def _check_database(self) -> None:
        from channels.db import database_sync_to_async

        await self._timed("database", database_sync_to_async(_select_one))
        if self._checks["database"]["status"] == UP:
            try:
                self._parked_rows = await asyncio.wait_for(database_sync_to_async(_parked_rows)(), self.timeout)
            except asyncio.CancelledError:
                raise
            except Exception:  # the database check above reports trouble; keep the last count
                pass

    async def _check_redis(self) -> None:
        await self._timed("redis", self.store.ping)

    async def _join_probe_group(self) -> None:
        from clarion.realtime.hub import get_hub

        hub = get_hub()
        subscription = hub.attach(_ProbeInbox(self._on_probe), on_resync=self._on_probe_resync)
        await hub.join(subscription, [self._probe_group])
        hub.mark_ready(subscription, 0)
        self._probe_subscription = subscription

    async def _on_probe_resync(self) -> None:
        # The broker reconnected and the hub marked every subscription not ready: the probe
        # has no history to catch up on, it is ready again at once.
        from clarion.realtime.hub import existing_hub

        hub = existing_hub()
        if hub is not None and self._probe_subscription is not None:
            hub.mark_ready(self._probe_subscription, 0)

    def _on_probe(self, text: str) -> None:
        received = time.perf_counter()
        self._probes_received += 1
        try:
            number = orjson.loads(text)["n"]
        except (ValueError, KeyError, TypeError):
            return
        if self._probe_waiter is not None:
            expected, sent, future = self._probe_waiter
            if number == expected and not future.done():
                future.set_result(received - sent)

    async def _probe(self) -> None:
        """Publish-to-deliver time of one event through the hub and its broker."""
        if self._probe_subscription is None:
            self._checks["delivery_latency"] = None
            return
        from clarion.realtime.hub import get_hub

        self._probe_number += 1
        future = asyncio.get_running_loop().create_future()
        sent = time.perf_counter()
        self._probe_waiter = (self._probe_number, sent, future)
        frame = orjson.dumps({"n": self._probe_number, "sent_at": time.time()}).decode()
        try:
            await asyncio.wait_for(get_hub().publish(self._probe_group, {"type": "health.probe", "frame": frame}),
                                   self.timeout)
            latency = await asyncio.wait_for(future, max(0.0, self.timeout - (time.perf_counter() - sent)))
            self._checks["delivery_latency"] = round(latency, 6)
        except asyncio.CancelledError:
            raise
        except Exception:
            self._checks["delivery_latency"] = None  # lost or too slow: not measured this time
        finally:
            self._probe_waiter = None


# -- one monitor per serving event loop ----------------------------------------------------

_monitors: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, HealthMonitor]" = weakref.WeakKeyDictionary()


def ensure_started() -> HealthMonitor:
    """This event loop's monitor, started if it is not running (idempotent, cheap)."""
    loop = asyncio.get_running_loop()
    monitor = _monitors.get(loop)
    if monitor is None:
        monitor = _monitors[loop] = HealthMonitor()
    monitor.start()
    return monitor


def existing_monitor() -> HealthMonitor | None:
    return _monitors.get(asyncio.get_running_loop())


async def stop() -> None:
    """Stop this event loop's monitor and withdraw its record (at shutdown)."""
    monitor = _monitors.pop(asyncio.get_running_loop(), None)
    if monitor is not None:
        await monitor.stop()
