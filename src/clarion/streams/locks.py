"""One lock per stream, shared by every process on the database.

Sequencing and pushing a stream happen under its lock, so that seqs become visible in commit
order and pushes leave in seq order (docs/decisions/0003-commit-ordered-log.md). Until issue
11 this was one lock for the whole site: a project's events waited for the notification log,
and every create crossed it. Streams that are independent now never wait for each other.
"""

import fcntl
import os
import threading
import zlib
from contextlib import contextmanager

from django.db import connection

# PostgreSQL's two-key advisory lock: the first key names Clarion ("clar" in ASCII), the
# second is the stream's hash. Two streams whose hashes collide share a lock: harmless.
_PG_CLASS = 0x636C6172
_SQLITE_SLOTS = 1 << 16

_thread_locks: dict[str, threading.Lock] = {}
_thread_locks_guard = threading.Lock()


def _hash32(name: str) -> int:
    return zlib.crc32(name.encode()) - (1 << 31)  # into PostgreSQL's signed int4


def _thread_lock(name: str) -> threading.Lock:
    with _thread_locks_guard:
        lock = _thread_locks.get(name)
        if lock is None:
            lock = _thread_locks[name] = threading.Lock()
        return lock


@contextmanager
def stream_lock(name: str):
    """Hold the lock of stream ``name`` (a StreamHead name)."""
    if connection.vendor == "postgresql":
        key = _hash32(name)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s, %s)", [_PG_CLASS, key])
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_PG_CLASS, key])
        return
    with _thread_lock(name):
        database = str(connection.settings_dict.get("NAME") or "")
        if connection.vendor != "sqlite" or connection.is_in_memory_db():
            yield
            return
        # SQLite shared by several processes (a server and a cron sender on Redis, say): a
        # byte-range lock on a file beside the database, one byte per stream slot, plays the
        # advisory lock's part.
        slot = zlib.crc32(name.encode()) % _SQLITE_SLOTS
        lock_file = _lock_file(database)
        fcntl.lockf(lock_file, fcntl.LOCK_EX, 1, slot)
        try:
            yield
        finally:
            fcntl.lockf(lock_file, fcntl.LOCK_UN, 1, slot)


_lock_files: dict[str, int] = {}
_lock_files_guard = threading.Lock()


def _lock_file(database: str) -> int:
    """The process's descriptor of the database's lock file, opened once: byte-range locks
    belong to the process, so one descriptor serves every thread (the thread lock above keeps
    them apart), and a batch no longer pays an open and a close. Private like the database."""
    with _lock_files_guard:
        fd = _lock_files.get(database)
        if fd is None:
            fd = _lock_files[database] = os.open(f"{database}.clarion-lock", os.O_RDWR | os.O_CREAT, 0o600)
        return fd
