"""Shared limits live in Redis, across tests as across processes: a test's sockets, cool-downs
and chat buckets must not count against the next test's users (whose ids repeat)."""


def forget_shared_limits() -> None:
    from django.conf import settings

    from clarion.realtime.broker import redis_options
    from clarion.realtime.redis_client import connect_sync

    options = redis_options()
    if options is None:
        return
    client = connect_sync(options["url"])
    try:
        prefix = settings.CLARION.get("BROKER_OPTIONS", {}).get("prefix", "clarion")
        keys = list(client.scan_iter(match=f"{prefix}:limits:*", count=1000))
        for key in keys:  # one by one: in a cluster the keys live in different slots
            client.delete(key)
    finally:
        client.close()
