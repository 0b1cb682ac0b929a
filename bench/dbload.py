"""Database and Redis load: where the shared back ends of scale-out mode become the limit.

    .venv/bin/python -m bench.dbload            # 10^4, 10^5, 10^6 notification rows (about 6 min here)
    .venv/bin/python -m bench.dbload --quick    # 10^4, 10^5 rows, shorter writer runs (about 1 min)

Everything runs in a throwaway PostgreSQL database (``clarion_dbload_<pid>``, created beside
``--pg-url``'s and dropped at the end) migrated with ``clarion migrate``, and a private
``redis-server`` on a free port (flushed freely: it is ours alone):

* users: ``--users`` (10,000) created in bulk as bench/peers/clarion_users.py does; 90 % students,
  9 % advisors, 1 % admins.
* notification rows are inserted with ``INSERT ... SELECT generate_series`` in one transaction
  that holds the notification stream's advisory lock, each with the next ``seq``, and
  ``StreamHead.position`` moved to the last one: the numbering the sequencer would have given them. ``--mix``
  (default 90,8,2): percent personal (uniform over users), to a role (uniform over the 3 roles),
  to everyone; half of the personal rows get a ``NotificationRead`` row (read one by one). Then
  VACUUM ANALYZE.
* measured students, in two profiles: *watermark* (marked all as read 1,000 log positions before
  the head) and *no-watermark* (never marked all as read: their unread set is their whole audience).
* (b) at 10^4, 10^5, 10^6 rows: ``queries.unread_count`` (what GET /api/notifications/unread-count/
  runs), that whole REST request in-process (Django test client: JWT, DRF, role lookup, query), and
  ``queries.snapshot`` as a fresh connect runs it; median and p99 per (size, profile), and
  EXPLAIN (ANALYZE, BUFFERS) of each query's main statement.
* (c) resume at every size: ``queries.snapshot(after=cursor)`` for a cursor 10, 100 and 1,000 of
  the user's own notifications behind the head (checked to return exactly that many).
* (a) create throughput at the smallest and the largest size (quick: the largest; the rows the
  writers add at the smallest size are deleted afterwards, so the larger sizes keep the mix):
  ``clarion.send_notification_to_user`` (insert, then sequencing and publishing under the
  notification stream's lock; outside a server the committing thread sequences, so each create is
  its own batch) from 1 and 4 writer processes for ``--writer-seconds`` each, in three modes:
  ``script`` (the synchronous API from a plain process: every publish opens a one-off Redis
  connection, as a cron job's does) and ``hub`` (the async API in a process whose event loop has a
  hub, so publishes reuse its broker's Redis connection, as a server process's REST create does);
  and ``bulk``, the sequencing ceiling: ``clarion.send_notification_to_users`` with 1,000 users per
  call from a plain process, so each batch numbers and pushes 1,000 rows under one lock.
  Lock wait and hold are timed by wrapping ``clarion.streams.sequencer.stream_lock`` (and the publish
  inside it by wrapping ``_group_send_all``, one call per batch); a pattern subscriber counts what reached Redis.
* (d) Redis alone: memory per subscribed channel (100,000 channels ``clarion:clarion.user.<id>``
  over 20 subscriber connections) and, with ``redis-benchmark`` (50 clients, unpipelined and
  pipelined 16 deep), PUBLISH rate and Redis CPU per PUBLISH, each message reaching one subscriber.

Nothing is pinned (PostgreSQL is the machine's shared server). Prints tables and writes
bench/results/dbload-<date>.json (``-2``... if taken). Figures are medians; the machine is shared.
"""

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PYTHON = sys.executable
CLI = str(Path(PYTHON).parent / "clarion")
PG_LOCK_CLASS = 0x636C6172  # clarion.streams.locks: the notification stream's two-key advisory lock
ROLES = ["student", "advisor", "admin"]
WATERMARK_BEHIND = 1000  # "watermark" users marked all as read this many log positions ago
SECRET = "dbload-secret-key-not-for-production-0123456789abcdef"


# -- small helpers ----------------------------------------------------------------------

def pct(values, q):
    if not values:
        return None
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, int(round(q * len(ordered) + 0.5)) - 1))
    return ordered[index]


def summary_ms(values):
    return {"n": len(values), "median_ms": statistics.median(values) * 1e3 if values else None,
            "p99_ms": pct(values, 0.99) * 1e3 if values else None,
            "max_ms": max(values) * 1e3 if values else None}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def git(*args):
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10,
                              check=True).stdout.strip()
    except Exception:
        return None


def proc_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def result_path() -> Path:
    stem = f"dbload-{dt.date.today().isoformat()}"
    path, k = RESULTS / f"{stem}.json", 2
    while path.exists():
        path, k = RESULTS / f"{stem}-{k}.json", k + 1
    return path


def fmt(value, digits=2):
    return "-" if value is None else f"{value:.{digits}f}"


# -- set-up: database, Redis, users -----------------------------------------------------

class Backends:
    def __init__(self, pg_url: str, clarion_src: str | None = None):
        self.pg_url = pg_url
        self.clarion_src = clarion_src
        self.db = f"clarion_dbload_{os.getpid()}"
        self.tmp = Path(tempfile.mkdtemp(prefix="clarion-dbload-"))
        self.redis_proc = None
        self.redis_port = None

    def admin_sql(self, *statements):
        import psycopg

        with psycopg.connect(self.pg_url, autocommit=True, connect_timeout=10) as conn:
            for statement in statements:
                conn.execute(statement)

    @property
    def db_url(self):
        return f"{self.pg_url.rstrip('/').rsplit('/', 1)[0]}/{self.db}"

    @property
    def redis_url(self):
        return f"redis://127.0.0.1:{self.redis_port}/0"

    def start(self):
        self.admin_sql(f'DROP DATABASE IF EXISTS "{self.db}" WITH (FORCE)', f'CREATE DATABASE "{self.db}"')
        binary = shutil.which("redis-server")
        if binary is None:
            raise SystemExit("redis-server not found on the PATH")
        self.redis_port = free_port()
        self.redis_proc = subprocess.Popen(
            [binary, "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--protected-mode", "no", "--maxclients", "1000"],
            stdout=open(self.tmp / "redis.log", "wb"), stderr=subprocess.STDOUT)
        deadline = time.time() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.redis_port), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline or self.redis_proc.poll() is not None:
                    raise SystemExit("private redis-server did not start")
                time.sleep(0.1)

    def env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
        env.update(DATABASE_URL=self.db_url, REDIS_URL=self.redis_url, DJANGO_SETTINGS_MODULE="clarion.server.settings",
                   CLARION_DATA_DIR=str(self.tmp / "data"), CLARION_SECRET_KEY=SECRET,
                   CLARION_ACCESS_TOKEN_MINUTES="1440", CLARION_ALLOWED_HOSTS="127.0.0.1,localhost,testserver",
                   PYTHONPATH=os.pathsep.join(filter(None, [self.clarion_src, str(ROOT),
                                                            os.environ.get("PYTHONPATH")])))
        return env

    def stop(self):
        try:
            from django.db import connections

            connections.close_all()
        except Exception:
            pass
        try:
            self.admin_sql(f'DROP DATABASE IF EXISTS "{self.db}" WITH (FORCE)')
        except Exception as exc:
            print(f"could not drop {self.db}: {exc}", file=sys.stderr)
        if self.redis_proc is not None and self.redis_proc.poll() is None:
            self.redis_proc.terminate()
            try:
                self.redis_proc.wait(10)
            except subprocess.TimeoutExpired:
                self.redis_proc.kill()
        shutil.rmtree(self.tmp, ignore_errors=True)


def create_users(count: int) -> dict:
    from django.contrib.auth.models import User

    from clarion.models import RoleAssignment

    def role_for(i):
        return "admin" if i % 100 == 0 else "advisor" if i % 100 < 10 else "student"

    User.objects.bulk_create([User(username=f"u{i}", password="!") for i in range(count)], batch_size=5000)
    by_name = dict(User.objects.values_list("username", "id"))
    ids = [by_name[f"u{i}"] for i in range(count)]
    RoleAssignment.objects.bulk_create([RoleAssignment(user_id=uid, role=role_for(i)) for i, uid in enumerate(ids)],
                                       batch_size=5000)
    if ids != list(range(ids[0], ids[0] + count)):
        raise SystemExit("user ids are not contiguous; the bulk loader maps rows to ids by offset")
    return {uid: role_for(i) for i, uid in enumerate(ids)}


# -- bulk load with valid seqs ------------------------------------------------------------

def bulk_load(target_rows: int, first_user: int, users: int, mix: tuple[float, float]) -> dict:
    """Add notifications until the table holds ``target_rows``, numbered like the sequencer does:
    under the advisory lock, seq = head + 1.. and the head moved to the last one, in one transaction."""
    from django.db import connection, transaction

    started = time.time()
    with transaction.atomic(), connection.cursor() as cur:
        from clarion.streams.locks import _hash32

        cur.execute("SELECT pg_advisory_xact_lock(%s, %s)", [PG_LOCK_CLASS, _hash32("notifications")])
        # Newer schemas also record how far pushes got (StreamHead.published).
        cur.execute("SELECT 1 FROM information_schema.columns WHERE table_name = 'clarion_streamhead' "
                    "AND column_name = 'published'")
        has_published = cur.fetchone() is not None
        # Issue 13's schema: categories and topics, which readers mute.
        cur.execute("SELECT 1 FROM information_schema.columns WHERE table_name = 'clarion_notification' "
                    "AND column_name = 'topic'")
        has_topic = cur.fetchone() is not None
        cur.execute("INSERT INTO clarion_streamhead (name, position" + (", published" if has_published else "")
                    + ") VALUES ('notifications', 0" + (", 0" if has_published else "") + ") "
                    "ON CONFLICT (name) DO NOTHING")
        cur.execute("SELECT position FROM clarion_streamhead WHERE name = 'notifications' FOR UPDATE")
        head = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM clarion_notification")
        have = cur.fetchone()[0]
        add = target_rows - have
        if add <= 0:
            return {"added": 0, "head": head, "seconds": 0.0}
        cur.execute("SELECT setseed(%s)", [0.001 * (target_rows % 997)])
        cur.execute(
            """
            INSERT INTO clarion_notification
                (title, message, notification_type, recipient_type, recipient_id, created_at, link, data, seq"""
            + (", category, topic" if has_topic else "") + """)
            SELECT 'Notification ' || s,
                   'Your request was processed; open it to see the details and what happens next.',
                   'info',
                   CASE WHEN r < %(su)s THEN 'user' WHEN r < %(sr)s THEN 'role' ELSE 'all' END,
                   CASE WHEN r < %(su)s THEN (%(first)s + floor(r2 * %(users)s))::bigint::text
                        WHEN r < %(sr)s THEN (ARRAY['student', 'advisor', 'admin'])[1 + floor(r2 * 3)::int]
                        ELSE '' END,
                   timestamptz '2026-01-01' + s * interval '1 second', '', '{}'::jsonb, s"""
            + (""", (ARRAY['comment', 'project_update', 'announcement', 'deadline'])[1 + (s %% 4)::int],
                   'project:' || (s %% 500)""" if has_topic else "") + """
            FROM (SELECT s, random() AS r, random() AS r2 FROM generate_series(%(lo)s, %(hi)s) AS s) AS g
            ORDER BY s
            """,
            {"su": mix[0], "sr": mix[0] + mix[1], "first": first_user, "users": users,
             "lo": head + 1, "hi": head + add},
        )
        # Half of the personal notifications were read one by one (a NotificationRead row each).
        cur.execute(
            "INSERT INTO clarion_notificationread (user_id, notification_id, read_at) "
            "SELECT recipient_id::int, id, now() FROM clarion_notification "
            "WHERE recipient_type = 'user' AND seq BETWEEN %s AND %s AND id %% 2 = 0 ON CONFLICT DO NOTHING",
            [head + 1, head + add],
        )
        cur.execute("UPDATE clarion_streamhead SET position = %s WHERE name = 'notifications'", [head + add])
        if has_published:
            # The bulk rows count as pushed long ago; otherwise the next publish would push them
            # all as a backlog first.
            cur.execute("UPDATE clarion_streamhead SET published = position WHERE name = 'notifications'")
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE clarion_notification")
        cur.execute("VACUUM ANALYZE clarion_notificationread")
    return {"added": add, "head": head + add, "seconds": time.time() - started}


def set_watermarks(user_ids, head: int) -> None:
    from django.db import connection

    with connection.cursor() as cur:
        for uid in user_ids:
            cur.execute("INSERT INTO clarion_readwatermark (user_id, seq) VALUES (%s, %s) "
                        "ON CONFLICT (user_id) DO UPDATE SET seq = EXCLUDED.seq",
                        [uid, max(0, head - WATERMARK_BEHIND)])


STATE_ROWS = 200  # per "inbox" reader: seen, archived, snoozed and marked-unread rows
MUTED_TOPICS = ["project:1", "project:2", "project:3"]


def set_inbox_state(user_ids, head: int) -> None:
    """Readers who use the inbox (issue 13): a read and a seen watermark, STATE_ROWS state rows
    over their newest audience items (a quarter each seen, archived, snoozed for a day, marked
    unread), comments turned off and three project topics muted."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT 1 FROM information_schema.tables WHERE table_name = 'clarion_notificationstate'")
        if cur.fetchone() is None:
            return  # a schema before issue 13
        for uid in user_ids:
            cur.execute("INSERT INTO clarion_readwatermark (user_id, seq, seen_seq) VALUES (%s, %s, %s) "
                        "ON CONFLICT (user_id) DO UPDATE SET seq = EXCLUDED.seq, seen_seq = EXCLUDED.seen_seq",
                        [uid, max(0, head - WATERMARK_BEHIND), max(0, head - WATERMARK_BEHIND // 2)])
            cur.execute(
                "INSERT INTO clarion_notificationstate (user_id, notification_id, seen, unread, archived_at, "
                "snoozed_until) SELECT %s, id, CASE WHEN k %% 4 = 0 THEN TRUE END, k %% 4 = 3, "
                "CASE WHEN k %% 4 = 1 THEN now() END, CASE WHEN k %% 4 = 2 THEN now() + interval '1 day' END "
                "FROM (SELECT id, row_number() OVER (ORDER BY seq DESC) AS k FROM clarion_notification "
                "WHERE (recipient_type = 'user' AND recipient_id = %s) OR recipient_type = 'all' "
                "OR (recipient_type = 'role' AND recipient_id = 'student') ORDER BY seq DESC LIMIT %s) AS picked "
                "ON CONFLICT DO NOTHING",
                [uid, str(uid), STATE_ROWS])
            cur.execute("INSERT INTO clarion_preferences (user_id, channels, mutes, locale, updated_at) "
                        "VALUES (%s, %s, %s, '', now()) ON CONFLICT (user_id) DO NOTHING",
                        [uid, json.dumps({"comment": {"in_app": False}}),
                         json.dumps({topic: None for topic in MUTED_TOPICS})])
        cur.execute("VACUUM ANALYZE clarion_notificationstate")


def table_sizes() -> dict:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM clarion_notification")
        rows = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM clarion_notificationread")
        reads = cur.fetchone()[0]
        cur.execute("SELECT pg_relation_size('clarion_notification'), pg_indexes_size('clarion_notification'),"
                    " pg_total_relation_size('clarion_notificationread')")
        heap, indexes, reads_total = cur.fetchone()
        cur.execute("SELECT indexrelid::regclass::text, pg_relation_size(indexrelid) FROM pg_index "
                    "WHERE indrelid = 'clarion_notification'::regclass ORDER BY 1")
        per_index = dict(cur.fetchall())
    return {"rows": rows, "read_rows": reads, "heap_bytes": heap, "index_bytes": indexes,
            "reads_table_bytes": reads_total, "indexes": per_index}


# -- (b), (c): query latencies --------------------------------------------------------------

def explain(fn) -> dict:
    """Run ``fn`` once capturing its SQL, then EXPLAIN (ANALYZE, BUFFERS) its last statement (the
    count for unread_count, the recent list for a fresh snapshot, the unread total for a resume)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        fn()
    sql = captured.captured_queries[-1]["sql"]
    with connection.cursor() as cur:
        cur.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql)
        plan = cur.fetchone()[0]
    plan = plan[0] if isinstance(plan, list) else json.loads(plan)[0]
    nodes = []

    def walk(node, depth):
        label = node["Node Type"] + (f" on {node['Index Name']}" if node.get("Index Name") else "")
        nodes.append({"depth": depth, "node": label, "rows": node.get("Actual Rows"),
                      "loops": node.get("Actual Loops"), "removed_by_filter": node.get("Rows Removed by Filter")})
        for child in node.get("Plans", []):
            walk(child, depth + 1)

    walk(plan["Plan"], 0)
    return {"execution_ms": plan.get("Execution Time"), "planning_ms": plan.get("Planning Time"),
            "jit": "JIT" in plan, "nodes": nodes, "shared_hit_blocks": plan["Plan"].get("Shared Hit Blocks", 0),
            "shared_read_blocks": plan["Plan"].get("Shared Read Blocks", 0), "sql": sql[:2000]}


def time_calls(fn, args_list, reps: int) -> list[float]:
    for args in args_list:  # warm-up pass, not counted
        fn(*args)
    samples = []
    for _ in range(reps):
        for args in args_list:
            t0 = time.perf_counter()
            fn(*args)
            samples.append(time.perf_counter() - t0)
    return samples


def resume_cursor(user_id: int, role: str, behind: int):
    """The cursor (a seq) after which the user's audience holds exactly ``behind`` notifications."""
    from clarion.notifications import queries
    from clarion.notifications.models import Notification

    if hasattr(queries, "inbox"):  # what a resume replays: the reader's inbox (issue 13), not all they may see
        rows = queries.inbox(user_id, role)
    else:
        rows = Notification.objects.filter(queries.audience_filter(user_id, role))
    seqs = list(rows.filter(seq__isnull=False).order_by("-seq").values_list("seq", flat=True)[behind - 1:behind])
    return seqs[0] - 1 if seqs else None


def measure_queries(profiles: dict, roles: dict, tokens: dict, reps: int, resume_reps: int) -> dict:
    from django.test import Client

    from clarion.notifications import queries

    client = Client()

    def rest(uid):
        response = client.get("/api/notifications/unread-count/", HTTP_AUTHORIZATION=f"Bearer {tokens[uid]}")
        if response.status_code != 200:
            raise RuntimeError(f"unread-count answered {response.status_code}: {response.content[:200]!r}")

    def snap(uid):
        queries.snapshot(uid, roles[uid], after=None, recent_limit=20, resume_limit=1000)

    out = {}
    for profile, uids in profiles.items():
        args = [(uid,) for uid in uids]
        counts = [queries.unread_count(uid, roles[uid]) for uid in uids]
        both = getattr(queries, "counts", None)  # unread and unseen in one query (issue 13)
        entry = {
            "users": len(uids),
            "unread_count_median": statistics.median(counts),
            "unread_count": summary_ms(time_calls(lambda u: queries.unread_count(u, roles[u]), args, reps)),
            "unread_and_unseen": (summary_ms(time_calls(lambda u: both(u, roles[u]), args, reps))
                                  if both else None),
            "unseen_count_median": statistics.median(both(u, roles[u]).unseen_count for u in uids) if both else None,
            "rest_unread_count": summary_ms(time_calls(rest, args, reps)),
            "snapshot": summary_ms(time_calls(snap, args, reps)),
            "explain_unread_count": explain(lambda: queries.unread_count(uids[0], roles[uids[0]])),
            "explain_snapshot": explain(lambda: snap(uids[0])),
            "resume": {},
        }
        for behind in (10, 100, 1000):
            cursors = [(uid, resume_cursor(uid, roles[uid], behind)) for uid in uids]
            cursors = [(uid, c) for uid, c in cursors if c is not None]
            if len(cursors) < len(uids) // 2:
                entry["resume"][str(behind)] = {"n": 0, "note": "audiences smaller than this at this size"}
                continue
            for uid, c in cursors[:3]:  # the resume really returns `behind` notifications, not cursor_expired
                snap_check = queries.snapshot(uid, roles[uid], after=c, recent_limit=20, resume_limit=1000)
                if snap_check.missed is None or len(snap_check.missed) != behind:
                    got = None if snap_check.missed is None else len(snap_check.missed)
                    raise RuntimeError(f"resume {behind} behind returned {got} notifications")

            def resume(uid, cursor):
                queries.snapshot(uid, roles[uid], after=cursor, recent_limit=20, resume_limit=1000)

            entry["resume"][str(behind)] = summary_ms(time_calls(resume, cursors, resume_reps))
            if behind == 100:
                entry["explain_resume_100"] = explain(lambda: resume(*cursors[0]))
        out[profile] = entry
    return out


# -- (a): writers -----------------------------------------------------------------------------

BULK_ROWS = 1000

def writer_main(spec: dict) -> None:
    """One writer process: send_notification_to_user in a loop between start_at and start_at+seconds."""
    import django

    django.setup()
    import clarion
    from clarion.realtime import publish
    from clarion.streams import sequencer

    waits, holds, sends, sent_ok, sent_fail = [], [], [], [0], [0]
    original_lock, original_send = sequencer.stream_lock, publish._group_send_all

    @contextmanager
    def timed_lock(name):
        t0 = time.perf_counter()
        with original_lock(name):
            t1 = time.perf_counter()
            try:
                yield
            finally:
                holds.append(time.perf_counter() - t1)
                waits.append(t1 - t0)

    def counted_send(group_events):
        t0 = time.perf_counter()
        ok = original_send(group_events)  # a batch's pushes, in one trip to the loop
        sends.append(time.perf_counter() - t0)  # the publish part of the lock hold
        sent_ok[0] += ok
        sent_fail[0] += len(group_events) - ok
        return ok

    sequencer.stream_lock = timed_lock
    publish._group_send_all = counted_send
    rng = random.Random(spec["seed"])
    users = spec["users"]
    latencies = []
    start_at, seconds = spec["start_at"], spec["seconds"]

    def record_reset():
        waits.clear()
        holds.clear()
        sends.clear()
        sent_ok[0] = sent_fail[0] = 0

    rows_per_call = 1
    if spec["mode"] == "bulk":
        # The sequencing ceiling: 1,000 personal notifications per call, one transaction, so each
        # batch numbers and pushes 1,000 rows under one lock acquisition.
        rows_per_call = min(BULK_ROWS, len(users))
        clarion.send_notification_to_users(rng.sample(users, 1), "warm-up", "warm-up")
        record_reset()
        time.sleep(max(0.0, start_at - time.time()))
        began = time.time()
        while time.time() < start_at + seconds:
            t0 = time.perf_counter()
            clarion.send_notification_to_users(rng.sample(users, rows_per_call), "Bench notification", "bulk writer")
            latencies.append(time.perf_counter() - t0)
    elif spec["mode"] == "script":
        clarion.send_notification_to_user(rng.choice(users), "warm-up", "warm-up")
        record_reset()
        time.sleep(max(0.0, start_at - time.time()))
        began = time.time()
        while time.time() < start_at + seconds:
            t0 = time.perf_counter()
            clarion.send_notification_to_user(rng.choice(users), "Bench notification", "from a writer process")
            latencies.append(time.perf_counter() - t0)
    else:
        async def run():
            from clarion.realtime import hub

            hub.get_hub()  # this loop's hub: publishes reuse its broker's Redis connection
            await clarion.asend_notification_to_user(rng.choice(users), "warm-up", "warm-up")
            record_reset()
            await asyncio.sleep(max(0.0, start_at - time.time()))
            began = time.time()
            while time.time() < start_at + seconds:
                t0 = time.perf_counter()
                await clarion.asend_notification_to_user(rng.choice(users), "Bench notification", "from a hub")
                latencies.append(time.perf_counter() - t0)
            await hub.close_hub()
            return began

        began = asyncio.run(run())
    result = {"mode": spec["mode"], "late_start_s": began - start_at, "created": len(latencies) * rows_per_call,
              "published_ok": sent_ok[0], "publish_failed": sent_fail[0],
              "latency": summary_ms(latencies), "lock_wait": summary_ms(waits), "lock_hold": summary_ms(holds),
              "publish_in_lock": summary_ms(sends),
              "lock_hold_total_s": sum(holds)}
    Path(spec["out"]).write_text(json.dumps(result))


class RedisCounter:
    """Counts messages published on clarion:* (did every create reach Redis?)."""

    def __init__(self, url):
        import redis

        self.client = redis.Redis.from_url(url)
        self.pubsub = self.client.pubsub(ignore_subscribe_messages=True)
        self.pubsub.psubscribe("clarion:*")
        self.count = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopping.is_set():
            message = self.pubsub.get_message(timeout=0.2)
            if message is not None and message["type"] == "pmessage":
                self.count += 1

    def drain(self, expected, timeout=10.0):
        deadline = time.time() + timeout
        while self.count < expected and time.time() < deadline:
            time.sleep(0.1)
        return self.count

    def close(self):
        self.stopping.set()
        self.thread.join(5)
        self.pubsub.close()
        self.client.close()


def measure_writers(backends: Backends, user_ids: list[int], seconds: float, cleanup: bool,
                    modes=("script", "hub", "bulk")) -> list[dict]:
    """Writer runs; with ``cleanup`` the rows they created are deleted afterwards (holes in seq are
    harmless, as after a retention sweep), so that later sizes keep the bulk loader's mix."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT coalesce(max(id), 0) FROM clarion_notification")
        first_id_after = cur.fetchone()[0]
    results = []
    env = backends.env()
    for mode in modes:
        for procs in (1, 4):
            with connection.cursor() as cur:
                cur.execute("SELECT count(*) FROM clarion_notification")
                before_rows = cur.fetchone()[0]
            counter = RedisCounter(backends.redis_url)
            start_at = time.time() + 4.0 + procs
            children, outs = [], []
            for i in range(procs):
                out = backends.tmp / f"writer-{mode}-{procs}-{i}.json"
                outs.append(out)
                spec = {"mode": mode, "seed": 1000 + i, "users": user_ids, "start_at": start_at,
                        "seconds": seconds, "out": str(out)}
                spec_file = backends.tmp / f"writer-{mode}-{procs}-{i}-spec.json"
                spec_file.write_text(json.dumps(spec))
                children.append(subprocess.Popen([PYTHON, "-m", "bench.dbload", "--writer", str(spec_file)],
                                                 cwd=ROOT, env=env))
            for child in children:
                try:
                    child.wait(timeout=seconds + 120)
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait()
            parts = [json.loads(out.read_text()) for out in outs if out.exists()]
            if len(parts) != procs:
                raise RuntimeError(f"{procs - len(parts)} writer(s) died in mode {mode}")
            created = sum(p["created"] for p in parts)
            with connection.cursor() as cur:
                cur.execute("SELECT count(*), count(*) FILTER (WHERE seq IS NULL) FROM clarion_notification")
                after_rows, unsequenced = cur.fetchone()
                cur.execute("SELECT count(DISTINCT seq) = count(seq), max(seq) = (SELECT position FROM "
                            "clarion_streamhead WHERE name = 'notifications') FROM clarion_notification")
                seqs_unique, head_matches = cur.fetchone()
            # warm-ups (one per writer) were published too
            seen = counter.drain(created + procs) - procs
            counter.close()
            row = {
                "mode": mode, "writers": procs, "seconds": seconds, "created": created,
                "per_s": created / seconds,
                "rows_added": after_rows - before_rows, "unsequenced_after": unsequenced,
                "seqs_unique": seqs_unique, "head_matches_max_seq": head_matches,
                "published_ok": sum(p["published_ok"] for p in parts),
                "publish_failed": sum(p["publish_failed"] for p in parts),
                "redis_messages_seen": seen,
                "latency_median_ms": statistics.median([p["latency"]["median_ms"] for p in parts]),
                "latency_p99_ms_worst_writer": max(p["latency"]["p99_ms"] for p in parts),
                "lock_hold_median_ms": statistics.median([p["lock_hold"]["median_ms"] for p in parts]),
                "lock_wait_median_ms": statistics.median([p["lock_wait"]["median_ms"] for p in parts]),
                "publish_in_lock_median_ms": statistics.median([p["publish_in_lock"]["median_ms"] for p in parts]),
                "lock_busy_share": sum(p["lock_hold_total_s"] for p in parts) / seconds,
                "late_start_s_max": max(p["late_start_s"] for p in parts),
                "per_writer": parts,
            }
            results.append(row)
            print(f"   (a) {mode:6} writers={procs}: {row['per_s']:.0f}/s, lock hold median "
                  f"{row['lock_hold_median_ms']:.2f} ms, lock busy {row['lock_busy_share'] * 100:.0f} %, "
                  f"Redis saw {seen}/{created}", flush=True)
    if cleanup:
        with connection.cursor() as cur:
            cur.execute("DELETE FROM clarion_notification WHERE id > %s", [first_id_after])
            cur.execute("VACUUM ANALYZE clarion_notification")
    return results


# -- (d): Redis alone -------------------------------------------------------------------------

def _resp(*parts: bytes) -> bytes:
    return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)


def measure_redis(backends: Backends, channels: int, connections: int, requests: int) -> dict:
    import redis

    client = redis.Redis.from_url(backends.redis_url)
    client.flushall()  # a private Redis of this run only
    used_before = client.info("memory")["used_memory"]
    received = [0]
    lock = threading.Lock()
    socks = []
    stop = threading.Event()

    def drain(sock):
        while not stop.is_set():
            try:
                data = sock.recv(1 << 16)
            except socket.timeout:
                continue
            except OSError:
                return
            if not data:
                return
            with lock:
                received[0] += len(data)

    per = channels // connections
    for c in range(connections):
        sock = socket.create_connection(("127.0.0.1", backends.redis_port))
        sock.settimeout(0.5)
        names = [b"clarion:clarion.user.%012d" % i for i in range(c * per, (c + 1) * per)]
        for start in range(0, len(names), 1000):
            sock.sendall(_resp(b"SUBSCRIBE", *names[start:start + 1000]))
        socks.append(sock)
        threading.Thread(target=drain, args=(sock,), daemon=True).start()
    deadline = time.time() + 30
    while client.pubsub_numsub("clarion:clarion.user.%012d" % (channels - 1))[0][1] < 1 and time.time() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)
    used_after = client.info("memory")["used_memory"]
    payload = "x" * 400  # about an encoded notification event
    runs = {}
    binary = shutil.which("redis-benchmark")
    for pipeline in (1, 16):
        if binary is None:
            break
        with lock:
            bytes_before = received[0]
        cpu0 = proc_cpu_seconds(backends.redis_proc.pid)
        out = subprocess.run([binary, "-h", "127.0.0.1", "-p", str(backends.redis_port), "-c", "50",
                              "-n", str(requests), "-r", str(channels), "-P", str(pipeline), "--csv",
                              "PUBLISH", "clarion:clarion.user.__rand_int__", payload],
                             capture_output=True, text=True, timeout=300)
        cpu = proc_cpu_seconds(backends.redis_proc.pid) - cpu0
        time.sleep(0.5)
        with lock:
            delivered_bytes = received[0] - bytes_before
        rps = None
        for line in out.stdout.splitlines():
            match = re.match(r'"PUBLISH[^"]*","([\d.]+)"', line)
            if match:
                rps = float(match.group(1))
        runs[f"pipeline_{pipeline}"] = {"requests": requests, "publish_per_s": rps,
                                         "redis_cpu_us_per_publish": cpu / requests * 1e6,
                                         "delivered_bytes_per_publish": delivered_bytes / requests}
    stop.set()
    for sock in socks:
        sock.close()
    client.flushall()
    client.close()
    return {"channels": channels, "subscriber_connections": connections,
            "bytes_per_subscribed_channel": (used_after - used_before) / channels, "redis_benchmark": runs,
            "payload_bytes": len(payload)}


# -- the run ----------------------------------------------------------------------------------

def print_tables(result: dict) -> None:
    print("\n(b) unread count, REST unread-count request and connect snapshot (ms, median / p99)")
    print(f"{'rows':>9} {'profile':13} {'unread':>7} {'count query':>15} {'REST request':>15} {'snapshot':>15}"
          f"  plan (unread count)")
    for size in result["sizes"]:
        for profile, e in size["queries"].items():
            plan = e["explain_unread_count"]
            scans = sorted({n["node"] for n in plan["nodes"] if "Scan" in n["node"] or "Bitmap" in n["node"]})
            print(f"{size['rows']:>9} {profile:13} {e['unread_count_median']:>7.0f} "
                  f"{fmt(e['unread_count']['median_ms']):>7} {fmt(e['unread_count']['p99_ms']):>7} "
                  f"{fmt(e['rest_unread_count']['median_ms']):>7} {fmt(e['rest_unread_count']['p99_ms']):>7} "
                  f"{fmt(e['snapshot']['median_ms']):>7} {fmt(e['snapshot']['p99_ms']):>7}  "
                  f"{'; '.join(scans)}{' (JIT)' if plan['jit'] else ''}")
    print("\n(b2) unread and unseen counted in one query (queries.counts, issue 13) (ms, median / p99)")
    print(f"{'rows':>9} {'profile':13} {'unread':>7} {'unseen':>7} {'counts query':>15}")
    for size in result["sizes"]:
        for profile, e in size["queries"].items():
            if e.get("unread_and_unseen"):
                print(f"{size['rows']:>9} {profile:13} {e['unread_count_median']:>7.0f} "
                      f"{e['unseen_count_median']:>7.0f} {fmt(e['unread_and_unseen']['median_ms']):>7} "
                      f"{fmt(e['unread_and_unseen']['p99_ms']):>7}")
    print("\n(c) resume by cursor: queries.snapshot(after=cursor) (ms, median / p99)")
    print(f"{'rows':>9} {'profile':13} {'10 behind':>15} {'100 behind':>15} {'1000 behind':>15}")
    for size in result["sizes"]:
        for profile, e in size["queries"].items():
            cells = []
            for behind in ("10", "100", "1000"):
                r = e["resume"][behind]
                cells.append(f"{fmt(r.get('median_ms')):>7} {fmt(r.get('p99_ms')):>7}" if r.get("n")
                             else f"{'n/a':>15}")
            print(f"{size['rows']:>9} {profile:13} {' '.join(cells)}")
    last = result["sizes"][-1]
    for profile, e in last["queries"].items():
        for name in ("explain_unread_count", "explain_snapshot", "explain_resume_100"):
            plan = e.get(name)
            if plan is None:
                continue
            print(f"\nEXPLAIN ANALYZE at {last['rows']} rows, {profile}, {name[8:]}: {plan['execution_ms']:.2f} ms"
                  f"{' (JIT)' if plan['jit'] else ''}, {plan['shared_hit_blocks']} blocks hit, "
                  f"{plan['shared_read_blocks']} read")
            for n in plan["nodes"]:
                removed = f", {n['removed_by_filter']} removed by filter" if n.get("removed_by_filter") else ""
                print(f"   {'  ' * n['depth']}{n['node']}  (rows {n['rows']}, loops {n['loops']}{removed})")
    print("\ntable sizes")
    for size in result["sizes"]:
        t = size["table"]
        print(f"{t['rows']:>9} rows: heap {t['heap_bytes'] / 2**20:.0f} MiB, "
              f"indexes {t['index_bytes'] / 2**20:.0f} MiB,"
              f" {t['read_rows']} read rows ({t['reads_table_bytes'] / 2**20:.0f} MiB); bulk load "
              f"{size['load']['seconds']:.1f} s")
    if result.get("writers"):
        print("\n(a) writers: send_notification_to_user (script, hub) and send_notification_to_users of "
              f"{BULK_ROWS} (bulk), sequenced under the notification stream's lock; created/s counts rows")
        print(f"{'rows':>9} {'mode':7} {'writers':>7} {'created/s':>10} {'call p50 ms':>12} {'p99 ms':>8} "
              f"{'lock hold p50':>14}"
              f" {'of it publish':>14} {'lock wait p50':>14} {'lock busy':>10} {'in Redis':>12}")
        for w in result["writers"]:
            print(f"{w['table_rows_before']:>9} {w['mode']:7} {w['writers']:>7} {w['per_s']:>10.0f} "
                  f"{w['latency_median_ms']:>12.2f} "
                  f"{w['latency_p99_ms_worst_writer']:>8.2f} {w['lock_hold_median_ms']:>14.2f} "
                  f"{w['publish_in_lock_median_ms']:>14.2f} "
                  f"{w['lock_wait_median_ms']:>14.2f} {w['lock_busy_share'] * 100:>9.0f}% "
                  f"{w['redis_messages_seen']:>6}/{w['created']}")
    if result.get("redis"):
        r = result["redis"]
        print(f"\n(d) Redis {result['machine'].get('redis_version')}: {r['bytes_per_subscribed_channel']:.0f} B per "
              f"subscribed channel ({r['channels']} channels over {r['subscriber_connections']} connections)")
        for name, run in r["redis_benchmark"].items():
            print(f"   PUBLISH {name}: {fmt(run['publish_per_s'], 0)}/s, Redis CPU "
                  f"{run['redis_cpu_us_per_publish']:.1f} us/publish, {run['delivered_bytes_per_publish']:.0f} B "
                  f"delivered per publish")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.dbload", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10^4 and 10^5 rows, shorter runs (about 1 min)")
    parser.add_argument("--pg-url", default="postgres://postgres@127.0.0.1:5432/test",
                        help="PostgreSQL where the throwaway database is created and dropped")
    parser.add_argument("--users", type=int, default=10000, help="users created (default 10000)")
    parser.add_argument("--sample-users", type=int, help="students measured per profile (default 30; quick 15)")
    parser.add_argument("--writer-seconds", type=float, help="seconds per writer run (default 15; quick 5)")
    parser.add_argument("--mix", default="90,8,2",
                        help="percent of bulk rows to one user, to a role, to everyone (default 90,8,2)")
    parser.add_argument("--skip", default="", help="comma list of parts to skip: writers, redis")
    parser.add_argument("--out", help="result file (default bench/results/dbload-<date>.json)")
    parser.add_argument("--clarion-src", help="import Clarion from this src/ directory (e.g. a clean "
                        "`git archive HEAD src` while the working tree is being edited)")
    parser.add_argument("--writer", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.writer:
        writer_main(json.loads(Path(args.writer).read_text()))
        return 0

    sizes = [10**4, 10**5] if args.quick else [10**4, 10**5, 10**6]
    samples = args.sample_users or (15 if args.quick else 30)
    reps, resume_reps = (3, 2) if args.quick else (4, 2)
    writer_seconds = args.writer_seconds or (5.0 if args.quick else 15.0)
    skip = set(filter(None, args.skip.split(",")))
    shares = [float(x) / 100 for x in args.mix.split(",")]
    if len(shares) != 3 or abs(sum(shares) - 1) > 1e-6:
        parser.error("--mix takes three percentages adding up to 100")
    mix = (shares[0], shares[1])
    writer_sizes = {sizes[-1]} if args.quick else {sizes[0], sizes[-1]}
    started = time.time()
    if args.clarion_src:
        args.clarion_src = str(Path(args.clarion_src).resolve())
        sys.path.insert(0, args.clarion_src)
    backends = Backends(args.pg_url, args.clarion_src)
    result = {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
              "commit": git("rev-parse", "HEAD"),
              "dirty": (git("status", "--porcelain", "--", "src", "bench/dbload.py") or "").splitlines()[:20],
              "clarion_src": args.clarion_src,
              "quick": args.quick,
              "command": "python -m bench.dbload " + " ".join(argv if argv is not None else sys.argv[1:]),
              "params": {"users": args.users, "sample_users_per_profile": samples, "reps": reps,
                         "resume_reps": resume_reps, "share_user": shares[0], "share_role": shares[1],
                         "share_all": shares[2], "personal_read_share": 0.5,
                         "watermark_behind": WATERMARK_BEHIND, "writer_seconds": writer_seconds},
              "sizes": []}
    try:
        backends.start()
        env = backends.env()
        subprocess.run([CLI, "migrate"], env=env, check=True, timeout=300)
        os.environ.update(env)
        import django

        django.setup()
        from django.db import connection

        from clarion.auth.tokens import access_token_for
        from django.contrib.auth.models import User

        with connection.cursor() as cur:
            cur.execute("SELECT version()")
            pg_version = cur.fetchone()[0]
            cur.execute("SELECT name, setting FROM pg_settings WHERE name IN ('shared_buffers', 'synchronous_commit',"
                        " 'fsync', 'jit', 'work_mem', 'effective_cache_size', 'random_page_cost')")
            pg_settings = dict(cur.fetchall())
        import redis

        redis_version = redis.Redis.from_url(backends.redis_url).info("server")["redis_version"]
        model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("model name")), None)
        import clarion

        result["clarion_imported_from"] = str(Path(clarion.__file__).parent)
        result["machine"] = {"nproc": os.cpu_count(), "cpu_model": model, "kernel": platform.release(),
                             "python": platform.python_version(), "loadavg_at_start": os.getloadavg(),
                             "postgresql": pg_version, "pg_settings": pg_settings, "redis_version": redis_version}
        print(f"database {backends.db}, Redis on port {backends.redis_port}; {pg_version.split(' on ')[0]}", flush=True)

        t0 = time.time()
        roles = create_users(args.users)
        user_ids = sorted(roles)
        print(f"created {args.users} users in {time.time() - t0:.1f} s", flush=True)
        rng = random.Random(42)
        students = [uid for uid in user_ids if roles[uid] == "student"]
        picked = rng.sample(students, 3 * samples)
        profiles = {"watermark": picked[:samples], "no-watermark": picked[samples:2 * samples],
                    "inbox": picked[2 * samples:]}
        users_by_id = User.objects.in_bulk(picked)
        tokens = {uid: access_token_for(users_by_id[uid]) for uid in picked}

        for target in sizes:
            load = bulk_load(target, user_ids[0], len(user_ids), mix)
            set_watermarks(profiles["watermark"], load["head"])
            set_inbox_state(profiles["inbox"], load["head"])
            print(f"== {target} rows (added {load['added']} in {load['seconds']:.1f} s, head {load['head']})",
                  flush=True)
            entry = {"rows": target, "load": load, "table": table_sizes(),
                     "queries": measure_queries(profiles, roles, tokens, reps, resume_reps)}
            for profile, e in entry["queries"].items():
                print(f"   {profile:13} unread {e['unread_count_median']:.0f}: count "
                      f"{e['unread_count']['median_ms']:.2f} ms, REST {e['rest_unread_count']['median_ms']:.2f} ms, "
                      f"snapshot {e['snapshot']['median_ms']:.2f} ms", flush=True)
            result["sizes"].append(entry)
            if "writers" not in skip and target in writer_sizes:
                print(f"== (a) writers at {target} rows, {writer_seconds:.0f} s each", flush=True)
                for row in measure_writers(backends, user_ids, writer_seconds, cleanup=target != sizes[-1]):
                    row["table_rows_before"] = target
                    result.setdefault("writers", []).append(row)
        if "redis" not in skip:
            print("== (d) Redis pub/sub", flush=True)
            result["redis"] = measure_redis(backends, channels=20000 if args.quick else 100000, connections=20,
                                            requests=50000 if args.quick else 200000)
        result["duration_s"] = time.time() - started
        print_tables(result)
        out = Path(args.out) if args.out else result_path()
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=1))
        print(f"\nwrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out} "
              f"({result['duration_s']:.0f} s in all)")
        return 0
    finally:
        backends.stop()


if __name__ == "__main__":
    sys.exit(main())
