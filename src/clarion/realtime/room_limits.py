"""What one user may do in one room on this process, however many sockets they open.

Issue 10 found the typing and cursor throttles kept per socket: with 40 tabs one user relayed
40 times the documented rate, and connect/close cycling was not limited at all. Here all the
sockets of a user in a room share one entry: a join allowance (token bucket), the chat
allowance, and the typing and cursor throttles.

An entry lives while a socket holds it, and after the last one goes until every allowance in it
would have refilled and every throttle gap ended: from then on a fresh entry behaves exactly
like the old one, so dropping it forgets nothing and the table holds only active users.

The chat allowance is shared by every process through Redis when there is one
(chat_allowance; clarion.realtime.shared_limits), falling back to this process's bucket while
Redis does not answer. The join allowance and the typing and cursor throttles stay per process:
they bound what one process spends on one user's presence and relays.
"""

import asyncio
import time
import weakref

from clarion.conf import clarion_settings
from clarion.realtime.shared_limits import Unavailable, shared_limits
from clarion.realtime.throttle import TokenBucket, TrailingThrottle


class RoomUser:
    """One user's allowances in one room; hold it with ``RoomLimits.enter``."""

    __slots__ = ("sockets", "joins", "chat", "throttles", "touched", "timer")

    def __init__(self):
        self.sockets = 0
        rate, burst = float(clarion_settings.ROOM_JOIN_RATE), int(clarion_settings.ROOM_JOIN_BURST)
        self.joins = TokenBucket(rate, burst) if rate and burst else None
        self.chat = TokenBucket(float(clarion_settings.CHAT_RATE), int(clarion_settings.CHAT_BURST))
        self.throttles: dict[str, TrailingThrottle] = {}
        self.touched = time.monotonic()
        self.timer = None

    def throttle(self, name: str, interval: float, make_send) -> TrailingThrottle:
        """The throttle ``name`` shared by this user's sockets; ``make_send()`` builds its
        sender the first time (a sender must not hold a socket: it outlives them)."""
        throttle = self.throttles.get(name)
        if throttle is None:
            throttle = self.throttles[name] = TrailingThrottle(interval, make_send())
        return throttle


def _horizon() -> float:
    """Seconds after its last use an idle entry is indistinguishable from a new one."""
    spans = [float(clarion_settings.TYPING_INTERVAL), float(clarion_settings.CURSOR_INTERVAL)]
    for rate, burst in ((clarion_settings.ROOM_JOIN_RATE, clarion_settings.ROOM_JOIN_BURST),
                        (clarion_settings.CHAT_RATE, clarion_settings.CHAT_BURST)):
        if rate and burst:
            spans.append(float(burst) / float(rate))
    return max(spans)


class RoomLimits:
    def __init__(self):
        self._entries: dict[tuple, RoomUser] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def _entry(self, user_id, room) -> RoomUser:
        key = (str(user_id), str(room))
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = RoomUser()
        entry.touched = time.monotonic()
        return entry

    def admit(self, user_id, room) -> float:
        """Spend one join of the user's allowance for this room: 0 if they may join, else the
        seconds until they may (refused joins count too: retrying at once does not help)."""
        entry = self._entry(user_id, room)
        if entry.sockets == 0:
            self._expire_later((str(user_id), str(room)), entry)
        return entry.joins.take() if entry.joins is not None else 0.0

    def enter(self, user_id, room) -> RoomUser:
        entry = self._entry(user_id, room)
        entry.sockets += 1
        if entry.timer is not None:
            entry.timer.cancel()
            entry.timer = None
        return entry

    def leave(self, user_id, room) -> None:
        key = (str(user_id), str(room))
        entry = self._entries.get(key)
        if entry is None or entry.sockets == 0:
            return
        entry.sockets -= 1
        if entry.sockets == 0:
            # Nobody is left to see a trailing frame sent after they went.
            for throttle in entry.throttles.values():
                throttle.cancel()
            entry.touched = time.monotonic()
            self._expire_later(key, entry)

    def _expire_later(self, key, entry: RoomUser) -> None:
        if entry.timer is None:
            entry.timer = asyncio.get_running_loop().call_later(_horizon(), self._expire, key)

    def _expire(self, key) -> None:
        entry = self._entries.get(key)
        if entry is None:
            return
        entry.timer = None
        if entry.sockets:
            return
        left = entry.touched + _horizon() - time.monotonic()
        if left > 0:
            entry.timer = asyncio.get_running_loop().call_later(left, self._expire, key)
            return
        del self._entries[key]


_per_loop: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, RoomLimits]" = weakref.WeakKeyDictionary()


def room_limits() -> RoomLimits:
    """This event loop's table (each test runs on its own loop)."""
    loop = asyncio.get_running_loop()
    table = _per_loop.get(loop)
    if table is None:
        table = _per_loop[loop] = RoomLimits()
    return table


async def chat_allowance(user_id, room, entry: RoomUser) -> float:
    """0 if the user may send a chat message to the room now, else the seconds until they may:
    counted across processes through Redis, else by ``entry``'s bucket on this process."""
    store = shared_limits()
    if store is not None:
        try:
            return await store.take(str(user_id), str(room), float(clarion_settings.CHAT_RATE),
                                    int(clarion_settings.CHAT_BURST))
        except Unavailable:
            pass
    return entry.chat.take()
