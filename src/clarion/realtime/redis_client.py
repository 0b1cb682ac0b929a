"""One way to open a Redis client, so that every part of Clarion that talks to Redis (the
broker, presence, health records, the online set, shared limits, the cache) follows
``REDIS_URL`` alike.

``connect`` (asyncio) and ``connect_sync`` are the only places that decide what kind of client
a URL names:

- ``redis://``, ``rediss://``, ``unix://``: one Redis server, ``redis.Redis``;
- ``redis+cluster://host:port[,host:port...]`` (``rediss+cluster://`` for TLS, optionally with
  ``user:password@`` before the first host): a Redis Cluster, ``RedisCluster``, which learns
  the rest of the cluster from any one of the nodes named.

Code that works on both keeps every key a script or a MULTI touches in one hash slot (a
``{tag}`` in the key); ``is_cluster`` tells the broker which pub/sub to use.
"""

from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

import redis
import redis.asyncio as aioredis

CLUSTER_SCHEMES = {"redis+cluster": False, "rediss+cluster": True}  # scheme -> TLS
MAX_POOLED_CONNECTIONS = 100  # per client and process: redis-py's own default cap
DEFAULT_POOL_WAIT = 5.0  # seconds a command waits for a pooled connection when none is free


class InvalidRedisURL(ValueError):
    """REDIS_URL cannot be used; the message says what was expected."""


@dataclass(frozen=True)
class ClusterURL:
    nodes: list[tuple[str, int]]
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ssl: bool = False

    def client_options(self) -> dict:
        options = {"username": self.username, "password": self.password}
        if self.ssl:
            options["ssl"] = True
        return {key: value for key, value in options.items() if value is not None}


def is_cluster(url: str) -> bool:
    return url.split("://", 1)[0].lower() in CLUSTER_SCHEMES


def parse_cluster_url(url: str) -> ClusterURL:
    """The nodes and credentials of a cluster URL; InvalidRedisURL names what is wrong."""
    expected = "expected redis+cluster://[user:password@]host:port[,host:port...]"
    scheme, _, rest = url.partition("://")
    if scheme.lower() not in CLUSTER_SCHEMES or not rest:
        raise InvalidRedisURL(f"REDIS_URL {_safe(url)!r} is not a cluster URL: {expected}")
    rest, question, query = rest.partition("?")
    userinfo, at, hostpart = rest.rpartition("@") if "@" in rest.split("/", 1)[0] else ("", "", rest)
    hostpart, _, path = hostpart.partition("/")
    if question:
        raise InvalidRedisURL(f"REDIS_URL {_safe(url)!r}: a cluster URL takes no ?options ({expected})")
    if path not in ("", "0"):
        raise InvalidRedisURL(f"REDIS_URL {_safe(url)!r}: a Redis Cluster has only database 0, got /{path}")
    nodes = []
    for item in hostpart.split(","):
        host, colon, port = item.strip().rpartition(":")
        host = host.strip("[]")  # [::1]:7000
        if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise InvalidRedisURL(f"REDIS_URL {_safe(url)!r}: node {item!r} is not host:port ({expected})")
        nodes.append((host, int(port)))
    username = password = None
    if at:
        user, _, secret = userinfo.partition(":")
        username, password = unquote(user) or None, unquote(secret) or None
    return ClusterURL(nodes, username, password, CLUSTER_SCHEMES[scheme.lower()])


def validate(url: str) -> None:
    """Raise InvalidRedisURL for a URL no client can be made from (checked at start-up)."""
    if is_cluster(url):
        parse_cluster_url(url)
        return
    scheme = urlsplit(url).scheme.lower()
    if scheme not in ("redis", "rediss", "unix"):
        raise InvalidRedisURL(f"REDIS_URL {_safe(url)!r}: expected redis://, rediss://, unix:// or "
                              "redis+cluster://host:port[,host:port...]")
    try:
        redis.ConnectionPool.from_url(url)
    except ValueError as exc:
        raise InvalidRedisURL(f"REDIS_URL {_safe(url)!r}: {exc}") from None


def connect(url: str, **options):
    """An asyncio client for commands on keys (not for subscriptions: see broker_redis*)."""
    if is_cluster(url):
        from redis.asyncio.cluster import ClusterNode, RedisCluster

        parsed = parse_cluster_url(url)
        return RedisCluster(startup_nodes=[ClusterNode(host, port) for host, port in parsed.nodes],
                            **parsed.client_options(), **options)
    # A blocking pool: redis-py 8's default pool raises MaxConnectionsError once 100 commands
    # are in flight, so a join storm (presence, publishes) would turn into errors. Past the
    # cap a command now waits for a connection, as long as it would wait for an answer.
    wait = options.get("socket_timeout") or DEFAULT_POOL_WAIT
    pool = aioredis.BlockingConnectionPool.from_url(url, max_connections=MAX_POOLED_CONNECTIONS,
                                                    timeout=wait, **options)
    return aioredis.Redis.from_pool(pool)


def connect_sync(url: str, **options):
    """The same for threads (the planner's online check, the cache)."""
    if is_cluster(url):
        from redis.cluster import ClusterNode, RedisCluster

        parsed = parse_cluster_url(url)
        return RedisCluster(startup_nodes=[ClusterNode(host, port) for host, port in parsed.nodes],
                            **parsed.client_options(), **options)
    return redis.Redis.from_url(url, **options)


def _safe(url: str) -> str:
    """The URL without its password, for messages and logs."""
    scheme, sep, rest = url.partition("://")
    head, at, tail = rest.rpartition("@")
    if not at:
        return url
    user = head.split(":", 1)[0]
    return f"{scheme}{sep}{user}:***@{tail}" if ":" in head else url


def describe(url: str) -> tuple[bool, str]:
    """(healthy, one line) about the Redis that ``url`` names, for ``clarion doctor``: a
    cluster's masters, replicas and slot coverage, or one server's version."""
    try:
        client = connect_sync(url, socket_timeout=3, socket_connect_timeout=3)
        try:
            if not is_cluster(url):
                info = client.info("server")
                return True, f"one Redis server {info.get('redis_version', '?')} at {_safe(url)}"
            nodes = client.cluster_nodes()
            info = client.cluster_info()
        finally:
            client.close()
    except Exception as exc:  # redis-py's errors and OSError alike: report, do not raise
        return False, f"cannot reach {_safe(url)} ({type(exc).__name__}: {exc})"
    masters = sorted(addr for addr, node in nodes.items()
                     if "master" in node["flags"] and node["slots"] and "fail" not in node["flags"])
    replicas = [addr for addr, node in nodes.items() if "slave" in node["flags"] and "fail" not in node["flags"]]
    failing = sorted(addr for addr, node in nodes.items() if "fail" in node["flags"])
    served = int(info.get("cluster_slots_ok", 0))
    healthy = info.get("cluster_state") == "ok" and served == 16384
    line = (f"Redis Cluster, state {info.get('cluster_state')}: {len(masters)} masters ({', '.join(masters)}), "
            f"{len(replicas)} replicas, {served} of 16384 slots served")
    if failing:
        line += f"; failing: {', '.join(failing)}"
    return healthy, line
