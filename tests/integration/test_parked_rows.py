"""No row can stall a stream (issue 10, finding 1).

A notification whose data nests 300 deep, or whose audience is a role name no group can
carry, used to stop live delivery for everyone, across restarts. Now the door refuses the
first, and the relay parks any such row that reaches the log behind the API's back: the
notifications after it arrive live, connects still get their snapshot, and `clarion doctor`
lists, retries and drops the parked rows.
"""

import json
import time

import pytest

from tests.integration.harness import frames_until_quiet, next_frame, private_server, run_cli

pytestmark = pytest.mark.integration

DEEP = 300


def _nested(depth: int) -> dict:
    value: dict = {"leaf": True}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


@pytest.fixture(scope="module")
def parked_server(tmp_path_factory):
    """Its own backend: these tests plant unpublishable rows, which other tests must not meet."""
    yield from private_server(tmp_path_factory, "parked")


def _plant(env, **fields) -> int:
    """Insert a notification straight into the database, as a script or a migration might:
    no validation, no publish on commit. The server's relay finds it."""
    script = (
        "import json, sys\n"
        "from clarion.cli.setup import django_setup\n"
        "django_setup()\n"
        "from clarion.notifications.models import Notification\n"
        "print(Notification.objects.create(**json.loads(sys.stdin.read())).pk)\n"
    )
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", script], env=env, input=json.dumps(fields), capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return int(result.stdout.strip())


def _doctor(env, *args):
    return run_cli(env, "doctor", *args)


def _wait_parked(env, spec: str, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        listing = _doctor(env).stdout
        if spec in listing or time.monotonic() > deadline:
            return listing
        time.sleep(0.2)


def test_data_nested_too_deep_is_refused_with_400_by_rest(parked_server):
    admin = parked_server.token("dave")
    # Far too deep: the JSON parser refuses the body before any view runs.
    status, body = parked_server.request("POST", "/api/notifications/", {
        "title": "deep", "recipient_type": "all", "data": _nested(DEEP)}, admin)
    assert status == 400 and "deeper than" in json.dumps(body), body
    # Just past the limit: the body parses, and the field is named.
    status, body = parked_server.request("POST", "/api/notifications/", {
        "title": "deep", "recipient_type": "all", "data": _nested(33)}, admin)
    assert status == 400 and "data" in body and "deeper than 32" in json.dumps(body), body
    status, body = parked_server.request("POST", "/api/notifications/", {
        "title": "deep enough", "recipient_type": "all", "data": _nested(32)}, admin)
    assert status == 201, body


@pytest.mark.parametrize("plant", ["too deep", "bad role"])
async def test_a_row_that_cannot_be_published_is_parked_and_the_stream_goes_on(parked_server, plant):
    env = parked_server.env
    alice, admin = parked_server.token("alice"), parked_server.token("dave")
    _, me = parked_server.request("GET", "/api/me/", token=alice)
    async with parked_server.socket(alice) as ws:
        assert (await next_frame(ws))["type"] == "recent_notifications"
        await frames_until_quiet(ws, 0.3)

        if plant == "too deep":
            bad = _plant(env, title="poison", recipient_type="user", recipient_id=str(me["id"]), data=_nested(DEEP))
        else:
            bad = _plant(env, title="poison", recipient_type="role", recipient_id="no such role!")
        listing = _wait_parked(env, f"notification:{bad}")
        assert f"notification:{bad}" in listing, listing

        started = time.monotonic()
        created = parked_server.notify(admin, title=f"after the {plant} row", recipient_type="user",
                                       recipient_id=str(me["id"]))
        frame = await next_frame(ws, timeout=2.0)
        assert frame["type"] == "notification" and frame["data"]["id"] == created["id"]
        assert time.monotonic() - started < 2.0

    # A fresh connect still gets its snapshot (the poison is not in it) and stays open.
    async with parked_server.socket(alice) as ws:
        snapshot = await next_frame(ws)
        assert snapshot["type"] == "recent_notifications"
        ids = [n["id"] for n in snapshot["data"]["notifications"]]
        assert created["id"] in ids and bad not in ids
        await ws.send(json.dumps({"type": "ping"}))
        assert (await next_frame(ws))["type"] == "pong"
    assert "parked notification" in parked_server.log()


async def test_a_sequenced_row_whose_frame_cannot_be_encoded_is_skipped_by_snapshots(parked_server):
    """A row sequenced before the checks existed (an older version, a changed setting): the
    relay parks it when it comes to push it, and every snapshot leaves it out."""
    env = parked_server.env
    alice, admin = parked_server.token("alice"), parked_server.token("dave")
    _, me = parked_server.request("GET", "/api/me/", token=alice)
    created = parked_server.notify(admin, title="soon poisoned", recipient_type="user", recipient_id=str(me["id"]))
    script = (
        "from clarion.cli.setup import django_setup\n"
        "django_setup()\n"
        "from clarion.notifications.models import Notification\n"
        f"value = {{'leaf': 1}}\n"
        f"for _ in range({DEEP}): value = {{'a': value}}\n"
        f"Notification.objects.filter(pk={created['id']}).update(data=value)\n"
    )
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    async with parked_server.socket(alice) as ws:
        snapshot = await next_frame(ws)
        assert snapshot["type"] == "recent_notifications"
        assert created["id"] not in [n["id"] for n in snapshot["data"]["notifications"]]
        await ws.send(json.dumps({"type": "ping"}))
        assert (await next_frame(ws))["type"] == "pong"


def test_doctor_lists_retries_and_drops_parked_rows(parked_server):
    env = parked_server.env
    bad = _plant(env, title="fixable", recipient_type="role", recipient_id="student!")
    assert f"notification:{bad}" in _wait_parked(env, f"notification:{bad}")

    # Still broken: a retry says why and leaves it parked.
    still = _doctor(env, "--retry", f"notification:{bad}")
    assert still.returncode == 1 and "still parked" in still.stdout and "role name" in still.stdout
    assert f"notification:{bad}" in _doctor(env).stdout

    # Fixed (as an operator would, in the database): a retry puts it back, and it is published.
    fix = (
        "from clarion.cli.setup import django_setup\n"
        "django_setup()\n"
        "from clarion.notifications.models import Notification\n"
        f"Notification.objects.filter(pk={bad}).update(recipient_id='student')\n"
    )
    import subprocess
    import sys

    assert subprocess.run([sys.executable, "-c", fix], env=env, timeout=60).returncode == 0
    retried = _doctor(env, "--retry", f"notification:{bad}")
    assert retried.returncode == 0 and "back in line" in retried.stdout, retried.stdout + retried.stderr
    deadline = time.monotonic() + 10
    alice = parked_server.token("alice")
    while time.monotonic() < deadline:
        _, page = parked_server.request("GET", "/api/notifications/", token=alice)
        found = [n for n in page["results"] if n["id"] == bad]
        if found and found[0].get("cursor"):
            break
        time.sleep(0.2)
    else:
        pytest.fail("the retried notification was never sequenced")
    assert f"notification:{bad}" not in _doctor(env).stdout

    # Dropped: gone from the list and from the database.
    doomed = _plant(env, title="doomed", recipient_type="role", recipient_id="nobody!")
    assert f"notification:{doomed}" in _wait_parked(env, f"notification:{doomed}")
    dropped = _doctor(env, "--drop", f"notification:{doomed}")
    assert dropped.returncode == 0 and "dropped" in dropped.stdout
    assert f"notification:{doomed}" not in _doctor(env).stdout

    bad_spec = _doctor(env, "--drop", "nonsense")
    assert bad_spec.returncode == 1 and "LOG:ID" in bad_spec.stderr and "Traceback" not in bad_spec.stderr
