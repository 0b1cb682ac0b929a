"""Email when still unread (issue 14), through a real SMTP server on loopback (aiosmtpd) and
real server processes, on both backends: exactly one mail after the delay with RFC 8058
unsubscribe headers; none when read in time, turned off or muted, and the record says why; a
daily digest of three items as one mail; one-click unsubscribe; a Thai reader's mail in Thai;
SMTP down, then back; a worker SIGKILLed mid-batch; two workers at once; a role of 60.
"""

import json
import signal
import subprocess
import sys
import textwrap
import time
import urllib.parse
import urllib.request
import uuid
from datetime import datetime, timezone

import pytest

from tests.integration.harness import ServerProcess, clarion_command, prepare_backend
from tests.integration.smtp import SmtpServer

pytestmark = pytest.mark.integration

DELAY = 3  # seconds a notification may stay unread before it is mailed (CLARION_EMAIL_UNREAD_AFTER)


def _env(backend_env: dict, smtp: SmtpServer, **more) -> dict:
    return {**backend_env, "CLARION_EMAIL_URL": smtp.url, "CLARION_EMAIL_UNREAD_AFTER": str(DELAY),
            "CLARION_DELIVERY_INTERVAL": "0.2", "CLARION_DELIVERY_RETRY_BASE": "0.5",
            "CLARION_SITE_URL": "https://projects.example.edu", **more}


def run_python(env: dict, code: str) -> str:
    """Run ``code`` with Django set up on the servers' backend (what a host project's code does)."""
    script = "import django, os\nos.environ['DJANGO_SETTINGS_MODULE'] = 'clarion.server.settings'\ndjango.setup()\n"
    result = subprocess.run([sys.executable, "-c", script + textwrap.dedent(code)], env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def smtp():
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def site(tmp_path_factory, smtp):
    env = _env(prepare_backend(tmp_path_factory.mktemp("email-data"), "clarion_email"), smtp)
    server = ServerProcess(env, tmp_path_factory.mktemp("email-logs") / "server.log").start()
    tokens = {name: server.token(name) for name in ("alice", "bob", "carol", "dave")}
    try:
        yield server, tokens
    finally:
        server.stop()


def _title(label: str) -> str:
    return f"{label} {uuid.uuid4().hex[:8]}"


def _deliveries(server, token, notification_id) -> dict:
    status, body = server.request("GET", f"/api/notifications/{notification_id}/deliveries/", token=token)
    assert status == 200, body
    return body


def _email_state(server, token, notification_id, username) -> dict | None:
    rows = _deliveries(server, token, notification_id)["results"]
    return next(r for r in rows if r["user"]["username"] == username)["channels"]["email"]


def _wait_state(server, token, notification_id, username, timeout=15.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = _email_state(server, token, notification_id, username)
        if state is not None and state["status"] not in ("pending", "sending"):
            return state
        time.sleep(0.2)
    return _email_state(server, token, notification_id, username)


def test_unread_after_the_delay_gives_exactly_one_mail_with_one_click_unsubscribe_headers(site, smtp):
    server, tokens = site
    title = _title("Unread review")
    created = server.notify(tokens["dave"], recipient_type="user", recipient_id=_id(server, tokens["alice"]),
                            title=title, message="Your proposal got a review.", category="review",
                            link="/projects/1/")
    time.sleep(DELAY - 1)
    assert smtp.mailbox.with_subject(title) == [], "mailed before its delay"
    mails = smtp.mailbox.wait_for(title)
    time.sleep(1.0)
    mails = smtp.mailbox.with_subject(title)
    assert len(mails) == 1
    mail = mails[0]
    assert mail["To"] == "alice@example.edu"
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe = mail["List-Unsubscribe"].strip().strip("<>")
    assert unsubscribe.startswith("https://projects.example.edu/api/unsubscribe/")
    text = mail.get_body(("plain",)).get_content()
    assert "Your proposal got a review." in text and "https://projects.example.edu/projects/1/" in text
    assert mail.get_body(("html",)) is not None
    state = _wait_state(server, tokens["dave"], created["id"], "alice")
    assert state["status"] == "sent" and state["attempts"] == 1 and state["sent_at"]
    request = urllib.request.Request(server.url + "/metrics", headers=server.metrics_headers())
    with urllib.request.urlopen(request, timeout=10) as response:
        metrics = response.read().decode()
    sent = [line for line in metrics.splitlines() if line.startswith("clarion_deliveries_sent_total ")]
    assert sent and float(sent[0].split()[1]) >= 1


def test_read_in_time_gives_no_mail_and_the_record_says_why(site, smtp):
    server, tokens = site
    title = _title("Read in time")
    created = server.notify(tokens["dave"], recipient_type="user", recipient_id=_id(server, tokens["bob"]),
                            title=title, category="review")
    status, _ = server.request("POST", f"/api/notifications/{created['id']}/read/", {}, tokens["bob"])
    assert status == 200
    state = _wait_state(server, tokens["dave"], created["id"], "bob", timeout=DELAY + 10)
    assert state["status"] == "skipped" and state["reason"] == "read"
    assert smtp.mailbox.with_subject(title) == []


def test_email_turned_off_or_topic_muted_gives_no_mail(site, smtp):
    server, tokens = site
    alice = _id(server, tokens["alice"])
    status, _ = server.request("PATCH", "/api/preferences/", {"categories": {"comment": {"email": False}}},
                               tokens["alice"])
    assert status == 200
    status, _ = server.request("POST", "/api/mutes/", {"topic": "project:77"}, tokens["alice"])
    assert status == 201
    try:
        off = server.notify(tokens["dave"], recipient_type="user", recipient_id=alice, title=_title("Off"),
                            category="comment")
        muted = server.notify(tokens["dave"], recipient_type="user", recipient_id=alice, title=_title("Muted"),
                              category="submission", topic="project:77")
        assert _wait_state(server, tokens["dave"], off["id"], "alice", DELAY + 10)["reason"] == "preference_off"
        assert _wait_state(server, tokens["dave"], muted["id"], "alice", DELAY + 10)["reason"] == "muted"
        assert smtp.mailbox.with_subject(off["title"]) == [] and smtp.mailbox.with_subject(muted["title"]) == []
    finally:
        server.request("PATCH", "/api/preferences/", {"categories": {"comment": {"email": True}}}, tokens["alice"])
        server.request("DELETE", "/api/mutes/project:77/", None, tokens["alice"])


def test_three_items_in_daily_digest_mode_make_one_mail_at_the_readers_hour(site, smtp):
    server, tokens = site
    status, prefs = server.request("PATCH", "/api/preferences/", {"digest": {"email": "daily"}, "digest_hour": 7,
                                                                  "time_zone": "Asia/Bangkok"}, tokens["carol"])
    assert status == 200 and prefs["digest"]["email"] == "daily" and prefs["time_zone"] == "Asia/Bangkok"
    carol = _id(server, tokens["carol"])
    titles = [_title(f"Digest item {n}") for n in range(3)]
    ids = [server.notify(tokens["dave"], recipient_type="user", recipient_id=carol, title=t, category="review")["id"]
           for t in titles]
    held = [_wait_due(server, tokens["dave"], i, "carol") for i in ids]
    # Held until 07:00 in Bangkok (00:00 UTC), not sent at once.
    for state in held:
        due = datetime.fromisoformat(state["due_at"].replace("Z", "+00:00"))
        assert due > datetime.now(timezone.utc) and (due.hour, due.minute) == (0, 0)
    assert all(smtp.mailbox.with_subject(t) == [] for t in titles)
    # The clock reaches 07:00 in Bangkok: the held rows fall due (moved in the database, as time would).
    run_python(server.env, f"""
        from django.utils import timezone
        from clarion.delivery.models import Delivery
        Delivery.objects.filter(notification_id__in={ids}, channel="email").update(due_at=timezone.now())
    """)
    digest = smtp.mailbox.wait_for("3 unread notifications")
    time.sleep(1.0)
    digest = [m for m in smtp.mailbox.with_subject("3 unread notifications") if m["To"] == "carol@example.edu"]
    assert len(digest) == 1
    text = digest[0].get_body(("plain",)).get_content()
    assert all(t in text for t in titles)
    assert all(_email_state(server, tokens["dave"], i, "carol")["status"] == "sent" for i in ids)
    server.request("PATCH", "/api/preferences/", {"digest": {"email": "off"}}, tokens["carol"])


def _wait_due(server, token, notification_id, username, timeout=DELAY + 10) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = _email_state(server, token, notification_id, username)
        if state is not None:
            return state
        time.sleep(0.2)
    raise AssertionError("no delivery row was made")


def test_the_one_click_unsubscribe_turns_that_categorys_email_off(site, smtp):
    server, tokens = site
    title = _title("Unsubscribe me")
    server.notify(tokens["dave"], recipient_type="user", recipient_id=_id(server, tokens["bob"]), title=title,
                  category="project_update")
    [mail] = smtp.mailbox.wait_for(title)
    link = mail["List-Unsubscribe"].strip().strip("<>").replace("https://projects.example.edu", server.url)
    # A link scanner's GET changes nothing.
    with urllib.request.urlopen(link, timeout=10) as page:
        assert page.status == 200 and b"Unsubscribe" in page.read()
    assert _channel(server, tokens["bob"], "project_update", "email") is True
    # The mail provider's one-click POST (RFC 8058), without any sign-in or CSRF token.
    request = urllib.request.Request(link, data=b"List-Unsubscribe=One-Click", method="POST",
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    with urllib.request.urlopen(request, timeout=10) as page:
        assert page.status == 200
    assert _channel(server, tokens["bob"], "project_update", "email") is False
    # A forged token is refused.
    forged = link.rsplit("/", 2)[0] + "/" + urllib.parse.quote("eyJ1IjoiMSJ9:forged:sig") + "/"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(urllib.request.Request(forged, data=b"List-Unsubscribe=One-Click", method="POST"))
    assert refused.value.code == 400
    server.request("PATCH", "/api/preferences/", {"categories": {"project_update": {"email": True}}}, tokens["bob"])


def _channel(server, token, category, channel) -> bool:
    status, prefs = server.request("GET", "/api/preferences/", token=token)
    assert status == 200
    return next(c for c in prefs["categories"] if c["key"] == category)["channels"][channel]


def test_a_thai_readers_mail_is_in_thai(site, smtp):
    server, tokens = site
    status, _ = server.request("PATCH", "/api/preferences/", {"locale": "th"}, tokens["bob"])
    assert status == 200
    try:
        project = _title("Greenhouse")
        server.notify(tokens["dave"], recipient_type="user", recipient_id=_id(server, tokens["bob"]),
                      template="project.status_changed", category="project_update",
                      params={"project": project, "status": "approved", "old": "draft", "new": "approved"})
        subject = f"โครงงาน “{project}” อยู่ในสถานะ approved แล้ว"
        mails = smtp.mailbox.wait_for(subject)
        assert len(mails) == 1, [m["Subject"] for m in smtp.mailbox.messages if m["To"] == "bob@example.edu"]
        text = mails[0].get_body(("plain",)).get_content()
        assert "เปิดดู:" in text and "คุณได้รับอีเมลนี้เพราะยังไม่ได้อ่านการแจ้งเตือนนี้" in text
    finally:
        server.request("PATCH", "/api/preferences/", {"locale": ""}, tokens["bob"])


def test_smtp_down_is_retried_and_the_mail_goes_once_it_is_back(tmp_path_factory):
    smtp = SmtpServer()  # not listening yet
    env = _env(prepare_backend(tmp_path_factory.mktemp("smtp-down-data"), "clarion_smtp_down"), smtp)
    server = ServerProcess(env, tmp_path_factory.mktemp("smtp-down-logs") / "server.log").start()
    try:
        dave = server.token("dave")
        title = _title("While down")
        created = server.notify(dave, recipient_type="user", recipient_id=_id(server, server.token("alice")),
                                title=title, category="deadline")
        deadline = time.monotonic() + 20
        state = None
        while time.monotonic() < deadline:
            state = _email_state(server, dave, created["id"], "alice")
            if state and state["attempts"] >= 2:
                break
            time.sleep(0.2)
        assert state["status"] in ("pending", "sending") and state["attempts"] >= 2 and state["error"]
        smtp.start()
        try:
            assert len(smtp.mailbox.wait_for(title, timeout=30)) == 1
            state = _wait_state(server, dave, created["id"], "alice")
            assert state["status"] == "sent" and state["error"] == ""
            time.sleep(1.0)
            assert len(smtp.mailbox.with_subject(title)) == 1
        finally:
            smtp.stop()
    finally:
        server.stop()


def _id(server, token) -> int:
    return server.request("GET", "/api/me/", token=token)[1]["id"]


# -- workers on their own ------------------------------------------------------------------------

class _Worker:
    def __init__(self, env, log_path):
        self.log = open(log_path, "a")
        self.process = subprocess.Popen(clarion_command("worker"), env=env, stdout=self.log,
                                        stderr=subprocess.STDOUT)

    def kill(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()


@pytest.fixture
def apart(tmp_path_factory):
    """A server without a worker (`serve --no-worker`), its SMTP server, and a short lease so that
    a killed worker's claim lapses within the test's patience."""
    smtp = SmtpServer().start()
    env = _env(prepare_backend(tmp_path_factory.mktemp("apart-data"), "clarion_apart"), smtp,
               CLARION_DELIVERY_LEASE="3", CLARION_DELIVERY_WORKER="0")
    server = ServerProcess(env, tmp_path_factory.mktemp("apart-logs") / "server.log").start()
    try:
        yield server, smtp, tmp_path_factory.mktemp("worker-logs")
    finally:
        server.stop()
        smtp.stop()


def _many_deadlines(server, count, label) -> list[str]:
    dave = server.token("dave")
    alice = _id(server, server.token("alice"))
    titles = [f"{label} {n:03d} {uuid.uuid4().hex[:6]}" for n in range(count)]
    status, body = server.request("POST", "/api/notifications/bulk/", {"notifications": [
        {"recipient_type": "user", "recipient_id": alice, "title": t, "category": "deadline"} for t in titles]}, dave)
    assert status == 201, body
    return titles


def test_a_worker_killed_mid_batch_loses_nothing_and_duplicates_nothing(apart):
    server, smtp, logs = apart
    titles = _many_deadlines(server, 30, "Kill")
    smtp.mailbox.hold_at = smtp.mailbox.rcpts + 10  # the 10th mail of the batch stalls at RCPT
    first = _Worker(server.env, logs / "first.log")
    try:
        assert smtp.mailbox.holding.wait(30), "the worker never reached the 10th mail"
        first.kill()  # SIGKILL mid-batch: 9 sent and recorded, the 10th in flight, 20 claimed and untouched
        smtp.mailbox.released.set()
    finally:
        first.stop()
    second = _Worker(server.env, logs / "second.log")
    try:
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and not all(smtp.mailbox.with_subject(t) for t in titles):
            time.sleep(0.2)
        time.sleep(1.5)
    finally:
        second.stop()
    counts = {t: len(smtp.mailbox.with_subject(t)) for t in titles}
    assert counts == {t: 1 for t in titles}


@pytest.mark.scaleout
def test_two_workers_on_postgresql_never_send_one_row_twice(apart):
    server, smtp, logs = apart
    titles = _many_deadlines(server, 200, "Pair")
    workers = [_Worker(server.env, logs / f"pair-{n}.log") for n in range(2)]
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not all(smtp.mailbox.with_subject(t) for t in titles):
            time.sleep(0.2)
        time.sleep(1.5)
    finally:
        for worker in workers:
            worker.stop()
    counts = {t: len(smtp.mailbox.with_subject(t)) for t in titles}
    assert counts == {t: 1 for t in titles}
    # Both took part (each claims its own rows with SKIP LOCKED).
    logs_text = [(logs / f"pair-{n}.log").read_text() for n in range(2)]
    assert all("running" in text for text in logs_text)


def test_a_role_notification_to_60_students_40_of_whom_read_in_time_gives_exactly_20_mails(site, smtp):
    server, tokens = site
    title = _title("Sixty")
    out = run_python(server.env, f"""
        from django.contrib.auth import get_user_model
        from clarion.notifications import services
        from clarion.roles import set_role
        User = get_user_model()
        students = []
        for n in range(60):
            user, _ = User.objects.get_or_create(username=f"s{{n:02d}}", defaults={{"email": f"s{{n:02d}}@example.edu"}})
            set_role(user, "student")
            students.append(user)
        others = list(User.objects.filter(clarion_role__role="student").exclude(pk__in=[u.pk for u in students]))
        created = services.send_notification_to_role("student", {title!r}, "Submit by Friday.", category="review")
        for user in students[:40] + others:  # read in time (within the delay); 20 are not
            services.mark_as_read(user.pk, "student", [created.pk])
        print(created.pk)
    """)
    notification_id = int(out.strip().splitlines()[-1])
    mails = smtp.mailbox.wait_for(title, count=20, timeout=DELAY + 20)
    time.sleep(2.0)
    mails = smtp.mailbox.with_subject(title)
    assert len(mails) == 20
    assert sorted(m["To"] for m in mails) == [f"s{n:02d}@example.edu" for n in range(40, 60)]
    report = _deliveries(server, tokens["dave"], notification_id)
    assert report["totals"]["emailed"] == 20 and report["totals"]["read"] >= 40
    assert report["summary"].startswith(f"{report['totals']['read']} of {report['totals']['audience']} students read")
    # No delivery rows for the readers who read in time: the one-row rule.
    count = run_python(server.env, f"""
        from clarion.delivery.models import Delivery
        print(Delivery.objects.filter(notification_id={notification_id}, channel="email").count())
    """)
    assert int(count.strip().splitlines()[-1]) == 20
    assert json.dumps(report)  # the endpoint answered a JSON document


def test_a_server_stopped_while_planning_a_bulk_exits_promptly_and_the_next_plans_the_rest_once(
        tmp_path_factory, smtp):
    """SIGTERM while the worker plans 1,000 notifications: the server exits within seconds (it
    used to finish the whole round first, 15 s and a kill under load), and the server started
    after it plans every one of them, once."""
    # Mail only after an hour: this is about planning, not 1,000 mails to the sink.
    env = _env(prepare_backend(tmp_path_factory.mktemp("stop-data"), "clarion_stop_planning"), smtp,
               CLARION_EMAIL_UNREAD_AFTER="3600")
    logs = tmp_path_factory.mktemp("stop-logs")
    server = ServerProcess(env, logs / "server.log").start()
    try:
        dave, alice = server.token("dave"), _id(server, server.token("alice"))
        prefix = _title("Stop")
        status, body = server.request("POST", "/api/notifications/bulk/", {"notifications": [
            {"recipient_type": "user", "recipient_id": alice, "title": f"{prefix} {n:04d}"} for n in range(1000)]},
            dave)
        assert status == 201, body
        time.sleep(0.3)  # the worker's next round (every 0.2 s here) is planning them
        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        server.process.wait(15)
        stopped_in = time.monotonic() - started
    finally:
        server.stop()
    assert stopped_in < 5, f"the server took {stopped_in:.1f} s to stop"

    count_rows = f"""
        from clarion.delivery.models import Delivery
        rows = Delivery.objects.filter(channel="push", notification__title__startswith={prefix!r})
        print(rows.count(), rows.values("notification_id").distinct().count())
    """
    restarted = ServerProcess(env, logs / "server-2.log", port=server.port).start()
    try:
        deadline = time.monotonic() + 60
        while (counts := run_python(env, count_rows).split()) != ["1000", "1000"] and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        restarted.stop()
    assert counts == ["1000", "1000"]  # a push row for each (alice has no subscription), none twice
