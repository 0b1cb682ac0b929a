"""The stacks under test: how to set each up, start its server(s), address its clients and
publish to them. Each server is a subprocess pinned to core 0 (bench/proc.py)."""

import asyncio
import os
import shutil
import sys
from pathlib import Path

import psutil

from bench.proc import PYTHON, SERVER_CORE, Child, free_port, process_listening_on, run_checked, wait_port

CLARION_SECRET = "bench-fixed-secret-key-not-for-production-0123456789abcdef"
# Tokens are minted once per run; they must outlive the longest run (default lifetime: 15 min).
TOKEN_MINUTES = "1440"


class RedisService:
    """The Redis the Redis-backed stacks share.

    By default a private redis-server on a free port, pinned to the server core like the
    anchor's Redis: FLUSHALL before each stack run must not wipe the state of tests other
    people run against the shared 127.0.0.1:6379, and its CPU must be ours alone to count.
    ``--redis-url`` uses an existing Redis instead (FLUSHALL included: only on a box of your own).
    """

    def __init__(self, ctx, url: str | None):
        self.ctx = ctx
        self.url = url
        self.child: Child | None = None
        self.ps: psutil.Process | None = None

    async def start(self):
        if self.url:
            port = int(self.url.rsplit(":", 1)[1].split("/", 1)[0])
            self.ps = process_listening_on(port)
            return
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server not found: install it, or pass --redis-url")
        port = free_port()
        self.child = Child("redis", [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                     "--appendonly", "no", "--maxclients", "20000", "--protected-mode", "no"],
                           log=self.ctx.logdir / "redis.log", core=SERVER_CORE)
        await self.child.start()
        await wait_port(port, self.child, timeout=20)
        self.url = f"redis://127.0.0.1:{port}/0"
        self.ps = self.child.ps

    def flushall(self):
        import redis

        client = redis.Redis.from_url(self.url)
        try:
            client.flushall()
        finally:
            client.close()

    def version(self) -> str | None:
        import redis

        try:
            client = redis.Redis.from_url(self.url)
            return client.info("server").get("redis_version")
        except Exception:
            return None

    async def stop(self):
        if self.child is not None:
            await self.child.stop()

    def processes(self) -> list:
        return [self.ps] if self.ps is not None else []


class RedisClusterService:
    """A private Redis Cluster for the ``clarion-cluster`` stack: 3 masters and 3 replicas (as
    a deployment would run it), every node pinned to the server core like RedisService, so the
    Redis CPU counted is all six nodes' (replicas receive every shard message too)."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.children: list[Child] = []
        self.ports: list[int] = []
        self.url: str | None = None

    async def start(self):
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server not found: install it")
        self.ports = [free_port() for _ in range(6)]
        for port in self.ports:
            node_dir = self.ctx.tmp / f"redis-cluster-{port}"
            node_dir.mkdir(parents=True, exist_ok=True)
            child = Child(f"redis-{port}", [binary, "--port", str(port), "--cluster-port", str(free_port()),
                                            "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                                            "--cluster-node-timeout", "5000", "--bind", "127.0.0.1", "--save", "",
                                            "--appendonly", "no", "--maxclients", "20000", "--protected-mode", "no",
                                            "--dir", str(node_dir)],
                          log=self.ctx.logdir / f"redis-cluster-{port}.log", core=SERVER_CORE)
            await child.start()
            self.children.append(child)
        for child, port in zip(self.children, self.ports):
            await wait_port(port, child, timeout=20)
        await run_checked(["redis-cli", "--cluster", "create", *(f"127.0.0.1:{p}" for p in self.ports),
                           "--cluster-replicas", "1", "--cluster-yes"], env=dict(os.environ),
                          log=self.ctx.logdir / "redis-cluster-create.log", timeout=60)
        self.url = "redis+cluster://" + ",".join(f"127.0.0.1:{p}" for p in self.ports[:3])
        await asyncio.to_thread(self._wait_ok)

    def _client(self):
        from clarion.realtime import redis_client

        return redis_client.connect_sync(self.url)

    def _wait_ok(self, timeout: float = 60.0) -> None:
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                client = self._client()
                try:
                    info = client.cluster_info()
                    replicas = [n for n in client.cluster_nodes().values() if "slave" in n["flags"]]
                finally:
                    client.close()
                if info.get("cluster_state") == "ok" and len(replicas) == 3:
                    return
            except Exception:
                pass
            time.sleep(0.2)
        raise RuntimeError("the private Redis Cluster did not become ok")

    def flushall(self):
        client = self._client()
        try:
            client.flushall(target_nodes="primaries")
        finally:
            client.close()

    def version(self) -> str | None:
        try:
            client = self._client()
            try:
                return client.info("server", target_nodes="random").get("redis_version")
            finally:
                client.close()
        except Exception:
            return None

    def processes(self) -> list:
        return [child.ps for child in self.children if child.ps is not None]

    async def stop(self):
        for child in self.children:
            await child.stop()
        self.children = []


class Stack:
    name = "?"
    kind = "ws"  # load generator dialect
    uses_redis = False
    broadcast_path = ""  # how a broadcast is triggered (for the table's notes)

    def __init__(self, ctx):
        self.ctx = ctx
        self.servers: list[Child] = []
        self.ports: list[int] = []

    @property
    def redis(self) -> RedisService:
        return self.ctx.redis

    async def prepare(self, max_n: int) -> None:
        """Once per stack and run (users, databases)."""

    def server_argv(self, port: int) -> list[str]:
        raise NotImplementedError

    def server_env(self) -> dict:
        return dict(os.environ)

    async def start(self, n: int, procs: int = 1) -> None:
        if self.uses_redis:
            self.redis.flushall()  # no stale group members from an earlier run
        self.ports = [free_port() for _ in range(procs)]
        self.servers = []
        for i, port in enumerate(self.ports):
            # One process: the server core. Several (multiproc): spread over the cores in turn,
            # so they share core 1 with the load generator (reported as such).
            core = SERVER_CORE if procs == 1 else i % max(1, os.cpu_count() or 1)
            child = Child(f"{self.name}-server{i}", self.server_argv(port), env=self.server_env(),
                          log=self.ctx.logdir / f"{self.ctx.tag}-server{i}.log", core=core)
            await child.start()
            self.servers.append(child)
        for child, port in zip(self.servers, self.ports):
            await wait_port(port, child)

    def client_specs(self, n: int) -> list[list]:
        """[index, port, path] per client; clients spread round-robin over the processes."""
        return [[i, self.ports[i % len(self.ports)], self.path(i)] for i in range(n)]

    def path(self, i: int) -> str:
        raise NotImplementedError

    origin: str | None = None

    def publisher_argv(self) -> tuple[list[str], dict]:
        raise NotImplementedError

    async def stop(self) -> None:
        for child in self.servers:
            await child.stop()

    async def teardown(self) -> None:
        """Once at the end (drop databases)."""


class WebsocketsStack(Stack):
    name = "websockets"
    broadcast_path = "/control websocket in the server process"

    def server_argv(self, port):
        return [PYTHON, "-m", "bench.peers.ws_server", "--port", str(port)]

    def path(self, i):
        return f"/ws?uid={i}"

    def publisher_argv(self):
        return [PYTHON, "-m", "bench.publisher", "--mode", "control", "--port", str(self.ports[0])], dict(os.environ)


class ChannelsNaiveStack(Stack):
    name = "channels-naive"
    uses_redis = True
    broadcast_path = "group_send from a separate process (channels_redis core layer, defaults)"

    def server_env(self):
        return {**os.environ, "DJANGO_SETTINGS_MODULE": "bench.peers.channels_naive.settings",
                "REDIS_URL": self.redis.url}

    def server_argv(self, port):
        return [PYTHON, "-m", "bench.peers.channels_server", "--port", str(port)]

    def path(self, i):
        return f"/ws/?uid={i}"

    def publisher_argv(self):
        return [PYTHON, "-m", "bench.publisher", "--mode", "channels"], self.server_env()


class SocketioStack(Stack):
    name = "socketio"
    kind = "sio"
    uses_redis = True
    broadcast_path = "write-only AsyncRedisManager in a separate process"

    def server_argv(self, port):
        return [PYTHON, "-m", "bench.peers.sio_server", "--port", str(port), "--redis", self.redis.url]

    def path(self, i):
        return f"/socket.io/?EIO=4&transport=websocket&uid={i}"

    def publisher_argv(self):
        return [PYTHON, "-m", "bench.publisher", "--mode", "sio", "--redis", self.redis.url], dict(os.environ)


class ClarionStack(Stack):
    """Clarion started with its CLI, as users do; embedded (SQLite + in-process layer)."""

    name = "clarion"
    kind = "clarion"
    broadcast_path = "POST /api/notifications/ (admin token)"
    origin = "http://127.0.0.1:{port}"
    broadcast_mode = "rest"

    def __init__(self, ctx):
        super().__init__(ctx)
        self.cli = str(Path(PYTHON).parent / "clarion")
        self.users_file = ctx.tmp / f"{self.name}-users.json"
        self.tokens: list[str] = []
        self.template_dir = ctx.tmp / f"{self.name}-template"
        self.data_dir = ctx.tmp / f"{self.name}-data"

    def base_env(self, data_dir: Path) -> dict:
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
        env.update(CLARION_DATA_DIR=str(data_dir), CLARION_SECRET_KEY=CLARION_SECRET,
                   CLARION_ACCESS_TOKEN_MINUTES=TOKEN_MINUTES, DJANGO_SETTINGS_MODULE="clarion.server.settings")
        if self.ctx.args.clarion_src:
            # Another checkout's src/ ahead of the installed one: compare two versions of Clarion
            # on the same machine (the CLI, the server and the publisher all import from it).
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [self.ctx.args.clarion_src, env.get("PYTHONPATH")]))
        return env

    async def _setup_database(self, env: dict, max_n: int) -> None:
        log = self.ctx.logdir / f"{self.name}-setup.log"
        await run_checked([self.cli, "migrate"], env=env, log=log, timeout=300)
        await run_checked([PYTHON, "-m", "bench.peers.clarion_users", "--count", str(max_n),
                           "--out", str(self.users_file)], env=env, log=log, timeout=600)
        import json

        with open(self.users_file) as fh:
            self.tokens = [u["token"] for u in json.load(fh)["users"]]

    async def prepare(self, max_n):
        # Set up once into a template, copied for every run: each run starts from the same
        # state (users, no notifications), so connect snapshots are alike across runs.
        shutil.rmtree(self.template_dir, ignore_errors=True)
        self.template_dir.mkdir(parents=True)
        await self._setup_database(self.base_env(self.template_dir), max_n)

    def server_env(self):
        return self.base_env(self.data_dir)

    async def start(self, n, procs=1):
        shutil.rmtree(self.data_dir, ignore_errors=True)
        shutil.copytree(self.template_dir, self.data_dir)
        await super().start(n, procs)

    def server_argv(self, port):
        return [self.cli, "serve", "--port", str(port)]

    def path(self, i):
        return f"/ws/notifications/?token={self.tokens[i]}"

    def publisher_argv(self):
        return ([PYTHON, "-m", "bench.publisher", "--mode", "clarion", "--port", str(self.ports[0]),
                 "--users", str(self.users_file), "--broadcast", self.broadcast_mode], self.server_env())

    async def stop(self):
        await super().stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)


class ClarionRedisStack(ClarionStack):
    """Clarion on PostgreSQL + Redis: a fresh database per run, cloned from a template."""

    name = "clarion-redis"
    uses_redis = True
    broadcast_path = "clarion.send_notification_to_all() in a separate process"
    broadcast_mode = "api"

    def __init__(self, ctx):
        super().__init__(ctx)
        suffix = os.getpid()
        self.template_db = f"bench_clarion_tmpl_{suffix}"
        self.run_db = f"bench_clarion_run_{suffix}"

    def _db_url(self, name: str) -> str:
        return f"{self.ctx.pg_url.rstrip('/').rsplit('/', 1)[0]}/{name}"

    def _sql(self, *statements: str) -> None:
        import psycopg

        with psycopg.connect(self.ctx.pg_url, autocommit=True, connect_timeout=10) as conn:
            for statement in statements:
                conn.execute(statement)

    def env_for(self, db: str) -> dict:
        env = self.base_env(self.data_dir)
        env.update(DATABASE_URL=self._db_url(db), REDIS_URL=self.redis.url)
        return env

    async def prepare(self, max_n):
        await asyncio.to_thread(self._sql, f'DROP DATABASE IF EXISTS "{self.template_db}" WITH (FORCE)',
                                f'CREATE DATABASE "{self.template_db}"')
        self.data_dir.mkdir(parents=True, exist_ok=True)
        await self._setup_database(self.env_for(self.template_db), max_n)

    def server_env(self):
        return self.env_for(self.run_db)

    async def start(self, n, procs=1):
        await asyncio.to_thread(self._sql, f'DROP DATABASE IF EXISTS "{self.run_db}" WITH (FORCE)',
                                f'CREATE DATABASE "{self.run_db}" TEMPLATE "{self.template_db}"')
        self.data_dir.mkdir(parents=True, exist_ok=True)
        await Stack.start(self, n, procs)

    async def stop(self):
        await Stack.stop(self)
        await asyncio.to_thread(self._sql, f'DROP DATABASE IF EXISTS "{self.run_db}" WITH (FORCE)')

    async def teardown(self):
        await asyncio.to_thread(self._sql, f'DROP DATABASE IF EXISTS "{self.template_db}" WITH (FORCE)')


class ClarionClusterStack(ClarionRedisStack):
    """clarion-redis with REDIS_URL naming a private Redis Cluster (3 masters, 3 replicas):
    sharded pub/sub (docs/scaling.md, section 3). Started by the ``cluster`` scenario."""

    name = "clarion-cluster"
    broadcast_path = "clarion.send_notification_to_all() in a separate process (SPUBLISH per bucket)"

    def __init__(self, ctx):
        super().__init__(ctx)
        self.template_db = f"bench_clarion_cl_tmpl_{os.getpid()}"
        self.run_db = f"bench_clarion_cl_run_{os.getpid()}"

    @property
    def redis(self):
        return self.ctx.redis_cluster


STACKS = {cls.name: cls for cls in (WebsocketsStack, ChannelsNaiveStack, SocketioStack, ClarionStack,
                                     ClarionRedisStack)}
FLOOR = "websockets"

if sys.platform != "linux":  # pragma: no cover
    raise SystemExit("the benchmark suite runs on Linux (taskset, /proc)")
