"""Real server processes and real sockets for the integration tests.

Servers are started with the ``clarion`` CLI exactly as a user starts them, on free ports,
against the backend the suite runs on (embedded SQLite + in-process layer, or PostgreSQL +
Redis). Every wait is bounded; a server that fails to start fails the test with its log.
"""

import asyncio
import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

# "cluster" is scale-out on a Redis Cluster (scripts/services.sh starts one on 7000-7005).
CLUSTER = os.environ.get("CLARION_TEST_BACKEND", "embedded") == "cluster"
SCALEOUT = CLUSTER or os.environ.get("CLARION_TEST_BACKEND", "embedded") == "scaleout"
PG_ADMIN_URL = os.environ.get("CLARION_TEST_PG_URL", "postgres://postgres@127.0.0.1:5432/test")
REDIS_URL = (os.environ.get("CLARION_TEST_REDIS_CLUSTER_URL", "redis+cluster://127.0.0.1:7000") if CLUSTER
             else os.environ.get("CLARION_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"))
DEMO_PASSWORD = "demo-password"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clarion_command(*args) -> list[str]:
    return [sys.executable, "-m", "clarion.cli.main", *args]


def run_cli(env, *args, stdin=None, timeout=60) -> subprocess.CompletedProcess:
    return subprocess.run(clarion_command(*args), env=env, input=stdin, capture_output=True, text=True,
                          timeout=timeout)


def recreate_database(name: str, template: str | None = None) -> str:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL.replace("postgres://", "postgresql://"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


TEMPLATE_DATABASE = "clarion_template"
_template_dir: Path | None = None  # this run's migrated and seeded backend, copied by prepare_backend


def _template(env: dict) -> Path:
    """Migrate and seed once per test run; every backend after that is a copy. A copy is what
    `migrate` and `seed-demo` would give (same code, same environment) without their two CLI
    runs, which cost 3-4 s per backend and a dozen backends are prepared per pass."""
    global _template_dir
    if _template_dir is None or not _template_dir.exists():
        template_dir = Path(tempfile.mkdtemp(prefix="clarion-template-"))
        atexit.register(shutil.rmtree, template_dir, ignore_errors=True)
        env = dict(env, CLARION_DATA_DIR=str(template_dir))
        if SCALEOUT:
            env["DATABASE_URL"] = recreate_database(TEMPLATE_DATABASE)
            env["REDIS_URL"] = REDIS_URL
        for args in (("migrate",), ("seed-demo", "--force")):
            result = run_cli(env, *args)
            assert result.returncode == 0, result.stderr
        _template_dir = template_dir
    return _template_dir


def redis_prefix(database_name: str) -> str:
    """The Redis key prefix of the backend made with this database name (scale-out)."""
    return f"clarion-{database_name}"


def prepare_backend(data_dir: Path, database_name: str = "clarion_it") -> dict:
    """Environment for servers and CLI calls: a migrated, seeded backend of the suite's kind
    (a copy of the run's template: its SQLite file, or a PostgreSQL database made from it)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("CLARION_", "DJANGO_"))}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    env.update({
        "CLARION_DATA_DIR": str(data_dir),
        "CLARION_SECRET_KEY": "integration-secret-key-0123456789-abcdefghijklmnop",
        "CLARION_LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
        # Short presence expiry, so that a killed process's ghosts go within the test's patience.
        "CLARION_PRESENCE_TTL": "4",
        # /metrics stays closed without a token (docs/security.md); tests read it with this one.
        "CLARION_METRICS_TOKEN": "integration-metrics-token",
        # Mails stay in the server process (tests of email start an SMTP server of their own).
        "CLARION_EMAIL_URL": "memory:",
    })
    template_dir = _template(env)
    data_dir.mkdir(parents=True, exist_ok=True)
    shutil.copytree(template_dir, data_dir, dirs_exist_ok=True)  # SQLite's file (embedded)
    if SCALEOUT:
        env["DATABASE_URL"] = recreate_database(database_name, template=TEMPLATE_DATABASE)
        env["REDIS_URL"] = REDIS_URL
        # Backends share one Redis: each its own keys and channels, as two sites would have, so
        # that one test's presence, limits or lockouts are not another's (room ids repeat).
        env["CLARION_REDIS_PREFIX"] = redis_prefix(database_name)
    return env


class ServerProcess:
    serve_args: tuple = ()  # extra `clarion serve` options

    def __init__(self, env: dict, log_path: Path, port: int | None = None):
        self.env = env
        self.port = port or free_port()
        self.log_path = log_path
        self.process = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> "ServerProcess":
        log = open(self.log_path, "a")
        self.process = subprocess.Popen(clarion_command("serve", "--port", str(self.port), *self.serve_args),
                                        env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(self.url + "/api/schema/", timeout=2):
                    return self
            except (OSError, urllib.error.URLError):
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not answer within {timeout}s:\n{self.log()}")

    def stop(self, sig=signal.SIGTERM, timeout: float = 15) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def metrics_headers(self) -> dict:
        return {"Authorization": f"Bearer {self.env.get('CLARION_METRICS_TOKEN', '')}"}

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    # -- REST ----------------------------------------------------------------------

    def request(self, method: str, path: str, body=None, token: str | None = None):
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def token(self, username: str, password: str = DEMO_PASSWORD) -> str:
        status, body = self.request("POST", "/api/auth/token/", {"username": username, "password": password})
        assert status == 200, body
        return body["access"]

    def notify(self, admin_token: str, **body) -> dict:
        status, created = self.request("POST", "/api/notifications/", body, admin_token)
        assert status == 201, created
        return created

    # -- sockets -------------------------------------------------------------------

    def socket(self, token: str | None = None, *, cursor: str | None = None, path="/ws/notifications/",
               origin: str | None = "same", headers=None):
        query = []
        if token:
            query.append(f"token={token}")
        if cursor:
            query.append(f"cursor={cursor}")
        url = f"{self.ws_url}{path}" + ("?" + "&".join(query) if query else "")
        return connect(url, origin=self.url if origin == "same" else origin, additional_headers=headers,
                       open_timeout=10, max_size=2**22)


def private_server(tmp_path_factory, name: str, server_class=None, **env_overrides):
    """A server on a backend of its own (data folder, PostgreSQL database): for tests that
    log users out, flood, kill servers or plant bad rows, which the shared server must not see.
    A generator for a module-scoped fixture: ``yield from private_server(...)``."""
    env = {**prepare_backend(tmp_path_factory.mktemp(f"{name}-data"), f"clarion_{name}"), **env_overrides}
    process = (server_class or ServerProcess)(env, tmp_path_factory.mktemp(f"{name}-logs") / "server.log").start()
    try:
        yield process
    finally:
        process.stop()


async def next_frame(ws, timeout: float = 5.0) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def frames_until_quiet(ws, quiet: float = 0.6) -> list[dict]:
    frames = []
    while True:
        try:
            frames.append(json.loads(await asyncio.wait_for(ws.recv(), quiet)))
        except asyncio.TimeoutError:
            return frames


async def close_code(ws, timeout: float = 5.0) -> int | None:
    try:
        while True:
            await asyncio.wait_for(ws.recv(), timeout)
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None


def user_id(server, token) -> int:
    """The id of the user a token names (GET /api/me/)."""
    status, me = server.request("GET", "/api/me/", token=token)
    assert status == 200, me
    return me["id"]


def new_project(server, tokens, title: str, **fields) -> dict:
    """A fresh project created by dave (admin): alice a member, carol its advisor; bob not in it."""
    alice, carol = user_id(server, tokens["alice"]), user_id(server, tokens["carol"])
    body = {"title": f"{title} {uuid.uuid4().hex[:6]}", "advisor": carol, "members": [alice], **fields}
    status, created = server.request("POST", "/api/projects/", body, tokens["dave"])
    assert status == 201, created
    return created
