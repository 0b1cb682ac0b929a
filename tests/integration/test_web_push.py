"""Web Push end to end (issue 14): a real `clarion serve` posts to a stand-in push service on
loopback, which checks what a real one checks (the VAPID JWT, RFC 8292) and decrypts what only
the browser could (RFC 8291), with keys this test made the way a browser makes them.

In the scale-out pass the planning process and the reader's socket are different processes
(the second server runs without a delivery worker), so "online" has to cross Redis.
"""

import asyncio
import base64
import json
import os
import re
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import http_ece
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tests.conftest import SCALEOUT
from tests.integration.harness import (
    DEMO_PASSWORD, REDIS_URL, ServerProcess, frames_until_quiet, free_port, next_frame, prepare_backend,
    redis_prefix, run_cli,
)

ONLINE_INDEX = redis_prefix("clarion_push") + ":{online}-index"  # the servers fixture's backend

pytestmark = pytest.mark.integration

SITE_URL = "https://clarion.example.edu"


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Browser:
    """A subscription as a browser makes one: its own P-256 key pair and 16-byte auth secret."""

    def __init__(self, endpoint: str):
        self.endpoint = endpoint
        self.private_key = ec.generate_private_key(ec.SECP256R1())
        self.auth = os.urandom(16)

    def to_json(self) -> dict:
        # The shape of Chrome's PushSubscription.toJSON().
        public = self.private_key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        return {"endpoint": self.endpoint, "expirationTime": None, "keys": {"p256dh": b64(public), "auth": b64(self.auth)}}


class PushService:
    """The stand-in: POST /push/<id>. Answers what ``answers[id]`` says (201 by default) once the
    request passes every check; a request that fails one is answered 400 and its problem kept."""

    def __init__(self):
        self.port = free_port()
        self.origin = f"http://127.0.0.1:{self.port}"
        self.browsers: dict[str, Browser] = {}
        self.answers: dict[str, list[int]] = {}  # statuses to answer in turn; the last one repeats
        self.received: list[dict] = []  # {"id", "status", "payload", "claims", "headers"}
        self.problems: list[str] = []
        self.vapid_public_key: str | None = None  # what the server says it signs with
        self._lock = threading.Condition()
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = service.take(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def subscribe(self, name: str) -> Browser:
        browser = Browser(f"{self.origin}/push/{name}")
        self.browsers[name] = browser
        return browser

    def take(self, path: str, headers: dict, body: bytes) -> int:
        match = re.fullmatch(r"/push/([\w-]+)", path)
        name = match.group(1) if match else ""
        try:
            browser = self.browsers[name]
            claims = self.check_vapid(headers.get("authorization", ""))
            assert headers.get("content-encoding") == "aes128gcm", headers.get("content-encoding")
            assert int(headers.get("ttl", "-1")) > 0, "a TTL header"
            plain = http_ece.decrypt(body, private_key=browser.private_key, auth_secret=browser.auth,
                                     version="aes128gcm")
            payload = json.loads(plain)
        except Exception as exc:  # every failure is the test's business: kept and reported
            with self._lock:
                self.problems.append(f"{path}: {type(exc).__name__}: {exc}")
                self._lock.notify_all()
            return 400
        with self._lock:
            planned = self.answers.get(name) or [201]
            status = planned.pop(0) if len(planned) > 1 else planned[0]
        with self._lock:
            self.received.append({"id": name, "status": status, "payload": payload, "claims": claims,
                                  "headers": headers})
            self._lock.notify_all()
        return status

    def check_vapid(self, header: str) -> dict:
        """RFC 8292: ``vapid t=<JWT>, k=<public key>``, an ES256 JWT signed by k, for this origin."""
        match = re.fullmatch(r"vapid t=([\w.-]+),\s*k=([\w-]+)", header)
        assert match, f"not a VAPID Authorization header: {header!r}"
        token, key = match.groups()
        assert key == self.vapid_public_key, "signed with another key than the one browsers subscribed with"
        head, claims, signature = token.split(".")
        assert json.loads(unb64(head)) == {"typ": "JWT", "alg": "ES256"}
        raw = unb64(signature)
        assert len(raw) == 64, "an ES256 signature is r || s, 32 bytes each"
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64(key))
        der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
        try:
            public.verify(der, f"{head}.{claims}".encode(), ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise AssertionError("the JWT's signature does not verify with k") from None
        values = json.loads(unb64(claims))
        assert values["aud"] == self.origin, values
        assert time.time() < values["exp"] <= time.time() + 24 * 3600, values
        assert values.get("sub", "").startswith(("mailto:", "https:")), values
        return values

    def pushes(self, name: str) -> list[dict]:
        with self._lock:
            return [push for push in self.received if push["id"] == name]

    def wait_for(self, name: str, count: int = 1, timeout: float = 10.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                assert not self.problems, self.problems
                got = [push for push in self.received if push["id"] == name]
                if len(got) >= count or time.monotonic() >= deadline:
                    return got
                self._lock.wait(max(0.0, min(0.2, deadline - time.monotonic())))


@pytest.fixture(scope="module")
def push_service():
    service = PushService()
    service.thread.start()
    yield service
    service.httpd.shutdown()
    service.httpd.server_close()


class NoWorkerServer(ServerProcess):
    serve_args = ("--no-worker",)


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    """(planner, other): the first runs the delivery worker; in scale-out the second is another
    process without one, which holds the sockets whose readers must count as online."""
    env = prepare_backend(tmp_path_factory.mktemp("push-data"), "clarion_push")
    for name in ("erin", "frank"):
        result = run_cli(env, "adduser", name, "--role", "student", "--password", DEMO_PASSWORD)
        assert result.returncode == 0, result.stderr
    env.update({"CLARION_SITE_URL": SITE_URL, "CLARION_DELIVERY_INTERVAL": "0.2",
                "CLARION_DELIVERY_RETRY_BASE": "3",
                # The stand-in push service on loopback, besides the browsers' own.
                "CLARION_PUSH_SERVICE_HOSTS": "127.0.0.1,.push.invalid"})
    logs = tmp_path_factory.mktemp("push-logs")
    planner = ServerProcess(env, logs / "planner.log").start()
    other = NoWorkerServer(env, logs / "other.log").start() if SCALEOUT else planner
    try:
        yield planner, other
    finally:
        planner.stop()
        if other is not planner:
            other.stop()


@pytest.fixture(scope="module")
def people(servers, push_service):
    planner, other = servers
    # The first use makes the key pair; both processes at once must still agree on one.
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda server: server.request("GET", "/api/push/vapid-public-key/"), servers))
    assert [status for status, _ in answers] == [200, 200]
    assert answers[0][1] == answers[1][1]
    push_service.vapid_public_key = answers[0][1]["public_key"]
    tokens = {name: planner.token(name) for name in ("alice", "bob", "carol", "dave", "erin", "frank")}
    ids = {name: planner.request("GET", "/api/me/", token=token)[1]["id"] for name, token in tokens.items()}
    return tokens, ids


def _subscribe(server, token, browser: Browser):
    status, body = server.request("POST", "/api/push/subscriptions/", browser.to_json(), token)
    assert status == 201, body
    return body


def _push_row(server, admin_token, notification_id, user_id):
    status, body = server.request("GET", f"/api/notifications/{notification_id}/deliveries/?page_size=100",
                                  token=admin_token)
    assert status == 200, body
    row = next(r for r in body["results"] if r["user"]["id"] == user_id)
    return row["channels"]["push"]


def _wait_for_row(server, admin_token, notification_id, user_id, timeout=10.0):
    """The push row once it is settled (sent, skipped or failed)."""
    deadline = time.monotonic() + timeout
    while True:
        row = _push_row(server, admin_token, notification_id, user_id)
        if (row and row["status"] not in ("pending", "sending")) or time.monotonic() > deadline:
            return row
        time.sleep(0.1)


async def _until_online(user_id, expected: bool, timeout: float = 5.0):
    """In scale-out, wait until Redis says what the other process's socket did (it writes
    without making the connect wait); in embedded mode the count is the process's own."""
    if not SCALEOUT:
        return
    from clarion.realtime import redis_client

    client = redis_client.connect(REDIS_URL, decode_responses=True)
    try:
        deadline = time.monotonic() + timeout
        while True:
            keys = await client.smembers(ONLINE_INDEX)
            found = False
            for key in keys:
                found = found or bool(await client.sismember(key, str(user_id)))
            if found == expected:
                return
            assert time.monotonic() < deadline, f"user {user_id} online={found} in Redis after {timeout} s"
            await asyncio.sleep(0.05)
    finally:
        await client.aclose()


def test_the_public_key_is_a_p256_point_and_every_process_has_the_same(servers, people):
    planner, other = servers
    keys = {server.request("GET", "/api/push/vapid-public-key/")[1]["public_key"] for server in (planner, other)}
    assert len(keys) == 1
    raw = unb64(keys.pop())
    assert len(raw) == 65 and raw[0] == 4
    ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)


def test_a_reader_with_no_socket_open_gets_one_push_with_the_title_and_link_and_its_read_link_works(
        servers, people, push_service):
    planner, _ = servers
    tokens, ids = people
    # Two browsers: one whose subscription the push service no longer knows (404), one that works.
    stale = push_service.subscribe("alice-old-laptop")
    push_service.answers["alice-old-laptop"] = [404]
    _subscribe(planner, tokens["alice"], stale)
    _subscribe(planner, tokens["alice"], push_service.subscribe("alice-phone"))

    created = planner.notify(tokens["dave"], title="Proposal deadline moved", message="Now due on Friday 17:00",
                             recipient_type="user", recipient_id=str(ids["alice"]), link="/projects/7/")
    pushes = push_service.wait_for("alice-phone")
    assert len(pushes) == 1
    data = pushes[0]["payload"]
    assert data["id"] == created["id"]
    assert (data["title"], data["body"]) == ("Proposal deadline moved", "Now due on Friday 17:00")
    assert data["url"] == f"{SITE_URL}/projects/7/" and data["tag"] == f"clarion-{created['id']}"
    row = _wait_for_row(planner, tokens["dave"], created["id"], ids["alice"])
    assert row["status"] == "sent", row
    # The 404 browser was tried once and its subscription deleted; the other one stays.
    assert len(push_service.pushes("alice-old-laptop")) == 1
    assert planner.request("DELETE", "/api/push/subscriptions/", {"endpoint": stale.endpoint}, tokens["alice"])[0] == 404

    # The system notification's click: the token marks it read with no sign-in.
    status, _ = planner.request("POST", "/api/push/read/", {"token": data["read_token"]})
    assert status == 204
    status, item = planner.request("GET", f"/api/notifications/{created['id']}/", token=tokens["alice"])
    assert status == 200 and item["is_read"] is True
    status, body = planner.request("POST", "/api/push/read/", {"token": data["read_token"][:-2] + "xx"})
    assert status == 400 and "token" in body

    time.sleep(1.0)  # several worker rounds: still exactly one push
    assert len(push_service.pushes("alice-phone")) == 1


async def test_a_reader_with_a_socket_open_on_another_process_gets_no_push_until_it_closes(
        servers, people, push_service):
    planner, other = servers
    tokens, ids = people
    _subscribe(planner, tokens["bob"], push_service.subscribe("bob-desktop"))
    ws = await other.socket(tokens["bob"])
    async with ws:
        assert (await next_frame(ws))["type"] == "recent_notifications"
        await _until_online(ids["bob"], True)
        created = planner.notify(tokens["dave"], title="While bob looks", recipient_type="user",
                                 recipient_id=str(ids["bob"]))
        live = [f for f in await frames_until_quiet(ws, 0.5) if f["type"] == "notification"]
        assert [f["data"]["id"] for f in live] == [created["id"]]
        row = _wait_for_row(planner, tokens["dave"], created["id"], ids["bob"])
        assert (row["status"], row["reason"]) == ("skipped", "online"), row
    await _until_online(ids["bob"], False)
    assert push_service.pushes("bob-desktop") == []

    later = planner.notify(tokens["dave"], title="After bob left", recipient_type="user", recipient_id=str(ids["bob"]))
    pushes = push_service.wait_for("bob-desktop")
    assert [p["payload"]["title"] for p in pushes] == ["After bob left"]
    assert _wait_for_row(planner, tokens["dave"], later["id"], ids["bob"])["status"] == "sent"


async def test_a_push_waiting_for_a_retry_is_dropped_when_its_reader_opens_the_app(servers, people, push_service):
    planner, other = servers
    tokens, ids = people
    push_service.answers["bob-desktop"] = [503, 201]
    created = planner.notify(tokens["dave"], title="Retried later", recipient_type="user", recipient_id=str(ids["bob"]))
    before = len(push_service.pushes("bob-desktop"))
    attempts = await asyncio.to_thread(push_service.wait_for, "bob-desktop", before + 1)
    assert attempts[-1]["status"] == 503
    ws = await other.socket(tokens["bob"])  # within the retry's backoff (3 s)
    async with ws:
        assert (await next_frame(ws))["type"] == "recent_notifications"
        await _until_online(ids["bob"], True)
        row = await asyncio.to_thread(_wait_for_row, planner, tokens["dave"], created["id"], ids["bob"])
        assert (row["status"], row["reason"], row["attempts"]) == ("skipped", "online", 2), row
    assert len(push_service.pushes("bob-desktop")) == before + 1
    push_service.answers["bob-desktop"] = [201]


def test_410_from_the_push_service_deletes_the_subscription(servers, people, push_service):
    planner, _ = servers
    tokens, ids = people
    browser = push_service.subscribe("carol-gone")
    push_service.answers["carol-gone"] = [410]
    _subscribe(planner, tokens["carol"], browser)
    created = planner.notify(tokens["dave"], title="For carol", recipient_type="user", recipient_id=str(ids["carol"]))
    assert len(push_service.wait_for("carol-gone")) == 1
    row = _wait_for_row(planner, tokens["dave"], created["id"], ids["carol"])
    assert (row["status"], row["reason"]) == ("skipped", "gone"), row
    status, _ = planner.request("DELETE", "/api/push/subscriptions/", {"endpoint": browser.endpoint}, tokens["carol"])
    assert status == 404
    # With no subscription left, the next one is not even planned as a push.
    again = planner.notify(tokens["dave"], title="For carol again", recipient_type="user",
                           recipient_id=str(ids["carol"]))
    row = _wait_for_row(planner, tokens["dave"], again["id"], ids["carol"])
    assert (row["status"], row["reason"]) == ("skipped", "no_subscription"), row
    assert len(push_service.pushes("carol-gone")) == 1


def test_subscriptions_take_a_chrome_shaped_body_and_refuse_bad_keys_and_plain_http(servers, people, push_service):
    planner, other = servers
    tokens, _ = people
    browser = Browser("https://fcm.push.invalid/fcm/send/dGVzdC1lbmRwb2ludA:APA91bH-example")
    body = browser.to_json()
    assert planner.request("POST", "/api/push/subscriptions/", body)[0] == 401
    status, saved = planner.request("POST", "/api/push/subscriptions/", body, tokens["alice"])
    assert (status, saved) == (201, {"endpoint": browser.endpoint, "created": True})
    # The same browser, now signed in as bob: the subscription moves to him.
    status, saved = other.request("POST", "/api/push/subscriptions/", body, tokens["bob"])
    assert (status, saved["created"]) == (201, False)
    assert planner.request("DELETE", "/api/push/subscriptions/", {"endpoint": browser.endpoint}, tokens["alice"])[0] == 404

    not_on_curve = b64(b"\x04" + bytes(range(64)))
    cases = [
        ({**body, "keys": {**body["keys"], "p256dh": not_on_curve}}, "keys", "p256dh"),
        ({**body, "keys": {**body["keys"], "p256dh": body["keys"]["p256dh"][:40]}}, "keys", "p256dh"),
        ({**body, "keys": {**body["keys"], "auth": b64(os.urandom(8))}}, "keys", "auth"),
        ({**body, "keys": {**body["keys"], "auth": "not base64!"}}, "keys", "auth"),
        ({**body, "endpoint": "http://push.example.com/send/1"}, "endpoint", None),
        ({**body, "endpoint": "ftp://push.example.com/send/1"}, "endpoint", None),
        # Only the listed push services: not a host of the site's own network, not loopback unlisted.
        ({**body, "endpoint": "https://10.0.0.5/push/1"}, "endpoint", None),
        ({**body, "endpoint": "https://intranet.example.edu/admin/reset"}, "endpoint", None),
        ({**body, "endpoint": "http://127.0.0.2:6379/"}, "endpoint", None),
        ({"endpoint": browser.endpoint}, "keys", None),
    ]
    for bad, field, inner in cases:
        status, errors = other.request("POST", "/api/push/subscriptions/", bad, tokens["bob"])
        assert status == 400, (bad, errors)
        assert field in errors, errors
        if inner:
            assert inner in errors[field], errors
    # Plain http is for loopback only (the stand-in here, a developer's own push server).
    local = Browser(f"{push_service.origin}/push/unused")
    assert planner.request("POST", "/api/push/subscriptions/", local.to_json(), tokens["bob"])[0] == 201

    assert other.request("DELETE", "/api/push/subscriptions/", {"endpoint": browser.endpoint}, tokens["bob"])[0] == 204
    assert other.request("DELETE", "/api/push/subscriptions/", {"endpoint": browser.endpoint}, tokens["bob"])[0] == 404
    assert planner.request("DELETE", "/api/push/subscriptions/", {"endpoint": local.endpoint}, tokens["bob"])[0] == 204


def test_a_push_service_that_fails_is_tried_again_and_a_refusal_is_recorded(servers, people, push_service):
    planner, _ = servers
    tokens, ids = people
    # erin's push service is down once (503), then takes the push.
    push_service.answers["erin-laptop"] = [503, 201]
    _subscribe(planner, tokens["erin"], push_service.subscribe("erin-laptop"))
    created = planner.notify(tokens["dave"], title="After a retry", recipient_type="user", recipient_id=str(ids["erin"]))
    pushes = push_service.wait_for("erin-laptop", 2)
    assert [p["status"] for p in pushes] == [503, 201]
    first, second = ({k: v for k, v in p["payload"].items() if k != "read_token"} for p in pushes)
    assert first == second and first["title"] == "After a retry"  # the same push, made afresh
    row = _wait_for_row(planner, tokens["dave"], created["id"], ids["erin"])
    assert (row["status"], row["attempts"]) == ("sent", 2), row

    # frank's refuses it (403: a VAPID key it does not accept): failed at once, with the reason,
    # and the subscription is kept (it is not gone, and an administrator may fix the key).
    frank = push_service.subscribe("frank-laptop")
    push_service.answers["frank-laptop"] = [403]
    _subscribe(planner, tokens["frank"], frank)
    refused = planner.notify(tokens["dave"], title="Refused", recipient_type="user", recipient_id=str(ids["frank"]))
    assert len(push_service.wait_for("frank-laptop")) == 1
    row = _wait_for_row(planner, tokens["dave"], refused["id"], ids["frank"])
    assert (row["status"], row["attempts"]) == ("failed", 1), row
    assert "403" in row["error"] and frank.endpoint not in row["error"]  # the endpoint is a secret of the browser
    assert planner.request("DELETE", "/api/push/subscriptions/", {"endpoint": frank.endpoint}, tokens["frank"])[0] == 204


def test_a_push_is_in_the_readers_language(servers, people, push_service):
    planner, _ = servers
    tokens, ids = people
    status, _ = planner.request("PATCH", "/api/preferences/", {"locale": "th"}, tokens["erin"])
    assert status == 200
    planner.notify(tokens["dave"], recipient_type="user", recipient_id=str(ids["erin"]), template="project.status_changed",
                   category="project_update",
                   params={"project": "Greenhouse", "status": "approved", "old": "draft", "new": "approved"})
    pushes = push_service.wait_for("erin-laptop", 3)
    assert pushes[-1]["payload"]["title"] == "โครงงาน “Greenhouse” อยู่ในสถานะ approved แล้ว"


def test_a_role_notification_is_pushed_to_its_subscribed_readers_and_writes_no_row_for_the_rest(
        servers, people, push_service):
    planner, _ = servers
    tokens, ids = people
    browsers = {"alice": "alice-phone", "bob": "bob-desktop", "erin": "erin-laptop"}
    before = {name: len(push_service.pushes(name)) for name in browsers.values()}
    created = planner.notify(tokens["dave"], title="To every student", recipient_type="role", recipient_id="student")
    for reader, browser in browsers.items():
        got = push_service.wait_for(browser, before[browser] + 1)
        assert [p["payload"]["id"] for p in got[before[browser]:]] == [created["id"]]
        assert _wait_for_row(planner, tokens["dave"], created["id"], ids[reader])["status"] == "sent"
    assert _push_row(planner, tokens["dave"], created["id"], ids["frank"]) is None  # no subscription, no row


@pytest.mark.scaleout
async def test_a_process_writes_its_online_set_again_after_redis_lost_it(servers, people):
    """What a Redis restart does to the online sets: gone. The next refresh puts them back."""
    from clarion.realtime import online, redis_client

    planner, other = servers
    tokens, ids = people
    frank = str(ids["frank"])
    ws = await other.socket(tokens["frank"])
    async with ws:
        assert (await next_frame(ws))["type"] == "recent_notifications"
        await _until_online(ids["frank"], True)
        client = redis_client.connect(REDIS_URL, decode_responses=True)
        try:
            for key in await client.smembers(ONLINE_INDEX):
                if await client.sismember(key, frank):
                    await client.delete(key)
        finally:
            await client.aclose()
        await _until_online(ids["frank"], False, timeout=1)
        await _until_online(ids["frank"], True, timeout=online.REFRESH + 3)


def test_an_hourly_push_digest_is_one_push_listing_what_is_still_unread(servers, people, push_service):
    planner, _ = servers
    tokens, ids = people
    status, prefs = planner.request("PATCH", "/api/preferences/", {"digest": {"push": "hourly"}}, tokens["frank"])
    assert status == 200 and prefs["digest"] == {"email": "off", "push": "hourly"}
    try:
        laptop = push_service.subscribe("frank-digest")
        _subscribe(planner, tokens["frank"], laptop)
        created = [planner.notify(tokens["dave"], title=f"Digest {n}", recipient_type="user",
                                  recipient_id=str(ids["frank"]), category="review") for n in range(3)]
        rows = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(rows) < 3:
            rows = [r for r in (_push_row(planner, tokens["dave"], c["id"], ids["frank"]) for c in created) if r]
            time.sleep(0.1)
        # Held until the next full hour, not pushed one by one.
        assert [r["status"] for r in rows] == ["pending"] * 3 and all(r["due_at"].endswith(":00:00Z") for r in rows)
        assert push_service.pushes("frank-digest") == []
        planner.request("POST", f"/api/notifications/{created[0]['id']}/read/", {}, tokens["frank"])
        # The hour comes (moved in the database, as the clock would): one push for the two still unread.
        result = subprocess.run([sys.executable, "-c", (
            "import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'clarion.server.settings'; django.setup()\n"
            "from django.utils import timezone\nfrom clarion.delivery.models import Delivery\n"
            f"Delivery.objects.filter(notification_id__in={[c['id'] for c in created]}, channel='push')"
            ".update(due_at=timezone.now())")], env=planner.env, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        [push] = push_service.wait_for("frank-digest")
        time.sleep(1.0)
        assert len(push_service.pushes("frank-digest")) == 1
        assert push["payload"]["title"] == "2 unread notifications"
        assert push["payload"]["body"].splitlines() == ["Digest 1", "Digest 2"]
        assert push["payload"]["url"] == SITE_URL + "/" and push["payload"]["read_token"] == ""
        first = _wait_for_row(planner, tokens["dave"], created[0]["id"], ids["frank"])
        assert (first["status"], first["reason"]) == ("skipped", "read")
    finally:
        planner.request("PATCH", "/api/preferences/", {"digest": {"push": "off"}}, tokens["frank"])
