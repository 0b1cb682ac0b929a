"""A bounded memory of delivered notification ids.

Resume by cursor already sends nothing twice; this is the client's own guarantee on top of it,
for the cases the server cannot rule out (a fresh snapshot after an invalid or expired cursor,
two server processes catching up the same socket). Bounded so that a client running for months
holds a constant amount of memory; the oldest ids are forgotten first.
"""

from collections import OrderedDict


class SeenIds:
    def __init__(self, capacity: int = 10_000):
        if capacity < 1:
            raise ValueError("dedupe capacity must be at least 1")
        self.capacity = capacity
        self._ids: OrderedDict[int, None] = OrderedDict()

    def __contains__(self, notification_id: int) -> bool:
        return notification_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, notification_id: int) -> bool:
        """Remember an id; False when it was already remembered (a duplicate)."""
        if notification_id in self._ids:
            return False
        self._ids[notification_id] = None
        if len(self._ids) > self.capacity:
            self._ids.popitem(last=False)
        return True
