"""Delivery (issue 14): how fast the worker mails, how fast the planner makes a role's rows.

    .venv/bin/python -m bench.delivery                      # both scenarios, embedded + PostgreSQL, 3 runs each
    .venv/bin/python -m bench.delivery --scenarios mail-rate --backends postgresql --profile
    .venv/bin/python -m bench.delivery --quick              # smoke run: 200 mails, 1,000 readers, 1 run

Scenarios (each in a fresh database: a temporary data folder for ``embedded`` (SQLite), a
throwaway PostgreSQL database ``clarion_bench_delivery_<pid>`` beside ``--pg-url``'s for
``postgresql``, migrated with ``clarion migrate`` and dropped at the end):

* **mail-rate**: ``--mails`` (2,000) users with addresses, bulk-created; per run one personal
  notification each of category ``deadline`` (mailed at once: email_delay 0), created in one
  ``send_notification_to_users`` call. The worker then runs in-process, as ``clarion worker``'s
  rounds do without their idle sleeps: ``planner.plan()`` until it makes nothing (*plan s*), then
  ``worker.send_due()`` until nothing is left, to an aiosmtpd server on loopback in its own
  process (pinned to core 1; the worker process to core 0) that accepts and counts.
  *send mails/s* = mails / (the last mail's arrival - the first send_due call);
  *end-to-end mails/s* counts from the first plan() call. *worker CPU ms/mail* = the worker
  process's CPU during the send phase / mails. The floor, in the same run and to the same
  server: the same mails (composed beforehand by the email channel from that run's rows) sent
  by Django's ``get_connection().send_messages()`` over one connection. *vs floor* = worker
  send mails/s / floor mails/s. ``--profile`` also runs one send phase under cProfile and
  keeps the top functions.
* **plan-role**: ``--readers`` (10,000) users with the role ``student`` and an address, 100 of
  them with a Web Push subscription; per run one role notification of category ``review``
  (CLARION_EMAIL_UNREAD_AFTER=0, so it is due at once), sequenced, then ``planner.plan()`` until
  it makes nothing, timed (*plan s*), with the SQL statements counted; rows made by channel.
  Twice per run: every reader unread (expect 10,000 email rows + a push row per subscriber), and
  half of them (5,000) with a read watermark at or above its seq (expect 5,000 email rows).
  ``--profile`` adds one all-unread run under cProfile.
* **receipt-flush**: ``--readers`` (10,000) users; per run ``receipts.note()`` once per reader
  (what each ack costs on the socket's path beyond the frame itself), then ``receipts.flush()``,
  the once-a-second bulk insert of a serving process, timed (wall and CPU); the floor: the same
  rows by one ``executemany`` of a plain INSERT in one transaction.

Median of ``--runs`` (3). Prints tables and writes bench/results/issue14-<date>-delivery.json
(``-2``... if taken; ``-quick`` for smoke runs). Hold ``flock /tmp/clarion-bench.lock`` around a
full run on the shared machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PYTHON = sys.executable
CLI = str(Path(PYTHON).parent / "clarion")
SECRET = "delivery-bench-secret-key-not-for-production-0123456789"
TASKSET = shutil.which("taskset")
SCENARIOS = ("mail-rate", "plan-role", "receipt-flush")
BACKENDS = ("embedded", "postgresql")


def pinned(argv: list[str], core: int) -> list[str]:
    if TASKSET and (os.cpu_count() or 1) >= 2:
        return [TASKSET, "-c", str(core), *argv]
    return argv


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(value, digits=2):
    return "-" if value is None else f"{value:.{digits}f}"


# -- the SMTP sink: its own process, counting -------------------------------------------------

def smtp_main(port: int) -> None:
    """aiosmtpd on 127.0.0.1:port, accepting everything; stdin commands "stats" / "reset"."""
    from aiosmtpd.controller import Controller

    state = {"count": 0, "bytes": 0, "first": None, "last": None}

    class Sink:
        async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
            envelope.rcpt_tos.append(address)
            return "250 OK"

        async def handle_DATA(self, server, session, envelope):
            now = time.time()
            state["count"] += 1
            state["bytes"] += len(envelope.content)
            if state["first"] is None:
                state["first"] = now
            state["last"] = now
            return "250 Message accepted for delivery"

    controller = Controller(Sink(), hostname="127.0.0.1", port=port)
    controller.start()
    print(json.dumps({"ready": True}), flush=True)
    try:
        for line in sys.stdin:
            cmd = line.strip()
            if cmd == "reset":
                state.update(count=0, bytes=0, first=None, last=None)
            elif cmd == "quit":
                break
            print(json.dumps(state), flush=True)
    finally:
        controller.stop()


class SmtpSink:
    def __init__(self, port: int, log: Path):
        self.port = port
        self.proc = subprocess.Popen(pinned([PYTHON, "-m", "bench.delivery", "_smtp", "--port", str(port)], 1),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=open(log, "ab"),
                                     text=True, cwd=ROOT)
        self.lock = threading.Lock()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the SMTP sink did not start; see {log}")

    def call(self, cmd: str) -> dict:
        with self.lock:
            self.proc.stdin.write(cmd + "\n")
            self.proc.stdin.flush()
            return json.loads(self.proc.stdout.readline())

    def wait_for(self, count: int, stall: float = 30.0) -> dict:
        """Until ``count`` mails arrived, or none arrived for ``stall`` s."""
        last_count, last_change = -1, time.monotonic()
        while True:
            st = self.call("stats")
            if st["count"] >= count:
                return st
            if st["count"] != last_count:
                last_count, last_change = st["count"], time.monotonic()
            elif time.monotonic() - last_change > stall:
                return st
            time.sleep(0.02)

    def stop(self):
        try:
            self.call("quit")
        except Exception:
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


# -- inside the child: Django set up on the scenario's database -------------------------------

class QueryCounter:
    def __init__(self):
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


def _ensure_sequenced(ids) -> None:
    from clarion.notifications.models import Notification
    from clarion.streams.relay import publish_pending

    deadline = time.monotonic() + 30
    while Notification.objects.filter(pk__in=ids, seq__isnull=True).exists():
        publish_pending()
        if time.monotonic() > deadline:
            raise RuntimeError("notifications still unsequenced after 30 s")
        time.sleep(0.05)


def _make_users(prefix: str, count: int, role: str | None = None) -> list[int]:
    from django.contrib.auth.models import User

    from clarion.models import RoleAssignment

    User.objects.bulk_create([User(username=f"{prefix}{i}", email=f"{prefix}{i}@example.test", password="!")
                              for i in range(count)], batch_size=2000)
    by_name = dict(User.objects.filter(username__startswith=prefix).values_list("username", "id"))
    ids = [by_name[f"{prefix}{i}"] for i in range(count)]
    if role:
        RoleAssignment.objects.bulk_create([RoleAssignment(user_id=uid, role=role) for uid in ids], batch_size=2000)
    return ids


def _profile_text(profiler, path: Path) -> dict:
    import io
    import pstats

    profiler.dump_stats(str(path))
    text = {"file": str(path)}
    for key in ("tottime", "cumulative"):
        buf = io.StringIO()
        pstats.Stats(profiler, stream=buf).sort_stats(key).print_stats(30)
        text[key] = buf.getvalue().splitlines()
    return text


def child_mail_rate(opts: dict) -> dict:
    from datetime import datetime, timezone

    from django.core.mail import get_connection
    from django.db import connection

    from clarion.delivery import planner, worker
    from clarion.delivery.channels import Message
    from clarion.delivery.channels.email import EmailChannel
    from clarion.delivery.models import Delivery
    from clarion.notifications.services import send_notification_to_users

    count, runs = opts["mails"], opts["runs"]
    sink = SmtpSink(opts["smtp_port"], Path(opts["logdir"]) / f"smtp-{opts['backend']}.log")
    out = {"mails": count, "runs": [], "floor_runs": []}
    try:
        users = _make_users("m", count)
        for run in range(1, runs + 1 + (1 if opts["profile"] else 0)):
            profiling = opts["profile"] and run == runs + 1
            notes = send_notification_to_users(users, title=f"Submit your report (run {run})",
                                               message="The deadline for the final report is Friday 17:00. "
                                                       "Upload it on the project page.",
                                               category="deadline", link="/projects/7")
            ids = [n.pk for n in notes]
            _ensure_sequenced(ids)
            sink.call("reset")
            t0 = time.time()
            planned = 0
            while True:
                made = planner.plan()
                planned += made
                if made == 0:
                    break
            t1 = time.time()
            cpu0 = time.process_time()
            profiler = None
            if profiling:
                import cProfile

                profiler = cProfile.Profile()
                profiler.enable()
            rounds = settled = 0
            t2 = time.time()
            while True:
                done = worker.send_due()
                rounds += 1
                settled += done
                if done == 0:
                    break
            if profiler is not None:
                profiler.disable()
            cpu = time.process_time() - cpu0
            st = sink.wait_for(count)
            sent = Delivery.objects.filter(notification_id__in=ids, channel="email", status="sent").count()
            res = {"run": run, "planned_rows": planned, "plan_s": t1 - t0, "settled": settled, "rounds": rounds,
                   "received": st["count"], "sent_rows": sent,
                   "bytes_per_mail": st["bytes"] / st["count"] if st["count"] else None,
                   "send_s": (st["last"] - t2) if st["last"] else None,
                   "end_to_end_s": (st["last"] - t0) if st["last"] else None,
                   "worker_cpu_ms_per_mail": cpu / st["count"] * 1e3 if st["count"] else None}
            res["send_mails_per_s"] = st["count"] / res["send_s"] if res["send_s"] else None
            res["end_to_end_mails_per_s"] = st["count"] / res["end_to_end_s"] if res["end_to_end_s"] else None
            if profiling:
                res["profile"] = _profile_text(profiler, Path(opts["logdir"]) / f"mail-rate-{opts['backend']}.prof")
                out["profile_run"] = res
            else:
                out["runs"].append(res)
            print(f"   [{opts['backend']}] mail-rate run {run}{' (profiled)' if profiling else ''}: "
                  f"plan {res['plan_s']:.2f} s for {planned} rows, send {fmt(res['send_s'])} s = "
                  f"{fmt(res['send_mails_per_s'], 0)} mails/s (end to end {fmt(res['end_to_end_mails_per_s'], 0)}/s), "
                  f"received {st['count']}/{count}, CPU {fmt(res['worker_cpu_ms_per_mail'])} ms/mail",
                  file=sys.stderr, flush=True)
            if profiling:
                continue
            # The floor: the very same mails, composed beforehand, over one connection.
            rows = list(Delivery.objects.filter(notification_id__in=ids, channel="email")
                        .select_related("notification", "user").order_by("id"))
            channel = EmailChannel()
            mails = [channel.compose(Message("email", row.user, "en", [row])) for row in rows]
            connection.close()
            sink.call("reset")
            f0 = time.time()
            fcpu0 = time.process_time()
            backend = get_connection(fail_silently=False)
            sent_floor = backend.send_messages(mails)
            fcpu = time.process_time() - fcpu0
            fst = sink.wait_for(len(mails))
            floor = {"run": run, "mails": len(mails), "sent": sent_floor, "received": fst["count"],
                     "bytes_per_mail": fst["bytes"] / fst["count"] if fst["count"] else None,
                     "s": (fst["last"] - f0) if fst["last"] else None,
                     "cpu_ms_per_mail": fcpu / fst["count"] * 1e3 if fst["count"] else None}
            floor["mails_per_s"] = fst["count"] / floor["s"] if floor["s"] else None
            out["floor_runs"].append(floor)
            print(f"   [{opts['backend']}] floor run {run}: {fmt(floor['s'])} s = {fmt(floor['mails_per_s'], 0)} "
                  f"mails/s, CPU {fmt(floor['cpu_ms_per_mail'])} ms/mail", file=sys.stderr, flush=True)
    finally:
        sink.stop()
    med = {key: median([r[key] for r in out["runs"]])
           for key in ("plan_s", "send_s", "send_mails_per_s", "end_to_end_s", "end_to_end_mails_per_s",
                       "worker_cpu_ms_per_mail", "bytes_per_mail")}
    med["floor_mails_per_s"] = median([f["mails_per_s"] for f in out["floor_runs"]])
    med["floor_cpu_ms_per_mail"] = median([f["cpu_ms_per_mail"] for f in out["floor_runs"]])
    med["floor_bytes_per_mail"] = median([f["bytes_per_mail"] for f in out["floor_runs"]])
    med["vs_floor"] = (med["send_mails_per_s"] / med["floor_mails_per_s"]
                       if med["send_mails_per_s"] and med["floor_mails_per_s"] else None)
    med["lost"] = sum(count - r["received"] for r in out["runs"])
    out["median"] = med
    out["target_mails_per_s"] = 200
    out["target_met"] = bool(med["send_mails_per_s"] and med["send_mails_per_s"] >= 200)
    return out


def child_plan_role(opts: dict) -> dict:
    from django.db import connection

    from clarion.delivery import planner
    from clarion.delivery.models import Delivery, PushSubscription
    from clarion.notifications.models import ReadWatermark
    from clarion.notifications.services import send_notification_to_role

    readers, runs, subscribers = opts["readers"], opts["runs"], opts["push_subscribers"]
    users = _make_users("r", readers, role="student")
    PushSubscription.objects.bulk_create([
        PushSubscription(user_id=uid, endpoint=f"https://push.example.test/sub/{uid}",
                         p256dh="B" + "A" * 86, auth="A" * 22) for uid in users[::max(1, readers // subscribers)][:subscribers]])
    half = users[: readers // 2]
    out = {"readers": readers, "push_subscribers": subscribers, "read_readers": len(half), "runs": []}
    for run in range(1, runs + 1 + (1 if opts["profile"] else 0)):
        profiling = opts["profile"] and run == runs + 1
        for variant in ("all-unread",) if profiling else ("all-unread", "half-read"):
            note = send_notification_to_role("student", title=f"Review round {run} ({variant})",
                                             message="Your project was reviewed.", category="review")
            _ensure_sequenced([note.pk])
            note.refresh_from_db()
            if variant == "half-read":
                ReadWatermark.objects.bulk_create([ReadWatermark(user_id=uid, seq=note.seq) for uid in half],
                                                  update_conflicts=True, unique_fields=["user"],
                                                  update_fields=["seq"], batch_size=2000)
            counter = QueryCounter()
            calls = made = 0
            profiler = None
            if profiling:
                import cProfile

                profiler = cProfile.Profile()
                profiler.enable()
            with connection.execute_wrapper(counter):
                t0 = time.perf_counter()
                cpu0 = time.process_time()
                while True:
                    step = planner.plan()
                    calls += 1
                    made += step
                    if step == 0:
                        break
                elapsed = time.perf_counter() - t0
                cpu = time.process_time() - cpu0
            if profiler is not None:
                profiler.disable()
            by = {f"{ch}:{st}": n for ch, st, n in _count_rows(Delivery, note.pk)}
            res = {"run": run, "variant": variant, "plan_s": elapsed, "plan_calls": calls, "rows": made,
                   "queries": counter.count, "planner_cpu_s": cpu, "rows_by_channel_status": by,
                   "email_rows": sum(n for k, n in by.items() if k.startswith("email:")),
                   "push_rows": sum(n for k, n in by.items() if k.startswith("push:"))}
            if profiling:
                res["profile"] = _profile_text(profiler, Path(opts["logdir"]) / f"plan-role-{opts['backend']}.prof")
                out["profile_run"] = res
            else:
                out["runs"].append(res)
            print(f"   [{opts['backend']}] plan-role run {run}{' (profiled)' if profiling else ''} {variant}: {elapsed:.3f} s, {made} rows {by}, "
                  f"{counter.count} queries, {calls} plan() calls", file=sys.stderr, flush=True)
    out["median"] = {}
    for variant in ("all-unread", "half-read"):
        rows = [r for r in out["runs"] if r["variant"] == variant]
        out["median"][variant] = {key: median([r[key] for r in rows])
                                  for key in ("plan_s", "rows", "email_rows", "push_rows", "queries", "planner_cpu_s")}
    a, h = out["median"]["all-unread"]["plan_s"], out["median"]["half-read"]["plan_s"]
    out["median"]["half_read_vs_all_unread"] = h / a if a and h else None
    out["target_s"] = 2.0
    out["target_met"] = bool(a is not None and a < 2.0)
    return out


def child_receipt_flush(opts: dict) -> dict:
    """What the once-a-second receipts flush of one process costs when ``readers`` sockets
    acknowledged one broadcast: ``receipts.note()`` per reader (the socket path's part), then
    ``receipts.flush()`` (one bulk insert), timed apart."""
    from clarion.delivery import receipts
    from clarion.notifications.models import Receipt

    readers, runs = opts["readers"], opts["runs"]
    users = _make_users("k", readers)
    out = {"readers": readers, "runs": []}
    for run in range(1, runs + 1):
        seq = 1000 * run
        t0 = time.perf_counter()
        for uid in users:
            receipts.note(uid, seq)
        t1 = time.perf_counter()
        cpu0 = time.process_time()
        written = receipts.flush()
        t2 = time.perf_counter()
        cpu = time.process_time() - cpu0
        # The floor: the same rows by one executemany of a plain INSERT, in one transaction.
        from datetime import datetime, timezone

        from django.db import connection, transaction

        at = datetime.now(timezone.utc)
        params = [(uid, Receipt.Kind.DELIVERED, seq + 1, at) for uid in users]
        sql = f"INSERT INTO {Receipt._meta.db_table} (user_id, kind, seq, at) VALUES (%s, %s, %s, %s)"
        r0 = time.perf_counter()
        rcpu0 = time.process_time()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.executemany(sql, params)
        raw_s = time.perf_counter() - r0
        raw_cpu = time.process_time() - rcpu0
        res = {"run": run, "note_us_per_ack": (t1 - t0) / readers * 1e6, "flush_s": t2 - t1, "flush_cpu_s": cpu,
               "rows": written, "rows_in_table": Receipt.objects.filter(seq=seq).count(),
               "raw_executemany_s": raw_s, "raw_executemany_cpu_s": raw_cpu,
               "raw_rows_in_table": Receipt.objects.filter(seq=seq + 1).count()}
        out["runs"].append(res)
        print(f"   [{opts['backend']}] receipt-flush run {run}: note {res['note_us_per_ack']:.2f} us/ack, flush "
              f"{res['flush_s'] * 1e3:.0f} ms ({cpu * 1e3:.0f} ms CPU) for {written} rows; one executemany "
              f"{raw_s * 1e3:.0f} ms ({raw_cpu * 1e3:.0f} ms CPU)", file=sys.stderr, flush=True)
    out["median"] = {key: median([r[key] for r in out["runs"]])
                     for key in ("note_us_per_ack", "flush_s", "flush_cpu_s", "raw_executemany_s", "raw_executemany_cpu_s")}
    return out


def _count_rows(Delivery, notification_id):
    from django.db.models import Count

    return (Delivery.objects.filter(notification_id=notification_id).values_list("channel", "status")
            .annotate(n=Count("id")).order_by("channel", "status"))


def child_main(args) -> None:
    import django

    django.setup()
    opts = json.loads(args.opts)
    fn = {"mail-rate": child_mail_rate, "plan-role": child_plan_role,
          "receipt-flush": child_receipt_flush}[opts["scenario"]]
    result = fn(opts)
    print("RESULT " + json.dumps(result), flush=True)


# -- the parent: databases, children, tables, the JSON --------------------------------------------

class Backend:
    def __init__(self, name: str, pg_url: str, tmp: Path, tag: str, clarion_src: str | None = None):
        self.name = name
        self.clarion_src = clarion_src
        self.pg_url = pg_url
        self.dir = tmp / f"{name}-{tag}"
        self.db = f"clarion_bench_delivery_{tag.replace('-', '_')}_{os.getpid()}"

    def _admin(self, *statements):
        import psycopg

        with psycopg.connect(self.pg_url, autocommit=True, connect_timeout=10) as conn:
            for statement in statements:
                conn.execute(statement)

    def env(self, extra: dict) -> dict:
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
        env.update(DJANGO_SETTINGS_MODULE="clarion.server.settings", CLARION_DATA_DIR=str(self.dir),
                   CLARION_SECRET_KEY=SECRET, CLARION_LOG_LEVEL="WARNING",
                   PYTHONPATH=os.pathsep.join(filter(None, [self.clarion_src, str(ROOT), os.environ.get("PYTHONPATH")])),
                   **extra)
        if self.name == "postgresql":
            env["DATABASE_URL"] = f"{self.pg_url.rstrip('/').rsplit('/', 1)[0]}/{self.db}"
        return env

    def create(self, env: dict, log: Path):
        self.dir.mkdir(parents=True, exist_ok=True)
        if self.name == "postgresql":
            self._admin(f'DROP DATABASE IF EXISTS "{self.db}" WITH (FORCE)', f'CREATE DATABASE "{self.db}"')
        with open(log, "ab") as fh:
            subprocess.run([CLI, "migrate"], env=env, stdout=fh, stderr=subprocess.STDOUT, check=True, timeout=300,
                           cwd=ROOT)

    def drop(self):
        if self.name == "postgresql":
            try:
                self._admin(f'DROP DATABASE IF EXISTS "{self.db}" WITH (FORCE)')
            except Exception as exc:
                print(f"could not drop {self.db}: {exc}", file=sys.stderr)
        shutil.rmtree(self.dir, ignore_errors=True)


def run_child(scenario: str, backend_name: str, args, tmp: Path, logdir: Path) -> dict:
    from bench.proc import free_port

    backend = Backend(backend_name, args.pg_url, tmp, scenario, args.clarion_src)
    smtp_port = free_port()
    extra = {"CLARION_EMAIL_URL": f"smtp://127.0.0.1:{smtp_port}", "CLARION_SITE_URL": "https://projects.example.edu"}
    if scenario == "plan-role":
        extra["CLARION_EMAIL_UNREAD_AFTER"] = "0"
    env = backend.env(extra)
    log = logdir / f"{scenario}-{backend_name}.log"
    try:
        backend.create(env, log)
        opts = {"scenario": scenario, "backend": backend_name, "runs": args.runs, "mails": args.mails,
                "readers": args.readers, "push_subscribers": min(args.push_subscribers, args.readers),
                "smtp_port": smtp_port, "logdir": str(logdir), "profile": args.profile}
        proc = subprocess.run(pinned([PYTHON, "-m", "bench.delivery", "_child", "--opts", json.dumps(opts)], 0),
                              env=env, stdout=subprocess.PIPE, stderr=None, text=True, cwd=ROOT,
                              timeout=args.timeout)
        lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
        if proc.returncode != 0 or not lines:
            return {"error": f"child exited {proc.returncode}: {proc.stdout[-2000:]}"}
        return json.loads(lines[-1][len("RESULT "):])
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}
    finally:
        backend.drop()


def tables(result: dict) -> str:
    out = []
    mr = {}
    for key, res in result["results"].items():
        scenario, backend = key.split("/")
        if scenario == "mail-rate":
            mr[backend] = res
    if mr:
        out += [f"mail-rate: {result['params']['mails']} mails, median of {result['params']['runs']}",
                "",
                "| backend | plan s | send s | send mails/s | end-to-end mails/s | worker CPU ms/mail | floor mails/s "
                "(send_messages, 1 connection) | worker / floor | bytes/mail | lost |",
                "|---|---|---|---|---|---|---|---|---|---|"]
        for backend, res in mr.items():
            if "error" in res:
                out.append(f"| {backend} | ERROR {res['error'][:200]} |")
                continue
            m = res["median"]
            out.append(f"| {backend} | {fmt(m['plan_s'])} | {fmt(m['send_s'])} | {fmt(m['send_mails_per_s'], 0)} | "
                       f"{fmt(m['end_to_end_mails_per_s'], 0)} | {fmt(m['worker_cpu_ms_per_mail'])} | "
                       f"{fmt(m['floor_mails_per_s'], 0)} | {fmt(m['vs_floor'])} | {fmt(m['bytes_per_mail'], 0)} | "
                       f"{m['lost']} |")
        out.append("")
    pr = {}
    for key, res in result["results"].items():
        scenario, backend = key.split("/")
        if scenario == "plan-role":
            pr[backend] = res
    if pr:
        out += [f"plan-role: one role notification to {result['params']['readers']} readers "
                f"({result['params']['push_subscribers']} with a push subscription), median of "
                f"{result['params']['runs']}",
                "",
                "| backend | readers who read it | plan s | rows (email + push) | SQL statements | "
                "planner CPU s | vs all unread |",
                "|---|---|---|---|---|---|---|"]
        for backend, res in pr.items():
            if "error" in res:
                out.append(f"| {backend} | ERROR {res['error'][:200]} |")
                continue
            for variant in ("all-unread", "half-read"):
                m = res["median"][variant]
                ratio = res["median"]["half_read_vs_all_unread"] if variant == "half-read" else 1.0
                read = 0 if variant == "all-unread" else res["read_readers"]
                out.append(f"| {backend} | {read} | {fmt(m['plan_s'], 3)} | {fmt(m['email_rows'], 0)} + "
                           f"{fmt(m['push_rows'], 0)} | {fmt(m['queries'], 0)} | {fmt(m['planner_cpu_s'], 3)} | "
                           f"{fmt(ratio)} |")
        out.append("")
    rf = {}
    for key, res in result["results"].items():
        scenario, backend = key.split("/")
        if scenario == "receipt-flush":
            rf[backend] = res
    if rf:
        out += [f"receipt-flush: {result['params']['readers']} readers' acks of one broadcast, median of "
                f"{result['params']['runs']}", "",
                "| backend | receipts.note() us/ack | flush (one bulk insert) ms | flush CPU ms | floor: one executemany ms "
                "| floor CPU ms |", "|---|---|---|---|---|---|"]
        for backend, res in rf.items():
            if "error" in res:
                out.append(f"| {backend} | ERROR {res['error'][:200]} |")
                continue
            m = res["median"]
            out.append(f"| {backend} | {fmt(m['note_us_per_ack'])} | {fmt(m['flush_s'] * 1e3, 0)} | "
                       f"{fmt(m['flush_cpu_s'] * 1e3, 0)} | {fmt(m['raw_executemany_s'] * 1e3, 0)} | "
                       f"{fmt(m['raw_executemany_cpu_s'] * 1e3, 0)} |")
        out.append("")
    return "\n".join(out)


def result_path(quick: bool) -> Path:
    stem = f"issue14-{dt.date.today().isoformat()}-delivery" + ("-quick" if quick else "")
    path, k = RESULTS / f"{stem}.json", 2
    while path.exists():
        path, k = RESULTS / f"{stem}-{k}.json", k + 1
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.delivery", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command")
    smtp = sub.add_parser("_smtp")
    smtp.add_argument("--port", type=int, required=True)
    child = sub.add_parser("_child")
    child.add_argument("--opts", required=True)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS),
                        help="comma list of: mail-rate, plan-role, receipt-flush")
    parser.add_argument("--backends", default=",".join(BACKENDS), help="comma list of: embedded, postgresql")
    parser.add_argument("--runs", type=int, help="runs per scenario (median; default 3, --quick 1)")
    parser.add_argument("--mails", type=int, help="mail-rate: mails per run (default 2000, --quick 200)")
    parser.add_argument("--readers", type=int,
                        help="plan-role: role members; receipt-flush: acks (default 10000, --quick 1000)")
    parser.add_argument("--push-subscribers", type=int, default=100, help="plan-role: readers with a push subscription")
    parser.add_argument("--profile", action="store_true",
                        help="one more run under cProfile (mail-rate: its send phase; plan-role: all unread)")
    parser.add_argument("--quick", action="store_true", help="smoke run")
    parser.add_argument("--pg-url", default="postgres://postgres@127.0.0.1:5432/test",
                        help="PostgreSQL to create the throwaway databases beside")
    parser.add_argument("--clarion-src", help="import Clarion from this src/ directory (e.g. a patched copy)")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per (scenario, backend)")
    parser.add_argument("--out", help="result file (default bench/results/issue14-<date>-delivery.json)")
    args = parser.parse_args(argv)
    if args.command == "_smtp":
        smtp_main(args.port)
        return 0
    if args.command == "_child":
        child_main(args)
        return 0
    args.runs = args.runs or (1 if args.quick else 3)
    args.mails = args.mails or (200 if args.quick else 2000)
    args.readers = args.readers or (1000 if args.quick else 10000)
    scenarios = args.scenarios.split(",")
    backends = args.backends.split(",")
    unknown = [x for x in scenarios if x not in SCENARIOS] + [x for x in backends if x not in BACKENDS]
    if unknown:
        raise SystemExit(f"unknown scenario or backend: {', '.join(unknown)}")
    from bench.driver import git, machine_info

    out = Path(args.out) if args.out else result_path(args.quick)
    logdir = RESULTS / "logs" / out.stem
    logdir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="clarion-bench-delivery-"))
    machine = machine_info()
    machine["pinning"] = "worker process: core 0, SMTP sink: core 1, PostgreSQL: unpinned (shared)"
    result = {"benchmark": "delivery (issue 14)", "date": dt.datetime.now(dt.timezone.utc).isoformat(),
              "commit": git("rev-parse", "--short", "HEAD"), "dirty": bool(git("status", "--porcelain", "src")),
              "machine": machine, "command": " ".join(["python -m bench.delivery", *(argv or sys.argv[1:])]),
              "params": {"scenarios": scenarios, "backends": backends, "runs": args.runs, "mails": args.mails,
                         "readers": args.readers, "push_subscribers": args.push_subscribers, "quick": args.quick,
                         "clarion_src": args.clarion_src},
              "results": {}}
    started = time.time()
    failed = False
    try:
        for scenario in scenarios:
            for backend in backends:
                print(f"== {scenario} on {backend}", flush=True)
                t0 = time.time()
                res = run_child(scenario, backend, args, tmp, logdir)
                res["duration_s"] = time.time() - t0
                result["results"][f"{scenario}/{backend}"] = res
                failed |= "error" in res
                if "error" in res:
                    print(f"   ERROR {res['error']}", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        result["duration_s"] = time.time() - started
        out.write_text(json.dumps(result, indent=1, default=str))
    print()
    print(tables(result))
    print(f"wrote {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
