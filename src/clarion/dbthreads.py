"""Database work from async code, on a pool of threads instead of one.

Channels' ``database_sync_to_async`` is thread-sensitive: outside an HTTP request (so for every
socket) each call of the process runs on one shared thread. Every connect's authentication and
snapshot queued behind every other socket's queries, and on PostgreSQL behind their network
round trips too, while the other core idled: that one thread was the ceiling of the connect rate
(issue 11). A socket's database calls are awaited one after another and each is a whole unit of
work (its own transaction, its connection closed or kept as CONN_MAX_AGE says afterwards), so
nothing needs the one thread; they run on the event loop's default executor instead.
"""

from channels.db import DatabaseSyncToAsync


def db_sync_to_async(func):
    """Like channels.db.database_sync_to_async (stale connections closed around the call), on
    any worker thread."""
    return DatabaseSyncToAsync(func, thread_sensitive=False)
