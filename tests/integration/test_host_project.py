"""docs/integration.md, followed literally: a new Django project gets Clarion and works.

The page marks what a reader does with HTML comments: ``<!-- run -->`` before shell commands,
``<!-- file: PATH -->`` before a file's content (``(append)``: added at the end of the file),
``<!-- serve -->`` before the command that serves the site. This module runs those commands in
a temporary folder (``django-admin startproject`` first, as the page says), writes those files,
and serves the result: if the page and this test drift apart, the test fails. Blocks marked as
the "runserver variant" are applied to a second settings module for the runserver scenario.

Then it talks to the site as a user would: tokens over HTTP, real sockets, a role notification
sent from a separate ``manage.py shell`` (as a cron job would), one created over REST by a user
of an admin role, a foreign origin refused, API docs with no CDN, and ``manage.py runserver``
with and without Daphne.
"""

import asyncio
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

# The page's project uses SQLite whatever the suite's backend: the embedded pass alone runs it.
pytestmark = [pytest.mark.integration, pytest.mark.embedded]

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "integration.md"
SRC = REPO / "src"

ORIGIN = "http://host.test"  # the page's CLARION["ALLOWED_ORIGINS"]
USERS = {"mia": ("member", "mia-pass-8d1f"), "eli": ("editor", "eli-pass-3c7e"), "max": ("manager", "max-pass-77a0")}
SERVER_START_TIMEOUT = 30.0
DELIVERY_TIMEOUT = 5.0
SILENCE_WINDOW = 1.5

MARKER = re.compile(r"^<!-- (run|serve|file)(?::\s*(.*?))? -->$")
VARIANT = "runserver variant"


# -- reading the page ---------------------------------------------------------------------


def documented_steps() -> list[tuple[str, str, str]]:
    """(kind, argument, block text) for every marked block, in the page's order."""
    steps, lines, i = [], DOC.read_text().splitlines(), 0
    while i < len(lines):
        match = MARKER.match(lines[i].strip())
        i += 1
        if not match:
            continue
        while not lines[i].startswith("```"):
            i += 1
        end = lines.index("```", i + 1)
        steps.append((match.group(1), (match.group(2) or "").strip(), "\n".join(lines[i + 1:end]) + "\n"))
        i = end + 1
    return steps


def commands(block: str) -> list[list[str]]:
    """A shell block's commands, with ``python`` and ``django-admin`` as this interpreter."""
    found = []
    for line in block.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        argv = shlex.split(line)
        if argv[0] == "python":
            argv = [sys.executable, *argv[1:]]
        elif argv[0] == "django-admin":
            argv = [sys.executable, "-m", "django", *argv[1:]]
        found.append(argv)
    return found


def test_the_page_marks_the_steps_this_test_follows():
    kinds = [(kind, arg) for kind, arg, _ in documented_steps()]
    assert ("run", "") in kinds and ("serve", "") in kinds and ("serve", VARIANT) in kinds
    assert ("serve", "worker") in kinds
    assert {arg for kind, arg in kinds if kind == "file"} >= {
        "campus/models.py", "campus/roles.py", "hostsite/settings.py (append)", "hostsite/urls.py",
        "hostsite/asgi.py", f"hostsite/settings.py (append, {VARIANT})",
    }


# -- following it -------------------------------------------------------------------------


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("DJANGO_SETTINGS_MODULE", None)  # manage.py sets the project's own
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), *filter(None, [os.environ.get("PYTHONPATH")])])
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _run(argv: list[str], cwd: Path, env: dict[str, str], timeout: float = 120) -> str:
    result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        pytest.fail(f"{shlex.join(argv)} failed with {result.returncode}:\n"
                    f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}")
    return result.stdout + result.stderr


class Site:
    """The project the page built, and the commands it gave for serving it."""

    def __init__(self, root: Path, env: dict[str, str]):
        self.root = root
        self.env = env
        self.serve: dict[str, list[str]] = {}
        self.outputs: list[str] = []

    def manage(self, *args: str, settings: str | None = None) -> str:
        env = dict(self.env, DJANGO_SETTINGS_MODULE=settings) if settings else self.env
        return _run([sys.executable, "manage.py", *args], self.root, env)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Site:
    site = Site(tmp_path_factory.mktemp("host"), _env())
    variant_settings = site.root / "hostsite" / "settings_runserver.py"
    for kind, argument, block in documented_steps():
        if kind == "run":
            for argv in commands(block):
                site.outputs.append(_run(argv, site.root, site.env))
        elif kind == "serve":
            site.serve[argument] = commands(block)[0]
        elif argument.endswith(f"(append, {VARIANT})"):
            variant_settings.write_text("from hostsite.settings import *  # noqa: F403\n\n" + block)
        elif argument.endswith("(append)"):
            path = site.root / argument.removesuffix(" (append)")
            path.write_text(path.read_text() + "\n" + block)
        else:
            (site.root / argument).write_text(block)
    create = "; ".join(f"Person.objects.create_user({name!r}, password={password!r}, role={role!r}, "
                       f"email='{name}@host.test')"
                       for name, (role, password) in USERS.items())
    site.manage("shell", "-c", f"from campus.models import Person; {create}")
    return site


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Served:
    def __init__(self, site: Site, argv: list[str], log: Path, settings: str | None = None):
        self.port = _free_port()
        argv = [a.replace("8000", str(self.port)) for a in argv]
        if "runserver" in argv:
            argv.append("--noreload")  # one process, so that stopping it stops the server
        env = dict(site.env, DJANGO_SETTINGS_MODULE=settings) if settings else site.env
        self.log = log
        with open(log, "w") as out:
            self.proc = subprocess.Popen(argv, cwd=site.root, env=env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                pytest.fail(f"{shlex.join(argv)} exited with {self.proc.returncode}:\n{log.read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    pytest.fail(f"{shlex.join(argv)} did not listen within {SERVER_START_TIMEOUT:.0f} s:\n{log.read_text()}")
                time.sleep(0.1)
        self.address = f"127.0.0.1:{self.port}"

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)


@pytest.fixture(scope="module")
def server(site, tmp_path_factory):
    served = Served(site, site.serve[""], tmp_path_factory.mktemp("logs") / "uvicorn.log")
    yield served.address
    served.stop()


def _request(url: str, body: dict | None = None, token: str | None = None) -> tuple[int, str]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers, method="POST" if body is not None else "GET")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.fixture(scope="module")
def tokens(server):
    found = {}
    for name, (_, password) in USERS.items():
        status, body = _request(f"http://{server}/api/auth/token/", {"username": name, "password": password})
        assert status == 200, body
        found[name] = json.loads(body)["access"]
    return found


# -- sockets ------------------------------------------------------------------------------


async def _open(address: str, token: str):
    ws = await connect(f"ws://{address}/ws/notifications/?token={token}", origin=ORIGIN, open_timeout=5,
                       close_timeout=2)
    first = json.loads(await asyncio.wait_for(ws.recv(), timeout=5))
    assert first["type"] == "recent_notifications", first
    return ws


async def _wait_for(ws, title: str) -> dict:
    seen = []
    deadline = asyncio.get_running_loop().time() + DELIVERY_TIMEOUT
    while (remaining := deadline - asyncio.get_running_loop().time()) > 0:
        try:
            frame = json.loads(await asyncio.wait_for(ws.recv(), timeout=remaining))
        except TimeoutError:
            break
        if frame.get("type") == "notification" and frame["data"].get("title") == title:
            return frame
        seen.append(frame)
    pytest.fail(f"no notification titled {title!r} within {DELIVERY_TIMEOUT} s; frames seen: {seen}")


async def _titles_during(ws, seconds: float) -> list[str]:
    titles = []
    deadline = asyncio.get_running_loop().time() + seconds
    while (remaining := deadline - asyncio.get_running_loop().time()) > 0:
        try:
            frame = json.loads(await asyncio.wait_for(ws.recv(), timeout=remaining))
        except TimeoutError:
            break
        if frame.get("type") == "notification":
            titles.append(frame["data"].get("title"))
    return titles


# -- what the page promises ---------------------------------------------------------------


def test_check_passes_on_the_documented_project(site):
    checked = [out for out in site.outputs if "System check identified" in out]
    assert checked and "System check identified no issues" in checked[-1], site.outputs


def test_the_role_comes_from_the_sites_own_user_model_and_role_names(server, tokens):
    for name, (role, _) in USERS.items():
        status, body = _request(f"http://{server}/api/me/", token=tokens[name])
        assert status == 200, body
        me = json.loads(body)
        assert me["role"] == role
        assert me["can_send"] is (role == "manager")


async def test_a_role_notification_from_another_process_reaches_only_that_role(site, server, tokens):
    mia, eli = await _open(server, tokens["mia"]), await _open(server, tokens["eli"])
    try:
        code = "from clarion import send_notification_to_role; send_notification_to_role('member', 'Hello members', 'msg')"
        await asyncio.to_thread(site.manage, "shell", "-c", code)
        frame = await _wait_for(mia, "Hello members")
        assert frame["data"]["message"] == "msg"
        assert "Hello members" not in await _titles_during(eli, SILENCE_WINDOW)
    finally:
        await mia.close()
        await eli.close()


def test_the_documented_worker_mails_an_unread_deadline_to_the_roles_readers_through_the_sites_backend(
        site, server, tokens):
    """Step 12: `manage.py clarion_worker` beside the server; ROLE_MEMBERS lists the members, and
    the site's own EMAIL_BACKEND (the file backend) receives one mail each, eli (editor) none."""
    outbox = site.root / "sent-mail"
    log = site.root / "worker.log"
    with open(log, "w") as out:
        worker = subprocess.Popen(site.serve["worker"], cwd=site.root, env=site.env, stdout=out,
                                  stderr=subprocess.STDOUT)
    try:
        code = ("from clarion import send_notification_to_role; "
                "send_notification_to_role('member', 'Forms due', 'By Friday', category='deadline', link='/forms/')")
        site.manage("shell", "-c", code)
        deadline = time.monotonic() + 20
        mails = ""
        while time.monotonic() < deadline and "Forms due" not in mails:
            time.sleep(0.3)
            mails = "".join(path.read_text() for path in outbox.glob("*")) if outbox.is_dir() else ""
        assert worker.poll() is None, log.read_text()
        assert mails.count("Subject: Forms due") == 1, mails or log.read_text()
        assert "To: mia@host.test" in mails and "eli@host.test" not in mails
        assert "http://host.test/forms/" in mails and "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in mails
    finally:
        worker.terminate()
        worker.wait(10)


def test_the_sites_own_sign_in_refuses_an_account_the_lockout_locked(site, server):
    """Step 4's AUTHENTICATION_BACKENDS: the site's own authenticate() counts failures and then
    refuses the right password; over REST the server answers 429 for the same name."""
    code = ("from django.contrib.auth import authenticate; "
            "[authenticate(username='eli', password='wrong') for _ in range(10)]; "
            "print('signed in' if authenticate(username='eli', password=%r) else 'refused')" % USERS["eli"][1])
    out = site.manage("shell", "-c", code)
    assert "refused" in out.splitlines() and "sign-in locked for username 'eli'" in out, out
    for _ in range(10):
        assert _request(f"http://{server}/api/auth/token/", {"username": "nobody-here", "password": "x"})[0] == 401
    assert _request(f"http://{server}/api/auth/token/", {"username": "nobody-here", "password": "x"})[0] == 429


async def test_a_manager_creates_over_rest_and_the_editor_receives_it(server, tokens):
    eli = await _open(server, tokens["eli"])
    try:
        status, body = await asyncio.to_thread(
            _request, f"http://{server}/api/notifications/",
            {"title": "Proofs ready", "recipient_type": "role", "recipient_id": "editor"}, tokens["max"])
        assert status == 201, body
        await _wait_for(eli, "Proofs ready")
        refused, body = await asyncio.to_thread(
            _request, f"http://{server}/api/notifications/",
            {"title": "Nope", "recipient_type": "role", "recipient_id": "editor"}, tokens["mia"])
        assert refused == 403, body
    finally:
        await eli.close()


async def test_the_sites_own_categories_reach_the_socket(site, server, tokens):
    eli = await _open(server, tokens["eli"])
    try:
        code = ("from clarion import send_notification_to_role; send_notification_to_role('editor', 'Review due', "
                "'Paper 12 by Friday', category='deadline', topic='paper:12')")  # as the page shows it
        await asyncio.to_thread(site.manage, "shell", "-c", code)
        frame = await _wait_for(eli, "Review due")
        assert (frame["data"]["category"], frame["data"]["topic"]) == ("deadline", "paper:12")
        refused = subprocess.run([sys.executable, "manage.py", "shell", "-c",
                                  "from clarion import send_notification_to_role; "
                                  "send_notification_to_role('editor', 'x', category='comment')"],
                                 cwd=site.root, env=site.env, capture_output=True, text=True, timeout=60)
        assert refused.returncode != 0 and "unknown category 'comment'" in refused.stderr  # not one of this site's
    finally:
        await eli.close()


async def test_a_foreign_origin_is_refused_at_the_handshake(server, tokens):
    with pytest.raises(InvalidStatus) as refused:
        async with connect(f"ws://{server}/ws/notifications/?token={tokens['mia']}", origin="http://evil.test",
                           open_timeout=5):
            pass
    assert refused.value.response.status_code == 403


def test_the_api_docs_come_from_the_sidecar_not_a_cdn(server):
    status, page = _request(f"http://{server}/api/docs/")
    assert status == 200, page
    assert "drf_spectacular_sidecar" in page
    assert "cdn.jsdelivr.net" not in page and "unpkg.com" not in page


async def test_runserver_serves_sockets_with_daphne_and_refuses_them_without(site, server, tokens, tmp_path):
    plain = Served(site, site.serve[VARIANT], tmp_path / "runserver.log")
    try:
        with pytest.raises(InvalidStatus) as refused:
            await connect(f"ws://{plain.address}/ws/notifications/?token={tokens['mia']}", origin=ORIGIN, open_timeout=5)
        assert refused.value.response.status_code == 404
    finally:
        plain.stop()
    with_daphne = Served(site, site.serve[VARIANT], tmp_path / "daphne.log", settings="hostsite.settings_runserver")
    try:
        ws = await _open(with_daphne.address, tokens["mia"])
        await ws.close()
    finally:
        with_daphne.stop()
