"""What one server process measures about itself for the health snapshot: open sockets,
message rates (deltas of the Prometheus counters), CPU, memory, and recent log records.

Pure measurement: nothing here reaches the hub, the broker or the database. The monitor that
runs it on a timer lives in clarion.realtime.health_monitor (see its docstring for the whole
cycle), the aggregation in clarion.observability.aggregate.
"""

import logging
import os
import time
from collections import deque
from datetime import datetime, timezone

from clarion.conf import clarion_settings
from clarion.observability import metrics

TTL_INTERVALS = 3  # a record lives this many intervals after it was written
RATE_KINDS = ("frames_in", "frames_out", "deliveries")
LOG_WINDOW = 60.0  # seconds of log records counted

UP, DOWN, UNKNOWN, NOT_USED = "up", "down", "unknown", "not used"


def interval() -> float:
    return float(clarion_settings.HEALTH_INTERVAL)


def check_timeout(every: float) -> float:
    """How long a check (or a store operation) may take before it counts as failed."""
    return max(1.0, every)


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


# -- log records ---------------------------------------------------------------------------


class LogRecordCounter(logging.Handler):
    """Counts WARNING and ERROR-or-worse records of the loggers it is attached to."""

    def __init__(self, window: float = LOG_WINDOW, clock=time.monotonic, limit: int = 100_000):
        super().__init__(level=logging.WARNING)
        self.window = window
        self.clock = clock
        self._warnings: deque[float] = deque(maxlen=limit)
        self._errors: deque[float] = deque(maxlen=limit)

    def emit(self, record):  # called with the handler's lock held
        (self._errors if record.levelno >= logging.ERROR else self._warnings).append(self.clock())

    def counts(self) -> tuple[int, int]:
        """(warnings, errors) in the last ``window`` seconds."""
        horizon = self.clock() - self.window
        with self.lock:
            for times in (self._warnings, self._errors):
                while times and times[0] <= horizon:
                    times.popleft()
            return len(self._warnings), len(self._errors)


_log_counter: LogRecordCounter | None = None


def log_counter() -> LogRecordCounter:
    """The process's counter, attached to the ``clarion`` logger on first use."""
    global _log_counter
    if _log_counter is None:
        _log_counter = LogRecordCounter()
        logging.getLogger("clarion").addHandler(_log_counter)
    return _log_counter


# -- this process's figures ----------------------------------------------------------------


def _counter_total(counter) -> float:
    return sum(s.value for family in counter.collect() for s in family.samples if s.name.endswith("_total"))


def open_connections() -> dict[str, int]:
    samples = (s for family in metrics.CONNECTIONS.collect() for s in family.samples)
    return dict(sorted((s.labels["endpoint"], int(s.value)) for s in samples))


_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_bytes() -> int:
    """Resident set size now (Linux), else the peak the kernel reports (other systems)."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE_SIZE
    except (OSError, IndexError, ValueError):
        import resource
        import sys

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


class ProcessSampler:
    """Rates and CPU between two consecutive samples."""

    def __init__(self, clock=time.monotonic, cpu_clock=time.process_time):
        self._clock, self._cpu_clock = clock, cpu_clock
        self._last = self._read()

    def _read(self) -> dict:
        return {
            "wall": self._clock(),
            "cpu": self._cpu_clock(),
            "frames_in": _counter_total(metrics.FRAMES_IN),
            "frames_out": _counter_total(metrics.FRAMES_OUT),
            "deliveries": _counter_total(metrics.DELIVERIES),
        }

    def sample(self, not_deliveries: float = 0) -> dict:
        """``not_deliveries``: hub deliveries since the last sample that were health probes."""
        now, last = self._read(), self._last
        self._last = now
        elapsed = now["wall"] - last["wall"]
        if elapsed <= 0:
            return {"rates": dict.fromkeys(RATE_KINDS, 0.0), "cpu_percent": 0.0}
        rates = {kind: max(0.0, now[kind] - last[kind]) / elapsed for kind in RATE_KINDS}
        rates["deliveries"] = max(0.0, rates["deliveries"] - not_deliveries / elapsed)
        return {
            "rates": {kind: round(value, 3) for kind, value in rates.items()},
            "cpu_percent": round(100.0 * (now["cpu"] - last["cpu"]) / elapsed, 2),
        }


# -- aggregation (pure) --------------------------------------------------------------------
