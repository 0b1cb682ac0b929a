"""`clarion listen` as a user runs it, against a real `clarion serve`, across a server restart."""

import json
import queue
import signal
import subprocess
import threading
import time

import pytest

from clarion.cli.listen import MAX_DELAY
from tests.integration.harness import clarion_command, free_port, run_cli

pytestmark = pytest.mark.integration


def _sigint_as_at_a_terminal():
    # A shell without job control starts a background command with SIGINT ignored, and
    # scripts/test.sh runs the embedded pass in the background: Ctrl+C would never reach
    # `clarion listen` there (a program must keep an inherited SIG_IGN, as nohup relies on).
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Listener:
    """`clarion listen` in a subprocess; stdout and stderr are read line by line in threads."""

    def __init__(self, env, *args):
        self.process = subprocess.Popen(clarion_command("listen", *args), env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True, preexec_fn=_sigint_as_at_a_terminal)
        self.lines = queue.Queue()
        self.stderr = []
        self._status = threading.Condition()
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def _read_stdout(self):
        for line in self.process.stdout:
            self.lines.put(line)

    def _read_stderr(self):
        for line in self.process.stderr:
            with self._status:
                self.stderr.append(line)
                self._status.notify_all()

    def notification(self, timeout=10.0) -> dict:
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no notification printed within {timeout}s; stderr:\n{''.join(self.stderr)}")
        assert line.endswith("\n")
        return json.loads(line)

    def notifications(self, count, timeout=10.0) -> list[dict]:
        return [self.notification(timeout) for _ in range(count)]

    def quiet(self, seconds) -> list[dict]:
        """Whatever is printed within ``seconds`` (nothing, when all went well)."""
        extra = []
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                extra.append(json.loads(self.lines.get(timeout=left)))
            except queue.Empty:
                break
        return extra

    def wait_status(self, text, timeout=15.0, after=0) -> int:
        """Wait for a stderr line containing ``text`` (from line ``after`` on); its index."""
        with self._status:
            found = self._status.wait_for(
                lambda: any(text in line for line in self.stderr[after:]), timeout)
            assert found, f"no status {text!r} within {timeout}s; stderr:\n{''.join(self.stderr)}"
            return next(i for i, line in enumerate(self.stderr) if i >= after and text in line)

    def stop(self, sig=signal.SIGINT, timeout=10.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            # PYTHONFAULTHANDLER (set by listeners()) makes SIGABRT print every thread's stack.
            self.process.send_signal(signal.SIGABRT)
            self.process.wait(5)
            time.sleep(0.5)  # the reader thread takes the last lines
            raise AssertionError(f"clarion listen did not exit within {timeout}s of signal {sig}; "
                                 f"stderr:\n{''.join(self.stderr)}") from None
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait(5)


@pytest.fixture
def listeners():
    started = []

    def start(env, *args):
        started.append(Listener({**env, "PYTHONFAULTHANDLER": "1"}, *args))
        return started[-1]

    yield start
    for listener in started:
        listener.stop(signal.SIGKILL)


def make_user(backend, username, role="student"):
    result = run_cli(backend, "adduser", username, "--role", role, "--password", "pw-" + username)
    assert result.returncode == 0, result.stderr
    return int(result.stdout.split("(id ")[1].split(",")[0])


def send(backend, username, title):
    result = run_cli(backend, "send", "--user", username, "--title", title)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["id"]


def mine(printed, user_id):
    # Role and everyone notifications from other tests may reach the role; compare our own.
    return [n for n in printed if n["recipient_type"] == "user" and n["recipient_id"] == str(user_id)]


def test_listen_survives_a_server_restart_without_missing_or_repeating(server, backend, tokens, listeners):
    user_id = make_user(backend, "lena")
    listener = listeners(backend, "--user", "lena", "--url", server.ws_url, "--max-attempts", "0")
    listener.wait_status("listening")

    # Each is printed before the next is sent: the order on the wire is the log order, which
    # for notifications created at once by different processes need not be the order of ids.
    sent = [send(backend, "lena", "live 1")]  # CLI: another process, pushed by the relay or Redis
    printed = [listener.notification()]
    sent.append(server.notify(tokens["dave"], title="live 2", recipient_type="user",
                              recipient_id=str(user_id))["id"])  # REST: pushed by the server itself
    printed.append(listener.notification())

    mark = len(listener.stderr)
    server.stop()  # graceful: uvicorn closes every socket with 1012
    try:
        listener.wait_status("not connected", after=mark)
        # The server is down: the CLI writes the database, and the relay or Redis has nobody to
        # tell; only resume by cursor can bring these to the listener.
        sent += [send(backend, "lena", f"while down {i}") for i in range(3)]
    finally:
        server.start()
    # The listener retried all the while the server was down; its next attempt can be one
    # whole backoff cap (listen.MAX_DELAY) after the server is back.
    listener.wait_status("resumed", after=mark, timeout=MAX_DELAY + 20)
    printed += listener.notifications(3)
    sent.append(send(backend, "lena", "after restart"))
    printed.append(listener.notification())
    printed += listener.quiet(1.5)

    assert [n["id"] for n in mine(printed, user_id)] == sent
    assert [n["title"] for n in mine(printed, user_id)] == [
        "live 1", "live 2", "while down 0", "while down 1", "while down 2", "after restart"]
    assert len({n["id"] for n in printed}) == len(printed)
    assert all(n["cursor"] for n in printed)

    assert listener.stop(signal.SIGINT) == 130  # Ctrl+C
    assert "Traceback" not in "".join(listener.stderr)


def test_listen_recent_prints_the_snapshot_oldest_first_then_live_and_stops_on_sigterm(server, backend,
                                                                                        listeners):
    user_id = make_user(backend, "mira", role="advisor")
    before = [send(backend, "mira", f"unread {i}") for i in range(2)]
    token = run_cli(backend, "token", "mira").stdout.strip()
    # --token needs nothing from the server's configuration: run it without the backend's env.
    env = {key: value for key, value in backend.items() if not key.startswith(("CLARION_", "DATABASE_"))}
    listener = listeners(env, "--token", token, "--url", server.url, "--recent")
    listener.wait_status("listening")
    snapshot = listener.quiet(1.0)
    # The snapshot may also hold role notifications of other tests; ours are the newest, so last.
    assert [n["id"] for n in snapshot[-2:]] == before == [n["id"] for n in mine(snapshot, user_id)]
    assert [n["title"] for n in snapshot[-2:]] == ["unread 0", "unread 1"]
    live = send(backend, "mira", "live")
    assert listener.notification()["id"] == live
    assert listener.stop(signal.SIGTERM) == 0
    assert "Traceback" not in "".join(listener.stderr)


@pytest.mark.parametrize("args, message", [
    (("--user", "nobody"), "no user 'nobody'"),
    (("--token", "not-a-token"), "the server refused the token (4401)"),
    (("--token", "t", "--url", "ftp://127.0.0.1"), "--url: expected a ws://"),
    (("--token", "t", "--max-attempts", "-1"), "--max-attempts cannot be negative"),
])
def test_listen_errors_are_one_line(server, backend, args, message):
    if "--url" not in args:
        args = (*args, "--url", server.ws_url)
    result = run_cli(backend, "listen", *args, timeout=30)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("clarion listen: error: ") and message in lines[-1], result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_listen_gives_up_when_nothing_listens(backend):
    result = run_cli(backend, "listen", "--token", "t", "--url", f"ws://127.0.0.1:{free_port()}",
                     "--max-attempts", "2", timeout=30)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "clarion listen: error: gave up after 2 failed connection attempts in a row; the last: connection refused")
