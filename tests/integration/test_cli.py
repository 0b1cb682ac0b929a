"""The `clarion` command as a user types it: help, one-line errors, non-zero exits."""

import pytest

from tests.integration.harness import clarion_command, run_cli

# Argument parsing and messages, the same on every backend: run once, in the embedded pass.
pytestmark = [pytest.mark.integration, pytest.mark.once]

COMMANDS = ["serve", "migrate", "seed-demo", "adduser", "send", "token", "listen"]


def test_help_for_every_command(backend):
    result = run_cli(backend, "--help")
    assert result.returncode == 0 and all(name in result.stdout for name in COMMANDS)
    for name in COMMANDS:
        result = run_cli(backend, name, "--help")
        assert result.returncode == 0 and "usage: clarion " + name in result.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (("send", "--role", "janitor", "--title", "x"), "unknown role 'janitor'"),
        (("send", "--user", "nobody", "--title", "x"), "no user 'nobody'"),
        (("send", "--all", "--title", "x", "--data", "{oops"), "--data is not valid JSON"),
        (("token", "nobody"), "no user 'nobody'"),
        (("adduser", "alice", "--role", "student", "--password", "x"), "already exists"),
        (("adduser", "zed", "--role", "wizard", "--password", "x"), "unknown role 'wizard'"),
        (("seed-demo",), "refusing to create demo users"),
    ],
)
def test_errors_are_one_line_and_exit_non_zero(backend, args, message):
    result = run_cli(backend, *args)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.stderr


def test_adduser_reads_the_password_from_stdin_and_token_works(backend, server):
    result = run_cli(backend, "adduser", "erin", "--role", "advisor", stdin="s3cret-pass\n")
    assert result.returncode == 0, result.stderr
    assert server.token("erin", "s3cret-pass")
    token = run_cli(backend, "token", "erin")
    assert token.returncode == 0
    status, me = server.request("GET", "/api/me/", token=token.stdout.strip())
    assert status == 200 and me["username"] == "erin" and me["role"] == "advisor"


def test_serve_on_a_busy_port_fails_with_one_line(backend, server):
    import subprocess

    result = subprocess.run(clarion_command("serve", "--port", str(server.port)), env=backend,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
