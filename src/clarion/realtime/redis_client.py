"""One way to open a Redis client, so that every part of Clarion that talks to Redis (the
broker, presence, health records, the online set, shared limits) follows ``REDIS_URL`` alike.

``connect`` is the only place that decides what kind of client a URL names.
"""

import redis.asyncio as redis


def connect(url: str, **options) -> redis.Redis:
    """A client for commands on keys (not for pub/sub subscriptions)."""
    return redis.Redis.from_url(url, **options)
