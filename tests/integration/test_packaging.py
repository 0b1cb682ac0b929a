"""The wheel the README's command builds carries the web UI, and an install of it serves it
(issue 12). Built and installed into a new virtual environment, away from this checkout: what a
user who was handed the wheel gets.

Slow (a build and an install with its dependencies) and the same on every backend (the installed
server runs on its embedded default), so it runs once, in the embedded pass.
"""

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pytest

from tests.integration.harness import free_port

pytestmark = [pytest.mark.integration, pytest.mark.once]

REPO = Path(__file__).resolve().parents[2]
STATIC = "clarion/server/static/clarion-ui/"


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    env = {k: v for k, v in os.environ.items() if k != "CLARION_UI_SOURCEMAPS"}
    built = subprocess.run(["bash", "scripts/build-dist.sh", str(out)], cwd=REPO, env=env, capture_output=True,
                           text=True, timeout=600)
    assert built.returncode == 0, built.stdout + built.stderr
    output = (built.stdout + built.stderr).lower().splitlines()
    assert not [line for line in output if "license" in line and "deprecat" in line], built.stderr
    return out


def the_wheel(dist: Path) -> Path:
    wheels = list(dist.glob("clarion-*.whl"))
    assert len(wheels) == 1, list(dist.iterdir())
    return wheels[0]


def test_the_wheel_carries_the_built_ui_and_no_source_maps(dist):
    import json

    with zipfile.ZipFile(the_wheel(dist)) as wheel:
        names = wheel.namelist()
        manifest = json.loads(wheel.read(STATIC + "manifest.json"))
    assert f"clarion/server/static/{manifest['app.js']}" in names
    assert f"clarion/server/static/{manifest['app.css']}" in names
    assert not [n for n in names if n.endswith(".map")]
    assert not [n for n in names if "node_modules" in n or n.startswith(("clients/", "tests/"))]
    assert any(n.endswith("licenses/LICENSE") for n in names)


def test_the_sdist_carries_the_built_ui_too(dist):
    import tarfile

    sdists = list(dist.glob("clarion-*.tar.gz"))
    assert len(sdists) == 1
    with tarfile.open(sdists[0]) as sdist:
        names = sdist.getnames()
    assert any(n.endswith("src/" + STATIC + "manifest.json") for n in names)
    assert not [n for n in names if n.endswith(".map") or "node_modules" in n]


def test_an_install_of_the_wheel_serves_the_ui(dist, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    installed = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(the_wheel(dist))],
                               capture_output=True, text=True, timeout=900)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLARION_", "DJANGO_", "PYTHON"))}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    env.update(CLARION_DATA_DIR=str(tmp_path / "data"), CLARION_SECRET_KEY="packaging-test-key-0123456789abcdef")
    clarion = str(venv / "bin" / "clarion")
    # Run away from the checkout, so that nothing of src/ can be imported instead of the install.
    migrated = subprocess.run([clarion, "migrate"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert migrated.returncode == 0, migrated.stderr
    port = free_port()
    log = open(tmp_path / "serve.log", "w")
    server = subprocess.Popen([clarion, "serve", "--port", str(port)], cwd=tmp_path, env=env, stdout=log,
                              stderr=subprocess.STDOUT)
    try:
        page = _get_when_up(f"http://127.0.0.1:{port}/", server, tmp_path / "serve.log")
        html = page.decode()
        script = html.split('src="', 1)[1].split('"', 1)[0]
        assert script.startswith("/static/clarion-ui/app.") and script.endswith(".js"), html
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{script}", timeout=10) as response:
            assert response.status == 200 and "javascript" in response.headers["Content-Type"]
            assert len(response.read()) > 1000
        # Without its UI, this install (no clients/web beside it) is told to install a wheel that
        # has one, not to run npm: the decision made for real, in site-packages.
        installed_ui = next(venv.glob("lib/python*/site-packages/clarion/server/static/clarion-ui"))
        installed_ui.rename(installed_ui.with_name("clarion-ui.moved"))
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10)
            pytest.fail("the page answered 200 without a UI")
        except urllib.error.HTTPError as error:
            assert error.code == 503
            missing = error.read().decode()
        assert "This installation has no web UI" in missing and "bash scripts/build-dist.sh" in missing, missing
        assert "npm" not in missing and "clients/web" not in missing
    finally:
        server.terminate()
        server.wait(timeout=15)
    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import clarion; print(clarion.__file__)"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert str(venv) in where.stdout, where.stdout  # it was the installed copy that served


def _get_when_up(url, server, log_path, timeout=60.0) -> bytes:
    deadline = time.monotonic() + timeout
    while True:
        if server.poll() is not None:
            pytest.fail(f"clarion serve exited with {server.returncode}:\n{log_path.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                assert response.status == 200
                return response.read()
        except OSError:
            if time.monotonic() > deadline:
                pytest.fail(f"clarion serve did not answer within {timeout:.0f} s:\n{log_path.read_text()}")
            time.sleep(0.2)
