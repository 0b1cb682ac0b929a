"""Safe by default for a deployment (issue 10, finding 9): /metrics needs a token, the data
directory is private, and a server behind TLS can say so (Secure cookies, HSTS, the proxy's
header, trusted origins), with a system check when a public host has none of it.

Settings read from the environment are checked in a fresh interpreter: clarion.server.settings
reads it once, at import."""

import json
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.test import Client, override_settings

from clarion.checks import check_tls_deployment

SRC = Path(__file__).resolve().parents[2] / "src"


def standalone(env: dict, code: str) -> subprocess.CompletedProcess:
    """Run ``code`` after importing the standalone server's settings under exactly ``env``."""
    full = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(SRC), **env}
    script = "import json, sys\nimport clarion.server.settings as s\n" + code
    return subprocess.run([sys.executable, "-c", script], env=full, capture_output=True, text=True, timeout=60)


def standalone_settings(env: dict, *names: str) -> dict:
    result = standalone(env, f"print(json.dumps({{n: getattr(s, n) for n in {list(names)!r}}}))")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- /metrics ------------------------------------------------------------------------------


def clarion(**values):
    return override_settings(CLARION={**django_settings.CLARION, "METRICS_TOKEN": "", "METRICS_PUBLIC": False,
                                      **values})


@pytest.mark.django_db
def test_metrics_are_closed_without_a_token_even_to_loopback():
    with clarion():
        for address in ("127.0.0.1", "::1"):  # what every client has behind a same-host proxy
            refused = Client().get("/metrics", REMOTE_ADDR=address)
            assert refused.status_code == 403 and b"CLARION_METRICS_TOKEN" in refused.content
            assert b"clarion_" not in refused.content


@pytest.mark.django_db
def test_metrics_open_with_the_token_or_when_explicitly_public():
    with clarion(METRICS_TOKEN="t0ken"):
        assert Client().get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 401
        assert Client().get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_AUTHORIZATION="Bearer t0ken").status_code == 200
    with clarion(METRICS_TOKEN="t0ken", METRICS_PUBLIC=True):  # a token, once set, is always required
        assert Client().get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 401
    with clarion(METRICS_PUBLIC=True):
        assert Client().get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200
        assert Client().get("/metrics", REMOTE_ADDR="192.0.2.7").status_code == 403  # the address rule holds


def test_the_standalone_server_reads_the_metrics_switches_from_the_environment(tmp_path):
    base = {"CLARION_DATA_DIR": str(tmp_path)}
    assert standalone_settings(base, "CLARION")["CLARION"]["METRICS_PUBLIC"] is False
    opened = standalone_settings({**base, "CLARION_METRICS_PUBLIC": "1", "CLARION_METRICS_TOKEN": "x"}, "CLARION")
    assert opened["CLARION"]["METRICS_PUBLIC"] is True and opened["CLARION"]["METRICS_TOKEN"] == "x"


# -- the data directory --------------------------------------------------------------------

WRITE_WHILE_OPEN = """
import os, stat
os.environ["DJANGO_SETTINGS_MODULE"] = "clarion.server.settings"
import django
django.setup()
from django.db import connection
with connection.cursor() as cursor:
    cursor.execute("CREATE TABLE IF NOT EXISTS t (x TEXT)")
    cursor.execute("INSERT INTO t VALUES ('secret')")
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in s.DATA_DIR.iterdir()}
    modes["."] = stat.S_IMODE(s.DATA_DIR.stat().st_mode)
print(json.dumps(modes))
"""


def test_the_data_directory_is_created_0700_and_the_database_its_wal_and_the_key_0600(tmp_path):
    data = tmp_path / "data"
    result = standalone({"CLARION_DATA_DIR": str(data)}, WRITE_WHILE_OPEN)
    assert result.returncode == 0, result.stderr
    modes = json.loads(result.stdout)
    assert modes.pop(".") == 0o700
    assert {"clarion.sqlite3", "clarion.sqlite3-wal", "clarion.sqlite3-shm", ".clarion-secret-key"} <= set(modes)
    assert all(value == 0o600 for value in modes.values()), {name: oct(value) for name, value in modes.items()}


def test_a_data_directory_left_readable_by_others_is_made_private_and_says_so(tmp_path):
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    database = data / "clarion.sqlite3"
    sqlite3.connect(database).close()
    database.chmod(0o644)
    (data / "clarion.sqlite3-wal").write_bytes(b"")
    (data / "clarion.sqlite3-wal").chmod(0o666)
    result = standalone({"CLARION_DATA_DIR": str(data), "CLARION_SECRET_KEY": "k" * 50}, "")
    assert result.returncode == 0, result.stderr
    assert mode(data) == 0o700 and mode(database) == 0o600 and mode(data / "clarion.sqlite3-wal") == 0o600
    assert "readable by other users" in result.stderr and str(data) in result.stderr


# -- behind TLS ----------------------------------------------------------------------------


def test_the_tls_switches_set_secure_cookies_hsts_the_proxy_header_and_trusted_origins(tmp_path):
    names = ("SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS",
             "SECURE_PROXY_SSL_HEADER", "CSRF_TRUSTED_ORIGINS")
    base = {"CLARION_DATA_DIR": str(tmp_path)}
    assert standalone_settings(base, *names) == {
        "SESSION_COOKIE_SECURE": False, "CSRF_COOKIE_SECURE": False, "SECURE_HSTS_SECONDS": 0,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": False, "SECURE_PROXY_SSL_HEADER": None, "CSRF_TRUSTED_ORIGINS": []}
    assert standalone_settings({
        **base, "CLARION_HTTPS": "1", "CLARION_HSTS_SECONDS": "31536000", "CLARION_HSTS_INCLUDE_SUBDOMAINS": "1",
        "CLARION_PROXY_SSL_HEADER": "X-Forwarded-Proto: https",
        "CLARION_CSRF_TRUSTED_ORIGINS": "https://notify.example.edu, https://app.example.edu",
    }, *names) == {
        "SESSION_COOKIE_SECURE": True, "CSRF_COOKIE_SECURE": True, "SECURE_HSTS_SECONDS": 31536000,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True, "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"],
        "CSRF_TRUSTED_ORIGINS": ["https://notify.example.edu", "https://app.example.edu"]}
    bad = standalone({**base, "CLARION_PROXY_SSL_HEADER": "X-Forwarded-Proto"}, "")
    assert bad.returncode != 0 and "X-Forwarded-Proto: https" in bad.stderr


def test_a_public_host_without_tls_settings_gets_a_warning_and_local_ones_do_not():
    public = {"DEBUG": False, "ALLOWED_HOSTS": ["notify.example.edu"]}
    with override_settings(**public):
        [warning] = check_tls_deployment(None)
    assert warning.id == "clarion.W001" and "notify.example.edu" in warning.msg and "CLARION_HTTPS" in warning.hint
    with override_settings(**public, SESSION_COOKIE_SECURE=True, CSRF_COOKIE_SECURE=True, SECURE_HSTS_SECONDS=3600):
        assert check_tls_deployment(None) == []
    with override_settings(DEBUG=False, ALLOWED_HOSTS=["localhost", "127.0.0.1", "[::1]", "host.test"]):
        assert check_tls_deployment(None) == []
    with override_settings(DEBUG=True, ALLOWED_HOSTS=["notify.example.edu"]):
        assert check_tls_deployment(None) == []


TLS_BEHIND_PROXY = {
    "ALLOWED_HOSTS": ["notify.example.edu", "127.0.0.1"],
    "SECURE_PROXY_SSL_HEADER": ("HTTP_X_FORWARDED_PROTO", "https"),
    "CSRF_TRUSTED_ORIGINS": ["https://notify.example.edu"],
    "SESSION_COOKIE_SECURE": True, "CSRF_COOKIE_SECURE": True, "SECURE_HSTS_SECONDS": 3600,
}


def _sign_in(host: str, **extra):
    client = Client(enforce_csrf_checks=True)
    client.cookies["csrftoken"] = "a" * 32
    return client.post("/ui/session/", {"username": "alice", "password": "pw-alice"}, content_type="application/json",
                       HTTP_HOST=host, HTTP_ORIGIN="https://notify.example.edu", HTTP_X_CSRFTOKEN="a" * 32, **extra)


@pytest.mark.django_db
@pytest.mark.parametrize("host", ["notify.example.edu", "127.0.0.1"])  # the proxy keeps Host, or rewrites it
def test_sign_in_with_an_https_origin_behind_a_tls_proxy_succeeds_with_secure_cookies_and_hsts(people, host):
    with override_settings(ALLOWED_HOSTS=TLS_BEHIND_PROXY["ALLOWED_HOSTS"]):
        assert _sign_in(host).status_code == 403  # before: no way to tell Django about the proxy
    with override_settings(**TLS_BEHIND_PROXY):
        response = _sign_in(host, HTTP_X_FORWARDED_PROTO="https")
    assert response.status_code == 200, response.content
    assert response.cookies["sessionid"]["secure"] and response.cookies["sessionid"]["httponly"]
    assert response["Strict-Transport-Security"].startswith("max-age=3600")
