"""Presence entries: one per open socket in a room, each with an expiry.

Hand-written because no library keeps "who is here" across processes with expiry: a socket
refreshes its entry; when a process dies without saying goodbye its entries expire and the
sweep announces the leave. A user is present while any of their sockets (tabs, processes)
has a live entry. The Redis store does each step in one Lua script, so of two processes
sweeping at once exactly one announces a leave.
"""

import time

_JOIN = """
local prefix = ARGV[2] .. '|'
local live = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[5], '+inf')
local had = 0
for _, m in ipairs(live) do
  if m ~= ARGV[1] and string.sub(m, 1, #prefix) == prefix then had = 1 break end
end
local existed = redis.call('ZSCORE', KEYS[1], ARGV[1])
if existed and tonumber(existed) >= tonumber(ARGV[5]) then had = 1 end
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[7])
redis.call('EXPIRE', KEYS[2], ARGV[7])
return 1 - had
"""

_LEAVE = """
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return 0 end
local prefix = ARGV[2] .. '|'
for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[3], '+inf')) do
  if string.sub(m, 1, #prefix) == prefix then return 0 end
end
return 1
"""

_SWEEP = """
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1])
if #expired == 0 then
  if redis.call('ZCARD', KEYS[1]) == 0 then return false end
  return {}
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1])
local present = {}
for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], '+inf')) do
  present[string.match(m, '^([^|]*)|')] = true
end
local gone, seen = {}, {}
for _, m in ipairs(expired) do
  local user = string.match(m, '^([^|]*)|')
  if not present[user] and not seen[user] then seen[user] = true; table.insert(gone, user) end
end
return gone
"""


def _member(user_id, conn_id) -> str:
    return f"{user_id}|{conn_id}"


class MemoryPresenceStore:
    """One process (the embedded mode): the same rules, in dicts."""

    def __init__(self):
        self._rooms: dict[str, dict[str, float]] = {}
        self._names: dict[str, dict[str, str]] = {}

    def _live_users(self, room: str, now: float, exclude: str | None = None) -> set[str]:
        return {m.split("|", 1)[0] for m, exp in self._rooms.get(room, {}).items() if exp >= now and m != exclude}

    async def join(self, room, user_id, username, conn_id, ttl) -> bool:
        now, member = time.time(), _member(user_id, conn_id)
        entries = self._rooms.setdefault(room, {})
        had = str(user_id) in self._live_users(room, now, exclude=member) or entries.get(member, 0) >= now
        entries[member] = now + ttl
        self._names.setdefault(room, {})[str(user_id)] = username
        return not had

    async def leave(self, room, user_id, conn_id) -> bool:
        entries = self._rooms.get(room, {})
        if entries.pop(_member(user_id, conn_id), None) is None:
            return False
        return str(user_id) not in self._live_users(room, time.time())

    async def sweep(self) -> list[tuple[str, str]]:
        now, gone = time.time(), []
        for room, entries in list(self._rooms.items()):
            expired = [m for m, exp in entries.items() if exp < now]
            for m in expired:
                del entries[m]
            present = self._live_users(room, now)
            gone += [(room, u) for u in dict.fromkeys(m.split("|", 1)[0] for m in expired) if u not in present]
            if not entries:
                del self._rooms[room]
        return gone

    async def online(self, room) -> list[dict]:
        names = self._names.get(room, {})
        return [{"id": _id(u), "username": names.get(u, "")} for u in sorted(self._live_users(room, time.time()), key=_sort)]

    async def close(self):
        pass


class RedisPresenceStore:
    """Several processes: sorted sets of member -> expiry, per room, in Redis.

    A room's two keys share a hash tag (``{room}``), so its scripts run on a Redis Cluster and
    rooms spread over its shards. The index of rooms to sweep lives in a slot of its own, so
    it is written beside the scripts, not in them: a join adds its room after its entry, and a
    sweep that found a room empty removes it and then looks again, putting it back if a join
    came in between. Either order leaves a room with entries in the index."""

    def __init__(self, url: str, prefix: str = "clarion"):
        from clarion.realtime import redis_client

        self._redis = redis_client.connect(url, socket_timeout=5, socket_connect_timeout=5, decode_responses=True)
        self._prefix = f"{prefix}:presence:"
        self._rooms = self._prefix + "rooms"
        self._join = self._redis.register_script(_JOIN)
        self._leave = self._redis.register_script(_LEAVE)
        self._sweep = self._redis.register_script(_SWEEP)

    def _keys(self, room):
        return self._prefix + "{" + room + "}", self._prefix + "{" + room + "}:names"

    async def join(self, room, user_id, username, conn_id, ttl) -> bool:
        entries, names = self._keys(room)
        now = time.time()
        joined = await self._join(keys=[entries, names],
                                  args=[_member(user_id, conn_id), str(user_id), username, now + ttl, now, room,
                                        int(ttl * 3) + 1])
        await self._redis.sadd(self._rooms, room)
        return bool(joined)

    async def leave(self, room, user_id, conn_id) -> bool:
        entries, _ = self._keys(room)
        return bool(await self._leave(keys=[entries], args=[_member(user_id, conn_id), str(user_id), time.time()]))

    async def sweep(self) -> list[tuple[str, str]]:
        gone = []
        for room in await self._redis.smembers(self._rooms):
            entries, _ = self._keys(room)
            users = await self._sweep(keys=[entries], args=[time.time(), room])
            if users is None:  # the room was empty
                await self._redis.srem(self._rooms, room)
                if await self._redis.exists(entries):
                    await self._redis.sadd(self._rooms, room)
                continue
            gone += [(room, u) for u in users]
        return gone

    async def online(self, room) -> list[dict]:
        entries, names_key = self._keys(room)
        members = await self._redis.zrangebyscore(entries, time.time(), "+inf")
        users = sorted(dict.fromkeys(m.split("|", 1)[0] for m in members), key=_sort)
        names = await self._redis.hmget(names_key, users) if users else []
        return [{"id": _id(u), "username": n or ""} for u, n in zip(users, names)]

    async def close(self):
        await self._redis.aclose()


def _id(user: str):
    return int(user) if user.isdigit() else user


def _sort(user: str):
    return (0, int(user), "") if user.isdigit() else (1, 0, user)
