"""Bulk creates and idempotency keys against real processes: live delivery, and one row for
two concurrent requests with one key (on SQLite and on PostgreSQL alike)."""

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.integration.harness import frames_until_quiet, next_frame, prepare_backend

pytestmark = pytest.mark.integration


def post(server, path, body, token, key=None):
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    request = urllib.request.Request(server.url + path, data=json.dumps(body).encode(), headers=headers,
                                     method="POST")
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def user_id(server, token):
    return str(server.request("GET", "/api/me/", token=token)[1]["id"])


async def test_a_bulk_to_two_users_reaches_both_live_in_order(server, tokens):
    alice, bob = user_id(server, tokens["alice"]), user_id(server, tokens["bob"])
    async with server.socket(tokens["alice"]) as alice_ws, server.socket(tokens["bob"]) as bob_ws:
        for ws in (alice_ws, bob_ws):
            assert (await next_frame(ws))["type"] == "recent_notifications"
            await frames_until_quiet(ws, 0.3)
        entries = [{"title": f"bulk {i}", "recipient_type": "user", "recipient_id": (alice, bob)[i % 2]}
                   for i in range(6)]
        status, created = post(server, "/api/notifications/bulk/", {"notifications": entries}, tokens["dave"])
        assert status == 201 and len(created["ids"]) == 6
        for ws, mine in ((alice_ws, [0, 2, 4]), (bob_ws, [1, 3, 5])):
            frames = [await next_frame(ws) for _ in mine]
            assert [f["data"]["title"] for f in frames] == [f"bulk {i}" for i in mine]
            assert [f["data"]["id"] for f in frames] == [created["ids"][i] for i in mine]
            assert [f for f in await frames_until_quiet(ws, 0.5) if f["type"] == "notification"] == []


def test_parallel_retries_with_one_key_create_one_notification(server, tokens):
    carol = user_id(server, tokens["carol"])
    body = {"title": "exactly once", "recipient_type": "user", "recipient_id": carol}
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda _: post(server, "/api/notifications/", body, tokens["dave"], "parallel-1"),
                                range(6)))
    assert {status for status, _ in answers} == {201}
    assert len({json.dumps(answer, sort_keys=True) for _, answer in answers}) == 1
    _, listed = server.request("GET", "/api/notifications/?page_size=100", token=tokens["carol"])
    assert [n["title"] for n in listed["results"]].count("exactly once") == 1


# Two processes call the Python API with one key at the same moment. The first to claim the
# key holds its transaction open for a second before storing its answer, so the second one's
# claim must wait on it, then replay it.
TWIN = """
import os, sys, time
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clarion.server.settings")
import django
django.setup()
from django.contrib.auth import get_user_model
import clarion
from clarion.notifications import idempotency
from clarion.notifications.models import Notification

original = idempotency.record
def slow_record(*args):
    time.sleep(1.0)
    original(*args)
idempotency.record = slow_record
users = get_user_model().objects
alice, dave = users.get(username="alice"), users.get(username="dave")
time.sleep(max(0.0, float(sys.argv[1]) - time.time()))
started = time.monotonic()
row = clarion.send_notification_to_user(alice, "twin", idempotency_key="twin-key", created_by=dave)
print(json.dumps({"id": row.pk, "took": time.monotonic() - started,
                  "rows": Notification.objects.filter(title="twin").count()}))
""".replace("import os, sys, time", "import json, os, sys, time")


def test_two_concurrent_python_calls_with_one_key_store_one_row(tmp_path_factory):
    env = prepare_backend(tmp_path_factory.mktemp("bulk-data"), "clarion_bulk")
    start = time.time() + 4  # both processes set up Django first, then go at once
    twins = [subprocess.Popen([sys.executable, "-c", TWIN, str(start)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = []
    for twin in twins:
        out, err = twin.communicate(timeout=60)
        assert twin.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert results[0]["id"] == results[1]["id"]
    assert [r["rows"] for r in results] == [1, 1]
    # Both took the held second: the one that claimed slept in it, the other waited for it.
    assert min(r["took"] for r in results) >= 0.8, results
