"""Reconnect delays: exponential backoff with full jitter, capped, with an optional attempt limit.

Full jitter (a uniform draw between 0 and the exponential bound) spreads the reconnects of many
clients that lost the same server at the same moment, so a restarted server is not hit by all of
them at once.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    base: float = 0.5
    cap: float = 30.0
    # Connection attempts in a row that may fail before the client gives up; None: never give up.
    max_attempts: int | None = None
    rng: random.Random = field(default_factory=random.Random, repr=False)
    failures: int = 0

    def __post_init__(self):
        if not 0 < self.base <= self.cap:
            raise ValueError("backoff needs 0 < base <= cap")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1, or None for no limit")

    def bound(self) -> float:
        """The largest delay before the next attempt."""
        # The exponent is clamped so that a client retrying for days cannot overflow a float.
        return min(self.cap, self.base * 2 ** min(self.failures, 64))

    def delay(self) -> float | None:
        """The delay before the next attempt, or None once ``max_attempts`` attempts in a row failed."""
        if self.max_attempts is not None and self.failures >= self.max_attempts:
            return None
        return self.rng.uniform(0, self.bound())

    def failed(self) -> None:
        """An attempt did not reach a working connection."""
        self.failures += 1

    def reset(self) -> None:
        """A connection worked: after it drops, reconnecting starts from the smallest delay."""
        self.failures = 0
