"""Child processes: start them pinned, talk to them in JSON lines, measure them, stop them for sure.

Every process the suite starts is a ``Child``; the driver keeps a registry and stops each by
its own pid at the end of a run or on an interrupt (never by name).
"""

import asyncio
import atexit
import os
import shutil
import signal
import socket
import sys
import time
from pathlib import Path

import orjson
import psutil

ROOT = Path(__file__).resolve().parent.parent  # the repository: `bench` is importable from here
PYTHON = sys.executable
TASKSET = shutil.which("taskset")
SERVER_CORE, LOAD_CORE = 0, 1

_registry: list["Child"] = []


def can_pin() -> bool:
    return bool(TASKSET) and (os.cpu_count() or 1) >= 2


def pinned(argv: list[str], core: int | None) -> list[str]:
    """Server on core 0, load on core 1 (the anchor's pinning); unpinned on a 1-core box."""
    if core is None or not can_pin():
        return argv
    return [TASKSET, "-c", str(core), *argv]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Child:
    def __init__(self, name: str, argv: list[str], *, env: dict | None = None, log: Path, core: int | None,
                 pipes: bool = False):
        self.name = name
        self.argv = pinned(argv, core)
        self.env = env
        self.log_path = log
        self.pipes = pipes
        self.proc: asyncio.subprocess.Process | None = None
        self.ps: psutil.Process | None = None
        self._lock = asyncio.Lock()

    async def start(self) -> "Child":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")
        self.proc = await asyncio.create_subprocess_exec(
            *self.argv,
            stdin=asyncio.subprocess.PIPE if self.pipes else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE if self.pipes else self._log,
            stderr=self._log,
            env=self.env,
            cwd=ROOT,
            # Own session: a Ctrl+C in the terminal reaches the driver only, which then stops
            # every child itself, in order, by pid.
            start_new_session=True,
            limit=256 * 1024 * 1024,  # stats replies are single (long) lines
        )
        self.ps = psutil.Process(self.proc.pid)  # taskset execs, so this is the real process
        _registry.append(self)
        return self

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def call(self, msg: dict, timeout: float = 60.0) -> dict:
        """One request, one reply line. Bounded: a hung child fails the call, not the run."""
        async with self._lock:
            self.proc.stdin.write(orjson.dumps(msg) + b"\n")
            await self.proc.stdin.drain()
            line = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        if not line:
            raise RuntimeError(f"{self.name} exited (code {self.proc.returncode}); see {self.log_path}")
        return orjson.loads(line)

    async def stop(self, grace: float = 5.0) -> None:
        if self.proc is None:
            return
        if self.alive():
            if self.pipes:
                try:  # a polite quit first: workers then drop their sockets at once
                    await self.call({"op": "quit"}, timeout=5)
                except Exception:
                    pass
            try:
                self.proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                await asyncio.wait_for(self.proc.wait(), grace)
            except asyncio.TimeoutError:
                try:
                    self.proc.kill()
                except ProcessLookupError:
                    pass
                await asyncio.wait_for(self.proc.wait(), 10)
        if self in _registry:
            _registry.remove(self)
        self._log.close()

    def log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def log_tail(self, lines: int = 30, keep=None, until: int | None = None) -> list[str]:
        """Last lines of the log (those ``keep`` accepts), up to byte offset ``until``: the
        part written while scenarios ran, not the noise of tearing 10,000 sockets down."""
        try:
            with open(self.log_path, "rb") as fh:
                data = fh.read(until) if until is not None else fh.read()
        except OSError:
            return []
        text = data.decode("utf-8", "replace").splitlines()
        if keep is not None:
            text = [line for line in text if keep(line)]
        return text[-lines:]


def stop_all_sync() -> None:
    """Last resort at interpreter exit: kill what is left, by pid."""
    for child in list(_registry):
        if child.alive():
            try:
                os.kill(child.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


async def stop_all() -> None:
    for child in reversed(list(_registry)):
        try:
            await child.stop(grace=3)
        except Exception:
            pass


async def wait_port(port: int, child: Child, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not child.alive():
            tail = "\n".join(child.log_tail(15))
            raise RuntimeError(f"{child.name} exited with {child.proc.returncode} before listening:\n{tail}")
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 2)
            writer.close()
            return
        except (OSError, asyncio.TimeoutError):
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{child.name} does not listen on {port} after {timeout:.0f} s")


async def run_checked(argv: list[str], *, env: dict, log: Path, timeout: float, core: int | None = LOAD_CORE) -> None:
    """A set-up step (migrate, user creation): must succeed within its time."""
    child = Child(argv[0].rsplit("/", 1)[-1], argv, env=env, log=log, core=core)
    await child.start()
    try:
        code = await asyncio.wait_for(child.proc.wait(), timeout)
    except asyncio.TimeoutError:
        await child.stop(grace=1)
        raise RuntimeError(f"{' '.join(argv)} took over {timeout:.0f} s") from None
    await child.stop()
    if code != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({code}):\n" + "\n".join(child.log_tail(15)))


def cpu_seconds(processes) -> float:
    total = 0.0
    for ps in processes:
        try:
            t = ps.cpu_times()
            total += t.user + t.system
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return total


def rss_bytes(processes) -> int:
    total = 0
    for ps in processes:
        try:
            total += ps.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return total


def process_listening_on(port: int) -> psutil.Process | None:
    """The process holding a listening socket on ``port`` (e.g. a Redis we did not start)."""
    try:
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid:
                return psutil.Process(conn.pid)
    except (psutil.AccessDenied, psutil.NoSuchProcess):
        pass
    return None


def run_interruptibly(coroutine):
    """Run a benchmark's main coroutine; Ctrl-C or SIGTERM cancels it, so that its finally
    blocks stop every child, and returns None. Children left at exit are stopped too."""
    atexit.register(stop_all_sync)

    async def guarded():
        task = asyncio.ensure_future(coroutine)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        return await task

    try:
        return asyncio.run(guarded())
    except asyncio.CancelledError:
        print("interrupted; every child process was stopped", file=sys.stderr)
        return None
