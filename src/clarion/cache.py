"""A Django cache backend on a Redis Cluster, for ``REDIS_URL=redis+cluster://...``.

Django's RedisCache speaks to single servers only: it splits LOCATION at commas into a list of
servers (a cluster URL names several nodes of one cluster) and uses MGET and MSET, which a
cluster refuses for keys in different slots. DRF's throttles and the sign-in lockout keep their
counts in Django's cache, so the cache must follow REDIS_URL wherever it points. This is
RedisCache with redis-py's cluster client underneath and the multi-key calls split by slot.

    CACHES = {"default": {"BACKEND": "clarion.cache.RedisClusterCache",
                          "LOCATION": "redis+cluster://10.0.0.1:7000,10.0.0.2:7000"}}
"""

import threading

from django.core.cache.backends.redis import RedisCache, RedisCacheClient

from clarion.realtime import redis_client


class RedisClusterCacheClient(RedisCacheClient):
    def __init__(self, servers, serializer=None, **options):
        super().__init__(servers, serializer=serializer)
        self._url = servers[0]
        self._client_options = {"socket_timeout": 5, "socket_connect_timeout": 5, **options}
        self._cluster = None
        self._lock = threading.Lock()

    def get_client(self, key=None, *, write=False):
        # One client for every thread: redis-py's cluster client keeps a pool per node and
        # follows the slot map itself (MOVED, failover).
        if self._cluster is None:
            with self._lock:
                if self._cluster is None:
                    self._cluster = redis_client.connect_sync(self._url, **self._client_options)
        return self._cluster

    def get_many(self, keys):
        values = self.get_client().mget_nonatomic(keys)
        return {key: self._serializer.loads(value) for key, value in zip(keys, values) if value is not None}

    def set_many(self, data, timeout):
        pipeline = self.get_client().pipeline()
        for key, value in data.items():
            if timeout is None:
                pipeline.set(key, self._serializer.dumps(value))
            else:
                pipeline.set(key, self._serializer.dumps(value), ex=timeout)
        pipeline.execute()

    def clear(self):
        return bool(self.get_client().flushdb(target_nodes="primaries"))


class RedisClusterCache(RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._servers = [server] if isinstance(server, str) else list(server)
        if len(self._servers) != 1:
            raise ValueError("RedisClusterCache takes one LOCATION: a redis+cluster:// URL")
        self._class = RedisClusterCacheClient
