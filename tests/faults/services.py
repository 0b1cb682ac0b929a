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

    def config_set(self, name: str, value) -> None:
        import redis

        admin = redis.Redis.from_url(self.url)
        try:
            admin.config_set(name, value)
        finally:
            admin.close()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.terminate()
            self.process.wait(10)


class PrivateRedisCluster:
    """Six redis-server processes on free ports: 3 masters, 3 replicas (``redis-cli --cluster
    create --cluster-replicas 1``). ``kill``, ``pause``, ``resume`` and ``start`` act on every
    node, so the fault tests written for one Redis take the whole broker away alike; ``kill_node``
    takes one master away so that its replica takes over. Nodes keep their cluster
    configuration (nodes.conf) across a restart and no data, like PrivateRedis."""

    def __init__(self, workdir: Path, node_timeout_ms: int = 1500):
        self.workdir = workdir
        self.ports = [free_port() for _ in range(6)]
        self.bus_ports = [free_port() for _ in range(6)]  # port + 10000 may not exist
        self.node_timeout_ms = node_timeout_ms
        self.processes: dict[int, subprocess.Popen] = {}
        self.created = False

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{port}" for port in self.ports)

    def _start_node(self, port: int, bus_port: int) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is not installed (scripts/services.sh installs it)"
        node_dir = self.workdir / str(port)
        node_dir.mkdir(parents=True, exist_ok=True)
        self.processes[port] = subprocess.Popen(
            [binary, "--port", str(port), "--cluster-port", str(bus_port), "--bind", "127.0.0.1",
             "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
             "--cluster-node-timeout", str(self.node_timeout_ms), "--save", "", "--appendonly", "no",
             "--dir", str(node_dir), "--logfile", str(node_dir / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )

    def start(self) -> "PrivateRedisCluster":
        for port, bus_port in zip(self.ports, self.bus_ports):
            if port not in self.processes or self.processes[port].poll() is not None:
                self._start_node(port, bus_port)
        for port in self.ports:
            wait_port(port)
        if not self.created:
            result = subprocess.run(
                ["redis-cli", "--cluster", "create", *(f"127.0.0.1:{port}" for port in self.ports),
                 "--cluster-replicas", "1", "--cluster-yes"], capture_output=True, text=True, timeout=60)
            assert result.returncode == 0, result.stdout + result.stderr
            self.created = True
        self.wait_healthy()
        return self

    def _cli(self, port: int, *args: str, timeout: float = 5) -> str:
        result = subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True, text=True,
                                timeout=timeout)
        return result.stdout

    def live_ports(self) -> list[int]:
        return [port for port, process in self.processes.items() if process.poll() is None]

    def nodes(self) -> list[dict]:
        """CLUSTER NODES as a live node sees it: port, role, master id, slot ranges, flags."""
        for port in self.live_ports():
            text = self._cli(port, "cluster", "nodes")
            if text.strip():
                found = []
                for line in text.strip().splitlines():
                    parts = line.split()
                    found.append({"id": parts[0], "port": int(parts[1].split("@")[0].rsplit(":", 1)[1]),
                                  "flags": parts[2].split(","), "master": parts[3], "slots": parts[8:]})
                return found
        raise RuntimeError("no cluster node answers")

    def masters(self) -> list[int]:
        return [n["port"] for n in self.nodes() if "master" in n["flags"] and n["slots"] and "fail" not in n["flags"]]

    def wait_healthy(self, timeout: float = 30.0) -> None:
        """Every live node says cluster_state:ok and that all 16384 slots are served, with one
        replica per master again (so a later kill has someone to fail over to)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            infos = [self._cli(port, "cluster", "info") for port in self.live_ports()]
            if infos and all("cluster_state:ok" in info and "cluster_slots_ok:16384" in info for info in infos):
                nodes = self.nodes()
                masters = [n for n in nodes if "master" in n["flags"] and n["slots"] and "fail" not in n["flags"]]
                replicas = [n for n in nodes if "slave" in n["flags"] and "fail" not in n["flags"]]
                if len(masters) == 3 and len(replicas) == len(self.live_ports()) - 3:
                    return
            time.sleep(0.1)
        raise TimeoutError(f"Redis Cluster not healthy within {timeout}s")

    def kill_node(self, port: int) -> None:
        process = self.processes[port]
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        wait_port(port, up=False)

    def kill(self) -> None:
        for port in self.live_ports():
            self.kill_node(port)

    def pause(self) -> None:
        for port in self.live_ports():
            self.processes[port].send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        for port in self.live_ports():
            self.processes[port].send_signal(signal.SIGCONT)

    def config_set(self, name: str, value) -> None:
        for port in self.live_ports():
            self._cli(port, "config", "set", name, str(value))

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGCONT)
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()


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
