"""Clarion as a reusable app: a host Django project adds it and it works end to end.

tests/hostproject is a minimal host site (its own settings, URLconf, ASGI app, and a custom
user model ``campus.Person`` whose ``role`` field is read by ``CLARION["ROLE_RESOLVER"]``).
This module migrates it into a temporary SQLite file, creates users with ``manage.py shell``,
serves it with uvicorn, and talks to it over HTTP and real WebSockets. Everything runs in
subprocesses, so nothing here depends on the main suite's Django settings.
"""

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
HOSTPROJECT = REPO / "tests" / "hostproject"
SRC = REPO / "src"

ORIGIN = "http://host.test"
USERS = {"sam": ("student", "sam-pass-8d1f"), "ada": ("advisor", "ada-pass-3c7e")}
SERVER_START_TIMEOUT = 20.0
DELIVERY_TIMEOUT = 5.0
SILENCE_WINDOW = 1.5


# -- subprocess helpers ---------------------------------------------------------------


def _host_env(db_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = "hostsite.settings"
    env["HOSTSITE_DB"] = str(db_path)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(HOSTPROJECT), str(SRC), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _manage(env: dict[str, str], *args: str, timeout: float = 60) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=HOSTPROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        pytest.fail(
            f"manage.py {' '.join(args)} failed with {result.returncode}:\n"
            f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
        )
    return result.stdout


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_listening(proc: subprocess.Popen, port: int, log_path: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"uvicorn exited with {proc.returncode} before listening:\n{log_path.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"uvicorn did not accept connections within {SERVER_START_TIMEOUT:.0f}s:\n{log_path.read_text()}")


# -- fixtures -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """Holds the host site's SQLite file and the server log."""
    return tmp_path_factory.mktemp("hostproject")


@pytest.fixture(scope="module")
def host_env(workdir):
    """Environment of a migrated host database holding a student (sam) and an advisor (ada)."""
    env = _host_env(workdir / "hostsite.sqlite3")
    _manage(env, "migrate", "--noinput", "-v", "0")
    create = "; ".join(
        f"Person.objects.create_user({name!r}, password={password!r}, role={role!r})"
        for name, (role, password) in USERS.items()
    )
    _manage(env, "shell", "-c", f"from campus.models import Person; {create}")
    return env


@pytest.fixture(scope="module")
def host_server(host_env, workdir):
    """uvicorn serving hostsite.asgi:application; yields "127.0.0.1:<port>". Always stopped."""
    port = _free_port()
    log_path = workdir / "uvicorn.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "uvicorn", "hostsite.asgi:application",
                "--host", "127.0.0.1", "--port", str(port),
                "--ws", "websockets-sansio", "--lifespan", "off",
            ],
            cwd=HOSTPROJECT,
            env=host_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_listening(proc, port, log_path)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def _post_json(url: str, body: dict) -> dict:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _get_json(url: str, token: str) -> dict:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def host_tokens(host_server):
    """Access tokens from the host site's POST /api/auth/token/, by username."""
    return {
        name: _post_json(f"http://{host_server}/api/auth/token/", {"username": name, "password": password})["access"]
        for name, (_, password) in USERS.items()
    }


# -- socket helpers -------------------------------------------------------------------


def _ws_url(address: str, token: str) -> str:
    return f"ws://{address}/ws/notifications/?token={token}"


async def _open(address: str, token: str):
    """An open socket whose first frame (checked here) is recent_notifications."""
    ws = await connect(_ws_url(address, token), origin=ORIGIN, open_timeout=5, close_timeout=2)
    first = json.loads(await asyncio.wait_for(ws.recv(), timeout=5))
    assert first["type"] == "recent_notifications", first
    return ws


async def _wait_for_notification(ws, title: str, timeout: float = DELIVERY_TIMEOUT) -> dict:
    deadline = asyncio.get_running_loop().time() + timeout
    seen = []
    while True:
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            pytest.fail(f"no notification titled {title!r} within {timeout}s; frames seen: {seen}")
        try:
            frame = json.loads(await asyncio.wait_for(ws.recv(), timeout=remaining))
        except TimeoutError:
            continue
        if frame.get("type") == "notification" and frame["data"].get("title") == title:
            return frame
        seen.append(frame)


async def _frames_during(ws, seconds: float) -> list[dict]:
    frames = []
    deadline = asyncio.get_running_loop().time() + seconds
    while (remaining := deadline - asyncio.get_running_loop().time()) > 0:
        try:
            frames.append(json.loads(await asyncio.wait_for(ws.recv(), timeout=remaining)))
        except TimeoutError:
            break
    return frames


def _titles(frames: list[dict]) -> list[str]:
    return [f["data"].get("title") for f in frames if f.get("type") == "notification"]


async def _send_to_role(env: dict[str, str], role: str, title: str) -> None:
    """Send from a separate process, as a cron job or worker of the host site would."""
    code = f"from clarion import send_notification_to_role; send_notification_to_role({role!r}, {title!r}, 'msg')"
    await asyncio.to_thread(_manage, env, "shell", "-c", code)


# -- tests --------------------------------------------------------------------------------


def test_role_comes_from_the_host_user_model(host_server, host_tokens):
    """GET /api/me/ reports the role read by the host's ROLE_RESOLVER from Person.role."""
    assert _get_json(f"http://{host_server}/api/me/", host_tokens["sam"])["role"] == "student"
    assert _get_json(f"http://{host_server}/api/me/", host_tokens["ada"])["role"] == "advisor"


async def test_role_notifications_reach_only_that_role(host_env, host_server, host_tokens):
    sam = await _open(host_server, host_tokens["sam"])
    ada = None
    try:
        ada = await _open(host_server, host_tokens["ada"])
        await _send_to_role(host_env, "student", "Hello host")
        frame = await _wait_for_notification(sam, "Hello host")
        assert frame["data"]["title"] == "Hello host"
        assert frame["data"]["message"] == "msg"

        ada_frames = await _frames_during(ada, SILENCE_WINDOW)
        assert "Hello host" not in _titles(ada_frames), ada_frames

        await _send_to_role(host_env, "advisor", "Hello advisors")
        frame = await _wait_for_notification(ada, "Hello advisors")
        assert frame["data"]["title"] == "Hello advisors"

        sam_frames = await _frames_during(sam, 0.5)
        assert "Hello advisors" not in _titles(sam_frames), sam_frames
    finally:
        await sam.close()
        if ada is not None:
            await ada.close()


async def test_foreign_origin_is_refused_at_the_handshake(host_server, host_tokens):
    with pytest.raises(InvalidStatus) as excinfo:
        async with connect(_ws_url(host_server, host_tokens["sam"]), origin="http://evil.test", open_timeout=5):
            pass
    assert excinfo.value.response.status_code == 403
