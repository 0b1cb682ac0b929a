"""What Clarion says when its web UI is not built (issue 12): advice that fits how it was
installed. A checkout can build the UI where it is served; a wheel or sdist install has no
clients/web, so it is told to install a wheel that carries the UI, never to run npm.

The page's wording for each kind is also checked in tests/browser/test_ui_server.py; here: which
kind this checkout is, the one-line log warning for each, and that both pages stay CSP-safe.
tests/integration/test_packaging.py checks the package-install kind for real, from a wheel.
"""

import logging
import re
from pathlib import Path

import pytest
from django.test import Client

from clarion.server import views

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def no_ui(tmp_path, monkeypatch):
    monkeypatch.setattr(views, "UI_DIR", tmp_path / "missing")
    monkeypatch.setattr(views, "_manifest_cache", {})


@pytest.fixture
def package_install(tmp_path, monkeypatch):
    """As in site-packages: nothing of clients/web beside the package."""
    monkeypatch.setattr(views, "CHECKOUT_BUILD_SCRIPT", tmp_path / "clients" / "web" / "scripts" / "ensure-built.sh")


def test_this_checkout_is_recognised_as_one_with_its_real_build_script():
    advice = views.ui_build_advice()
    script = REPO / "clients" / "web" / "scripts" / "ensure-built.sh"
    assert advice == {"from_checkout": True, "command": f"bash {script}"}
    assert script.is_file()


def test_a_package_install_is_told_to_build_a_wheel_in_a_checkout(package_install):
    assert views.ui_build_advice() == {"from_checkout": False, "command": "bash scripts/build-dist.sh"}


def _warnings(caplog):
    return [r.getMessage() for r in caplog.records if r.name == "clarion.server" and r.levelno == logging.WARNING]


@pytest.mark.django_db
def test_a_checkout_logs_once_how_to_build_the_ui_in_place(no_ui, caplog):
    with caplog.at_level(logging.WARNING, logger="clarion.server"):
        assert Client().get("/").status_code == 503
        assert Client().get("/projects/1/").status_code == 503
    [message] = _warnings(caplog)
    assert "\n" not in message
    assert message.endswith(f"build it with: bash {REPO}/clients/web/scripts/ensure-built.sh")


@pytest.mark.django_db
def test_a_package_install_logs_once_to_install_a_wheel_that_has_the_ui(no_ui, package_install, caplog):
    with caplog.at_level(logging.WARNING, logger="clarion.server"):
        assert Client().get("/").status_code == 503
        assert Client().get("/admin/send/").status_code == 503
    [message] = _warnings(caplog)
    assert "\n" not in message
    assert "no web UI" in message and "wheel" in message and "bash scripts/build-dist.sh" in message
    assert "npm" not in message and "clients/web" not in message


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["checkout", "package"])
def test_both_pages_stay_csp_safe(no_ui, request, kind):
    if kind == "package":
        request.getfixturevalue("package_install")
    response = Client().get("/")
    html = response.content.decode()
    assert response.status_code == 503
    assert "script-src 'self'" in response["Content-Security-Policy"]
    # The policy allows no inline script or style, so the page has none to be blocked.
    assert not re.search(r"<script|<style|\sstyle=|\son[a-z]+=", html, re.I), html
    assert "/api/docs/" in html
