"""The driver: for each stack and N, start the server(s), publisher and two load-generator
workers, run the scenarios in a fixed order, stop everything, and write the JSON result.

Order within one (stack, N): idle RSS -> connect -> RSS 2 s later -> broadcast -> 1:1 ->
head-of-line -> bulk delivery (Clarion only) -> burst (last: a stack that falls behind in a burst
would spoil what follows). Once per Clarion stack, with no socket open: create-rate, bulk rate.
"""

import asyncio
import datetime as dt
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import asdict
from importlib import metadata
from pathlib import Path

from bench import bulk, create_rate, report, scenarios
from bench.loadgen import raise_nofile
from bench.proc import LOAD_CORE, PYTHON, ROOT, Child, can_pin, run_interruptibly, stop_all
from bench.scenarios import Params, Session
from bench.stacks import FLOOR, STACKS, ClarionClusterStack, ClarionRedisStack, RedisClusterService, RedisService

RESULTS = Path(__file__).resolve().parent / "results"
ALL_SCENARIOS = ["connect", "memory", "broadcast", "broadcast-filtered", "broadcast-ack", "one-to-one", "head-of-line",
                 "bulk", "burst", "multiproc", "create-rate", "cluster"]
# Run only when asked for: it starts a six-node Redis Cluster and four runs per N.
OPT_IN_SCENARIOS = ["cluster"]
# create-rate runs with no socket open, once per Clarion stack: embedded in one process, PostgreSQL
# + Redis in two (the issue 11 targets).
CREATE_RATE_PROCS = {"clarion": 1, "clarion-redis": 2}
PACKAGES = ["Django", "channels", "channels-redis", "redis", "uvicorn", "uvloop", "httptools", "websockets",
            "python-socketio", "python-engineio", "orjson", "psutil", "h11", "psycopg", "clarion"]
# Server log lines worth reporting: level words of uvicorn's and Clarion's formats, and the
# closing "SomethingError: ..." line of a traceback. Deprecation warnings are noise here.
LOG_LINE = re.compile(r"\b(ERROR|CRITICAL|WARNING)\b|^Traceback|^[\w.]+(Error|Exception)\b")


def log_interesting(line: str) -> bool:
    return bool(LOG_LINE.search(line)) and "DeprecationWarning" not in line
# Sources for client sockets when one address's ephemeral ports (32768-60999) could run short.
SPREAD_ABOVE = 20000
SOURCES = [f"127.0.0.{i}" for i in range(2, 10)]


class Context:
    def __init__(self, args, params: Params, stem: str):
        self.args = args
        self.params = params
        self.tmp = Path(tempfile.mkdtemp(prefix="clarion-bench-"))
        self.logdir = RESULTS / "logs" / stem
        self.logdir.mkdir(parents=True, exist_ok=True)
        self.redis = RedisService(self, args.redis_url)
        self.redis_cluster = RedisClusterService(self)
        self.pg_url = args.pg_url
        self.tag = "setup"


def git(*args: str) -> str | None:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10,
                              check=True).stdout.strip()
    except Exception:
        return None


def machine_info() -> dict:
    model = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = int(line.split()[1]) * 1024
    except OSError:
        pass
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {"nproc": os.cpu_count(), "cpu_model": model, "mem_bytes": mem, "kernel": platform.release(),
            "python": platform.python_version(), "packages": versions, "loadavg_at_start": os.getloadavg(),
            "pinning": "server+redis: core 0, load+publisher+driver: core 1" if can_pin() else "none (1 core)",
            "fd_limit": raise_nofile()}


def result_path(quick: bool, commit: str | None, clarion_src: str | None) -> Path:
    stem = (f"{dt.date.today().isoformat()}-{commit or 'nogit'}" + ("-quick" if quick else "")
            + ("-clarion-src" if clarion_src else ""))  # Clarion not from this commit: say so
    path, k = RESULTS / f"{stem}.json", 2
    while path.exists():
        path, k = RESULTS / f"{stem}-{k}.json", k + 1
    return path


async def run_one(ctx: Context, stack, n: int, wanted: list[str], procs: int = 1) -> dict:
    row = {"stack": stack.name, "n": n, "procs": procs, "kind": stack.kind, "broadcast_path": stack.broadcast_path,
           "started": time.time()}
    ctx.tag = f"{stack.name}-n{n}-p{procs}"
    workers, publisher = [], None
    print(f"== {stack.name} N={n}" + (f" procs={procs}" if procs > 1 else ""), flush=True)

    async def body():
        nonlocal workers, publisher
        await stack.start(n, procs)
        argv, env = stack.publisher_argv()
        publisher = Child("publisher", argv, env=env, log=ctx.logdir / f"{ctx.tag}-publisher.log",
                          core=LOAD_CORE, pipes=True)
        # Two workers hold the load; a third holds only the head-of-line probes' sockets, so a
        # probe's latency is not its worker's lag in reading thousands of other sockets (issue 11).
        workers = [Child(f"loadgen{i}", [PYTHON, "-m", "bench.loadgen"], log=ctx.logdir / f"{ctx.tag}-loadgen{i}.log",
                         core=LOAD_CORE, pipes=True) for i in range(2)]
        workers.append(Child("probes", [PYTHON, "-m", "bench.loadgen"], log=ctx.logdir / f"{ctx.tag}-probes.log",
                             core=LOAD_CORE, pipes=True))
        for child in (publisher, *workers):
            await child.start()
        await publisher.call({"op": "hello"}, timeout=120)
        s = Session(stack, n, workers, publisher, ctx.params)
        await asyncio.sleep(1.0)  # let the server settle before the idle reading
        idle = s.rss()
        sources = SOURCES if n > SPREAD_ABOVE else None
        row["connect"] = await scenarios.connect(s, stack.client_specs(n), sources=sources)
        c = row["connect"]
        print(f"   connect {c['ok']}/{c['fail']} in {c['wall_s']:.2f} s"
              + (f"  errors {c['errors']}" if c["errors"] else ""), flush=True)
        await asyncio.sleep(2.0)
        after = s.rss()
        if "memory" in wanted:
            ok = max(c["ok"], 1)
            row["memory"] = {"rss_idle_bytes": idle["server"], "rss_after_bytes": after["server"],
                             "kb_per_conn": (after["server"] - idle["server"]) / ok / 1024,
                             "redis_delta_bytes": after["redis"] - idle["redis"] if stack.uses_redis else None}
            print(f"   memory: idle {idle['server'] / 2**20:.0f} MB, {row['memory']['kb_per_conn']:.1f} KB/conn",
                  flush=True)
        if c["ok"] == 0:
            raise RuntimeError("no client connected")
        steps = [("broadcast", lambda: scenarios.broadcast(s, per_port=procs > 1)),
                 ("broadcast-filtered", lambda: scenarios.broadcast_filtered(s)),
                 ("broadcast-ack", lambda: scenarios.broadcast_ack(s)),
                 ("one-to-one", lambda: scenarios.one_to_one(s)),
                 ("head-of-line", lambda: scenarios.head_of_line(s)),
                 ("bulk", lambda: bulk.deliver(s)),  # before the burst, which may leave a backlog
                 ("burst", lambda: scenarios.burst(s))]
        for name, fn in steps:
            if name not in wanted:
                continue
            if name == "burst" and n != ctx.burst_n:
                continue
            if name in ("bulk", "broadcast-filtered", "broadcast-ack") and stack.kind != "clarion":  # Clarion's endpoints
                continue
            t0 = time.time()
            try:
                row[name] = await fn()
            except Exception as exc:  # one failed scenario leaves the others to run
                row[name] = {"error": f"{type(exc).__name__}: {exc}"}
            print(f"   {name}: {report.one_line(name, row[name])} ({time.time() - t0:.0f} s)", flush=True)
        closed = (await s.stats("-"))["closed"]
        if closed:  # clients the server dropped after they had connected, by reason
            row["closed_after_connect"] = dict(closed)
            print(f"   clients dropped by the server: {dict(closed)}", flush=True)

    try:
        await asyncio.wait_for(body(), ctx.args.run_timeout)
    except asyncio.TimeoutError:
        row["error"] = f"run exceeded {ctx.args.run_timeout} s and was stopped"
    except Exception as exc:
        row["error"] = f"{type(exc).__name__}: {exc}"
        row["traceback"] = traceback.format_exc(limit=5)
    finally:
        log_ends = [child.log_size() for child in stack.servers]  # before tear-down noise
        for child in (*workers, publisher):
            if child is not None:
                await child.stop(grace=3)
        server_lines = []
        for child, end in zip(stack.servers, log_ends):
            server_lines += child.log_tail(40, log_interesting, until=end)
        if server_lines:
            row["server_log"] = server_lines
        try:
            await stack.stop()
        except Exception as exc:
            row.setdefault("error", f"stopping: {exc}")
    if "error" in row:
        print(f"   ERROR {row['error']}", flush=True)
    row["duration_s"] = time.time() - row["started"]
    return row


async def run(args) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    if can_pin():
        os.sched_setaffinity(0, {LOAD_CORE})  # the driver is load, not server
    raise_nofile()
    quick = args.quick
    params = Params()
    if quick:
        # A smoke run checks the machinery, not the figures: bulk requests of 200 entries (200
        # users to prepare instead of 1,000), and ack pauses just past the once-a-second ack and
        # receipts flush, so each broadcast still holds one of each.
        params = Params(bcasts=3, burst=20, unicasts=20, hol_rounds=1, hol_per_round=20, create_seconds=2.0,
                        create_sequential=5, bulk_requests=2, bulk_size=200, ack_pause=1.2)
    if args.bcasts:
        params.bcasts = args.bcasts
    if args.ack_jitter:
        params.ack_jitter = args.ack_jitter
    if args.ack_delay:
        params.ack_delay = args.ack_delay
    if getattr(args, "unicast_rate", 0):
        params.unicast_rate = args.unicast_rate
    clients = [int(x) for x in args.clients.split(",")] if args.clients else ([200] if quick else [1000, 5000, 10000])
    stacks = args.stacks.split(",") if args.stacks else list(STACKS)
    wanted = args.scenarios.split(",") if args.scenarios else [w for w in ALL_SCENARIOS if w not in OPT_IN_SCENARIOS]
    unknown = [s for s in stacks if s not in STACKS] + [w for w in wanted if w not in ALL_SCENARIOS]
    if unknown:
        raise SystemExit(f"unknown stack or scenario: {', '.join(unknown)}; stacks: {', '.join(STACKS)}; "
                         f"scenarios: {', '.join(ALL_SCENARIOS)}")
    if FLOOR in stacks:  # the floor first: every ratio divides by it
        stacks.remove(FLOOR)
        stacks.insert(0, FLOOR)
    procs_list = [int(x) for x in args.procs.split(",")] if args.procs else ([2] if quick else [1, 2, 4])

    commit = git("rev-parse", "--short", "HEAD")
    out = Path(args.out) if args.out else result_path(quick, commit, args.clarion_src)
    ctx = Context(args, params, out.stem)
    ctx.burst_n = args.burst_clients if args.burst_clients in clients else min(clients)
    result = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "commit": git("rev-parse", "HEAD"), "commit_short": commit,
        "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        "quick": quick, "machine": machine_info(),
        "args": {"stacks": stacks, "scenarios": wanted, "clients": clients, "procs": procs_list,
                 "burst_clients": ctx.burst_n, "clarion_src": args.clarion_src},
        "params": asdict(params), "rows": [], "multiproc": [], "cluster": [], "create_rate": [], "bulk_rate": [],
        "logs": str(ctx.logdir.relative_to(ROOT)),
    }
    started = time.time()
    needs_redis = any(STACKS[s].uses_redis for s in stacks) or "multiproc" in wanted or "cluster" in wanted
    try:
        if needs_redis:
            await ctx.redis.start()
            result["redis"] = {"url": ctx.redis.url, "private": ctx.redis.child is not None,
                               "version": ctx.redis.version()}
        per_n = [w for w in wanted if w not in ("multiproc", "create-rate", "cluster")]
        for name in stacks:
            rate_procs = CREATE_RATE_PROCS.get(name) if "create-rate" in wanted else None
            is_clarion = STACKS[name].kind == "clarion"
            bulk_rate = is_clarion and "bulk" in wanted
            # bulk alone has nothing to measure on the other stacks: no per-N run for them
            stack_per_n = per_n if is_clarion else [w for w in per_n if w != "bulk"]
            if not stack_per_n and rate_procs is None:
                continue
            stack = STACKS[name](ctx)
            try:
                print(f"== preparing {name}", flush=True)
                # the bulk rate sends each of its 1,000 entries to another user
                await stack.prepare(max(clients + ([params.bulk_size] if bulk_rate else [])))
                for n in clients if stack_per_n else []:
                    result["rows"].append(await run_one(ctx, stack, n, wanted))
                    _save(out, result, started)
                if rate_procs is not None:  # before teardown: it reuses the prepared users
                    result["create_rate"].append(await create_rate.run(ctx, stack, rate_procs))
                    _save(out, result, started)
                if bulk_rate:
                    result["bulk_rate"].append(await bulk.rate(ctx, stack))
                    _save(out, result, started)
            except Exception as exc:
                result["rows"].append({"stack": name, "n": None, "error": f"set-up: {type(exc).__name__}: {exc}"})
                print(f"   ERROR set-up of {name}: {exc}", flush=True)
            finally:
                await stack.teardown()
        if "multiproc" in wanted:
            stack = ClarionRedisStack(ctx)
            try:
                print("== preparing multiproc (clarion-redis)", flush=True)
                await stack.prepare(max(clients))
                for n in clients:
                    for procs in procs_list:
                        row = await run_one(ctx, stack, n, ["connect", "broadcast"], procs=procs)
                        result["multiproc"].append(row)
                        _save(out, result, started)
            except Exception as exc:
                result["multiproc"].append({"stack": stack.name, "error": f"set-up: {type(exc).__name__}: {exc}"})
            finally:
                await stack.teardown()
        if "cluster" in wanted:
            await run_cluster(ctx, result, clients, [int(x) for x in args.procs.split(",")] if args.procs
                              else ([2] if quick else [2, 4]), out, started)
    finally:
        await ctx.redis_cluster.stop()
        await ctx.redis.stop()
        await stop_all()
        shutil.rmtree(ctx.tmp, ignore_errors=True)  # databases copies, users and tokens
        _save(out, result, started)
    print()
    print(report.render(result))
    print(f"\nwrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out} "
          f"({result['duration_s']:.0f} s); logs in {result['logs']}")
    return out


async def run_cluster(ctx: Context, result: dict, clients: list[int], procs_list: list[int], out: Path,
                      started: float) -> None:
    """One Redis against a 3-master Redis Cluster (issue 15), side by side: for each N and number
    of processes, clarion-redis then clarion-cluster, each with connect, broadcast and 1:1."""
    print("== preparing cluster (a private Redis Cluster: 3 masters, 3 replicas)", flush=True)
    stacks = [ClarionRedisStack(ctx), ClarionClusterStack(ctx)]
    for stack in stacks:
        # Broadcasts over REST into a serving process, as the 1:1s: a script's one-off broker
        # first discovers the cluster (slot map and COMMAND table, about 40 ms here), which
        # would measure that discovery rather than the delivery path.
        stack.broadcast_mode = "rest"
        stack.broadcast_path = "POST /api/notifications/ (admin token) to process 0"
    try:
        await ctx.redis_cluster.start()
        result["redis_cluster"] = {"url": ctx.redis_cluster.url, "version": ctx.redis_cluster.version(),
                                   "nodes": 6, "masters": 3}
        for stack in stacks:
            await stack.prepare(max(clients))
        for n in clients:
            for procs in procs_list:
                for stack in stacks:  # alternated, so drift on the shared box hits both alike
                    row = await run_one(ctx, stack, n, ["connect", "broadcast", "one-to-one"], procs=procs)
                    result["cluster"].append(row)
                    _save(out, result, started)
    except Exception as exc:
        result["cluster"].append({"stack": "clarion-cluster", "error": f"set-up: {type(exc).__name__}: {exc}"})
        print(f"   ERROR set-up of cluster: {exc}", flush=True)
    finally:
        for stack in stacks:
            await stack.teardown()


def _save(out: Path, result: dict, started: float) -> None:
    result["duration_s"] = time.time() - started
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=1, default=str))
    tmp.replace(out)


def main_run(args) -> int:
    out = run_interruptibly(run(args))
    if out is None:
        return 130
    # The exit status says whether the machinery worked (what CI's smoke run checks): a run
    # or scenario that raised fails it; slow or lossy stacks do not, they are results.
    broken = machinery_failures(json.loads(out.read_text()))
    for line in broken:
        print("FAILED:", line, file=sys.stderr)
    return 1 if broken else 0


def machinery_failures(result: dict) -> list[str]:
    failures = []
    for row in (result.get("rows", []) + result.get("multiproc", []) + result.get("cluster", [])
                + result.get("create_rate", [])
                + result.get("bulk_rate", [])):
        where = f"{row.get('stack')} N={row.get('n')} procs={row.get('procs', 1)}"
        if row.get("error"):
            failures.append(f"{where}: {row['error']}")
        for name in ("broadcast", "one-to-one", "head-of-line", "bulk", "burst"):
            if isinstance(row.get(name), dict) and row[name].get("error"):
                failures.append(f"{where} {name}: {row[name]['error']}")
    return failures
