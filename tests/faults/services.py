"""Private Redis and PostgreSQL servers for fault tests.

Faults are injected by killing, pausing and restarting these, never the machine's shared
services (other runs and CI use those). Each runs on a free port in a temporary directory.
"""

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from tests.integration.harness import free_port

PG_BIN = Path(os.environ.get("CLARION_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))


def wait_port(port: int, timeout: float = 20.0, *, up: bool = True) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                if up:
                    return
        except OSError:
            if not up:
                return
        time.sleep(0.05)
    raise TimeoutError(f"port {port} did not come {'up' if up else 'down'} within {timeout}s")


class PrivateRedis:
    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.port = free_port()
        self.process = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "PrivateRedis":
        binary = shutil.which("redis-server")
        assert binary, "redis-server is not installed (scripts/services.sh installs it)"
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir), "--logfile", str(self.workdir / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_port(self.port)
        return self

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
        wait_port(self.port, up=False)

    def pause(self) -> None:
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.terminate()
            self.process.wait(10)


class PrivatePostgres:
    """A throwaway cluster (initdb as the postgres user), trust auth, one database."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.datadir = workdir / "pgdata"
        self.port = free_port()

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/clarion"

    def _as_postgres(self, *args, **kwargs):
        command = list(args)
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, capture_output=True, text=True, timeout=120, **kwargs)

    def init(self) -> "PrivatePostgres":
        self.workdir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.workdir, "postgres")
        result = self._as_postgres(str(PG_BIN / "initdb"), "-D", str(self.datadir), "-A", "trust", "-U", "postgres",
                                   "--no-sync")
        assert result.returncode == 0, result.stderr
        self.start()
        result = self._as_postgres(str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U",
                                   "postgres", "clarion")
        assert result.returncode == 0, result.stderr
        return self

    def start(self) -> None:
        result = self._as_postgres(
            str(PG_BIN / "pg_ctl"), "-D", str(self.datadir), "-l", str(self.workdir / "pg.log"), "-w", "-t", "30",
            "-o", f"-p {self.port} -k {self.workdir} -c listen_addresses=127.0.0.1 -c fsync=off "
                  f"-c max_connections=200",
            "start",
        )
        assert result.returncode == 0, result.stderr + result.stdout
        wait_port(self.port)

    def stop(self, mode: str = "fast") -> None:
        self._as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.datadir), "-m", mode, "-w", "stop")
        wait_port(self.port, up=False)
