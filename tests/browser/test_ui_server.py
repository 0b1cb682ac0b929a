"""The server side of the web UI, without a browser: the page shell, what a Python-only install
says, the session endpoints the page signs in with, the user directory, static file caching, and
a check of the UI's sources for ways to parse markup."""

import json
import os
import re
import urllib.request
from pathlib import Path

import pytest
from django.core.cache import cache
from django.test import Client
from rest_framework_simplejwt.tokens import AccessToken

from clarion.auth.revocation import end_sessions
from clarion.server import views

WEB_SOURCES = Path(__file__).resolve().parents[2] / "clients/web/src"
PAGES = ["/", "/projects/1/", "/rooms/project-1/", "/admin/send/", "/admin/health/"]


@pytest.fixture(autouse=True)
def fresh_throttles():
    cache.clear()  # sign-in attempts are counted per address in the cache
    yield
    cache.clear()


@pytest.fixture
def built_ui(tmp_path, monkeypatch):
    """A stand-in build (manifest only), so these tests do not depend on Node."""
    (tmp_path / "manifest.json").write_text(json.dumps({"app.js": "clarion-ui/app.ABCD2345.js",
                                                        "app.css": "clarion-ui/app.EFGH6789.css"}))
    monkeypatch.setattr(views, "UI_DIR", tmp_path)
    monkeypatch.setattr(views, "_manifest_cache", {})
    return tmp_path


@pytest.mark.parametrize("path", PAGES)
def test_every_page_is_the_shell_naming_the_current_build(db, built_ui, path):
    response = Client().get(path)
    assert response.status_code == 200
    html = response.content.decode()
    assert '<script type="module" src="/static/clarion-ui/app.ABCD2345.js"></script>' in html
    assert '<link rel="stylesheet" href="/static/clarion-ui/app.EFGH6789.css">' in html
    assert "no-cache" in response["Cache-Control"]  # the shell changes with every build; the assets never do
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy and "unsafe-inline" not in policy
    assert "csrftoken" in response.cookies
    assert '{"debug": false, "signedIn": false}' in html


def test_a_rebuild_is_picked_up_without_a_restart(db, built_ui):
    assert "app.ABCD2345.js" in Client().get("/").content.decode()
    manifest = built_ui / "manifest.json"
    manifest.write_text(json.dumps({"app.js": "clarion-ui/app.NEWW2345.js", "app.css": "clarion-ui/app.NEWW6789.css"}))
    stat = manifest.stat()
    os.utime(manifest, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert "app.NEWW2345.js" in Client().get("/").content.decode()


def test_without_a_build_a_checkout_is_told_to_build_it_in_place(db, tmp_path, monkeypatch):
    monkeypatch.setattr(views, "UI_DIR", tmp_path / "missing")
    monkeypatch.setattr(views, "_manifest_cache", {})
    response = Client().get("/")
    assert response.status_code == 503
    html = response.content.decode()
    assert "The web UI is not built" in html
    assert f"bash {views.CHECKOUT_BUILD_SCRIPT}" in html and views.CHECKOUT_BUILD_SCRIPT.is_file()
    assert "bash scripts/demo.sh" in html and "/api/docs/" in html
    assert Client().get("/api/schema/").status_code == 200  # the rest of the server is unaffected


def _session_client(remote_addr="127.0.0.1"):
    client = Client(enforce_csrf_checks=True, REMOTE_ADDR=remote_addr)
    client.get("/ui/users/")  # any request: the CSRF cookie comes with the page in real life
    client.cookies["csrftoken"] = "a" * 32
    return client, {"HTTP_X_CSRFTOKEN": "a" * 32}


def test_sign_in_gives_a_session_the_page_turns_into_short_lived_tokens(people):
    client, csrf = _session_client()

    def sign_in(body, **headers):
        return client.post("/ui/session/", body, content_type="application/json", **headers)

    assert client.post("/ui/session/token/", **csrf).status_code == 401
    assert sign_in({"username": "alice", "password": "pw-alice"}).status_code == 403  # no CSRF token
    wrong = sign_in({"username": "alice", "password": "nope"}, **csrf)
    assert wrong.status_code == 401 and wrong.json() == {"detail": "Wrong username or password."}
    assert sign_in({"username": "alice"}, **csrf).status_code == 400

    ok = sign_in({"username": "alice", "password": "pw-alice"}, **csrf)
    assert ok.status_code == 200 and ok.json() == {"username": "alice"}
    assert ok.cookies["sessionid"]["httponly"]
    csrf = {"HTTP_X_CSRFTOKEN": client.cookies["csrftoken"].value}  # rotated at sign-in
    token = client.post("/ui/session/token/", **csrf)
    assert token.status_code == 200
    assert AccessToken(token.json()["access"])["user_id"] == str(people["alice"].pk)
    me = Client().get("/api/me/", HTTP_AUTHORIZATION=f"Bearer {token.json()['access']}")
    assert me.status_code == 200 and me.json()["username"] == "alice"
    assert client.get("/ui/session/token/").status_code == 405  # a credential is never a GET

    assert client.delete("/ui/session/", **csrf).status_code == 204
    assert client.post("/ui/session/token/", **csrf).status_code == 401


def test_sign_in_attempts_count_against_the_token_endpoints_throttle(people, settings):
    settings.CLARION = {"AUTH_THROTTLE_RATE": "3/minute"}
    outside = "203.0.113.9"  # loopback is exempt (a local reverse proxy shares it with every client)
    client, csrf = _session_client(outside)
    wrong = {"username": "alice", "password": "wrong"}
    assert Client(REMOTE_ADDR=outside).post("/api/auth/token/", wrong, content_type="application/json").status_code == 401
    codes = [client.post("/ui/session/", wrong, content_type="application/json", **csrf).status_code for _ in range(3)]
    assert codes == [401, 401, 429]  # one budget per address for both ways of signing in
    limited = client.post("/ui/session/", {"username": "alice", "password": "pw-alice"},
                          content_type="application/json", **csrf)
    assert limited.status_code == 429 and int(limited["Retry-After"]) > 0
    assert "Too many sign-in attempts" in limited.json()["detail"]
    assert Client(REMOTE_ADDR=outside).post("/api/auth/token/", wrong, content_type="application/json").status_code == 429


def test_a_session_ends_when_the_users_sessions_are_ended(people):
    client, csrf = _session_client()
    client.post("/ui/session/", {"username": "bob", "password": "pw-bob"}, content_type="application/json", **csrf)
    csrf = {"HTTP_X_CSRFTOKEN": client.cookies["csrftoken"].value}
    assert client.post("/ui/session/token/", **csrf).status_code == 200
    session = client.session
    session[views.SIGNED_IN_AT] -= 5  # signed in a while ago (the cutoff has whole seconds)
    session.save()
    end_sessions(people["bob"], "logout")  # POST /api/auth/logout/ from another device, say
    assert client.post("/ui/session/token/", **csrf).status_code == 401
    assert "_auth_user_id" not in client.session  # and the session is over
    assert client.post("/ui/session/token/", **csrf).status_code == 401


def test_the_user_directory_is_for_administrators(people):
    anonymous = Client()
    assert anonymous.get("/ui/users/").status_code == 401
    student = Client()
    student.force_login(people["alice"])
    assert student.get("/ui/users/").status_code == 403
    admin = Client()
    admin.force_login(people["dave"])
    answer = admin.get("/ui/users/")
    assert answer.status_code == 200
    assert {"id": people["bob"].pk, "username": "bob", "role": "student"} in answer.json()["results"]
    assert [u["username"] for u in answer.json()["results"]] == sorted(u["username"] for u in answer.json()["results"])


MARKUP_SINKS = re.compile(r"\b(innerHTML|outerHTML|insertAdjacentHTML|document\.write|createContextualFragment|"
                          r"DOMParser|srcdoc|eval\s*\(|new Function)\b")


def test_the_ui_never_parses_markup():
    """Text from the server goes into textContent and attribute values only (clients/web/src/dom.ts)."""
    sources = sorted(WEB_SOURCES.rglob("*.ts"))
    assert len(sources) >= 5
    offenders = [f"{path.relative_to(WEB_SOURCES)}:{number}: {line.strip()}"
                 for path in sources
                 for number, line in enumerate(path.read_text().splitlines(), 1)
                 if MARKUP_SINKS.search(line) and not line.strip().startswith(("*", "//", "/*"))]
    assert offenders == []


@pytest.mark.integration
def test_built_assets_are_cached_forever_and_compressed(server):
    with urllib.request.urlopen(server.url + "/") as response:
        html = response.read().decode()
    script = re.search(r'src="(/static/clarion-ui/app\.[A-Z0-9]{8}\.js)"', html)
    style = re.search(r'href="(/static/clarion-ui/app\.[A-Z0-9]{8}\.css)"', html)
    assert script and style, "the web UI is not built: bash clients/web/scripts/ensure-built.sh"
    for path, media_type in ((script[1], "text/javascript"), (style[1], "text/css")):
        request = urllib.request.Request(server.url + path, headers={"Accept-Encoding": "gzip"})
        with urllib.request.urlopen(request) as response:
            assert response.headers["Content-Type"].startswith(media_type)
            assert response.headers["Cache-Control"] == "max-age=315360000, public, immutable"
            assert response.headers["Content-Encoding"] == "gzip"
