"""What the commands and the server print is what happened, and only that (issue 12): a first
migrate says it created the tables, seed-demo does not report ending sessions of users it just
created, and serving a static file does not warn."""

import json
import urllib.request

import pytest

from tests.integration.harness import SCALEOUT, recreate_database, run_cli

pytestmark = pytest.mark.integration


def fresh_env(backend, tmp_path, name):
    env = dict(backend, CLARION_DATA_DIR=str(tmp_path / "data"))
    if SCALEOUT:
        env["DATABASE_URL"] = recreate_database(name)
    return env


def test_a_first_migrate_says_it_created_the_tables_and_a_second_that_nothing_was_left(backend, tmp_path):
    env = fresh_env(backend, tmp_path, "clarion_noise_migrate")
    first = run_cli(env, "migrate")
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("created the database tables") and "migrations applied" in first.stdout
    again = run_cli(env, "migrate")
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("database is up to date") and "no migrations to apply" in again.stdout


def test_seed_demo_does_not_report_ending_sessions_of_the_users_it_creates(backend, tmp_path):
    env = fresh_env(backend, tmp_path, "clarion_noise_seed")
    assert run_cli(env, "migrate").returncode == 0
    seeded = run_cli(env, "seed-demo", "--force")
    assert seeded.returncode == 0, seeded.stderr
    assert "ended the sessions" not in seeded.stdout + seeded.stderr
    assert "alice" in seeded.stdout


def test_a_static_file_is_served_whole_and_without_a_warning(server):
    with urllib.request.urlopen(server.url + "/static/clarion-ui/manifest.json", timeout=10) as response:
        manifest = json.loads(response.read())
    script = manifest["app.js"]
    with urllib.request.urlopen(f"{server.url}/static/{script}", timeout=10) as response:
        body = response.read()
        assert response.status == 200 and "javascript" in response.headers["Content-Type"]
        assert len(body) == int(response.headers["Content-Length"]) > 4096  # more than one block
    assert "synchronous iterators" not in server.log()
