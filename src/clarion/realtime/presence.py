"""Who is in which room, per process, announced to every process through the hub.

Each socket in a room holds a presence entry (clarion.realtime.presence_store). This
process refreshes its sockets' entries and sweeps expired ones every PRESENCE_TTL / 4; a
user's join is announced when their first socket enters, their leave when the last one
goes or expires, to the room's group, so every tab on every process hears it once.

A closed socket's entry lingers for PRESENCE_LEAVE_GRACE before it is removed (issue 10:
604 connect/close cycles sent 1,012 presence frames to every member). A socket of the same
user entering meanwhile, on any process, finds the lingering entry and is not a first join;
when the grace ends the entry goes, and the leave is announced only if no other entry of the
user is left. So a reload or a reconnect costs the room no frames at all.
"""

import asyncio
import itertools
import logging
import os
import weakref

from clarion.conf import clarion_settings
from clarion.protocol import ServerFrameType, encode_frame, server_frame
from clarion.realtime import events, groups
from clarion.realtime.broker import redis_options
from clarion.realtime.hub import get_hub
from clarion.realtime.presence_store import MemoryPresenceStore, RedisPresenceStore

logger = logging.getLogger("clarion.presence")
_ids = itertools.count(1)


class Presence:
    def __init__(self, store):
        self.store = store
        self._local: dict[str, tuple[str, object, str]] = {}  # conn id -> (room, user id, username)
        self._task = None
        self._lingering: set[asyncio.Task] = set()
        self._prefix = f"{os.getpid()}-{id(self):x}-"

    @property
    def ttl(self) -> float:
        return float(clarion_settings.PRESENCE_TTL)

    async def enter(self, room_id, user_id, username) -> tuple[str, bool]:
        """Add a socket's entry; returns its id and whether it is the user's first in the
        room (the caller then announces the join, after telling its own socket the state)."""
        conn_id = self._prefix + str(next(_ids))
        room = str(room_id)
        self._local[conn_id] = (room, user_id, username)
        self._ensure_loop()
        return conn_id, await self.store.join(room, user_id, username, conn_id, self.ttl)

    async def announce_join(self, room_id, user_id, username) -> None:
        await self._announce(str(room_id), "join", user_id, username)

    async def exit(self, conn_id: str) -> None:
        entry = self._local.pop(conn_id, None)
        if entry is None:
            return
        room, user_id, username = entry
        grace = float(clarion_settings.PRESENCE_LEAVE_GRACE)
        if grace <= 0:
            await self._leave(room, user_id, username, conn_id)
            return
        # Kept a little past the grace, so that the leave is this process's to announce (with
        # the username) rather than another sweeper's; if this process dies meanwhile, the
        # entry still expires and is swept like any other.
        await self.store.join(room, user_id, username, conn_id, grace + self.ttl / 4)
        task = asyncio.get_running_loop().create_task(self._leave_after(grace, room, user_id, username, conn_id))
        self._lingering.add(task)
        task.add_done_callback(self._lingering.discard)

    async def _leave_after(self, grace, room, user_id, username, conn_id) -> None:
        await asyncio.sleep(grace)
        try:
            await self._leave(room, user_id, username, conn_id)
        except Exception:  # Redis away: the entry expires and a sweep announces the leave
            logger.warning("presence leave failed; the entry will expire", exc_info=True)

    async def _leave(self, room, user_id, username, conn_id) -> None:
        if await self.store.leave(room, user_id, conn_id):
            await self._announce(room, "leave", user_id, username)

    async def online(self, room_id) -> list[dict]:
        return await self.store.online(str(room_id))

    async def _announce(self, room: str, event: str, user_id, username) -> None:
        data = {"event": event, "user": {"id": user_id, "username": username}, "online": await self.store.online(room)}
        frame = encode_frame(server_frame(ServerFrameType.PRESENCE, data))
        await get_hub().publish(groups.room_group(int(room)), events.ephemeral(frame))

    def _ensure_loop(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="clarion-presence")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.ttl / 4)
            try:
                await self.tick()
            except Exception:  # Redis away: entries expire, and the next tick re-joins them
                logger.warning("presence refresh failed; retrying", exc_info=True)

    async def tick(self) -> None:
        """Refresh this process's entries (re-announcing a user whose entries had expired,
        after a stall or a Redis restart), then announce users whose entries expired."""
        for conn_id, (room, user_id, username) in list(self._local.items()):
            if await self.store.join(room, user_id, username, conn_id, self.ttl) and conn_id in self._local:
                await self._announce(room, "join", user_id, username)
        for room, user in await self.store.sweep():
            await self._announce(room, "leave", int(user) if user.isdigit() else user, "")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        for task in list(self._lingering):
            task.cancel()
        await self.store.close()


_presences: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Presence]" = weakref.WeakKeyDictionary()


def get_presence() -> Presence:
    loop = asyncio.get_running_loop()
    presence = _presences.get(loop)
    if presence is None:
        options = redis_options()
        store = (MemoryPresenceStore() if options is None
                 else RedisPresenceStore(options["url"], options.get("prefix", "clarion")))
        presence = _presences[loop] = Presence(store)
    return presence


async def close_presence() -> None:
    presence = _presences.pop(asyncio.get_running_loop(), None)
    if presence is not None:
        await presence.close()
