"""The delivery layer without sockets: when rows are made and for whom, digests and quiet hours
in the reader's zone, claims that never overlap, retries, the unsubscribe link, the sender's view.
(Real SMTP and real processes: tests/integration/test_email_delivery.py.)"""

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

import clarion
from clarion.delivery import claims, planner, unsubscribe, worker
from clarion.notifications import schedule
from clarion.delivery.models import Delivery
from clarion.notifications.models import Receipt
from clarion.notifications import preferences, services
from clarion.notifications.models import Preferences
from clarion.realtime import runtime
from clarion.server.email_url import email_settings

pytestmark = pytest.mark.django_db(transaction=True)

SETTINGS = {"EMAIL_UNREAD_AFTER": 600, "SITE_URL": "https://site.example", "DELIVERY_RETRY_BASE": 30}


@pytest.fixture(autouse=True)
def serving(settings):
    runtime.mark_serving()  # rows are sequenced as they commit, as in a server
    settings.CLARION = {**settings.CLARION, **SETTINGS}


@pytest.fixture
def cast(people):
    for name, user in people.items():
        user.email = f"{name}@example.edu"
        user.save()
    return people


def _later(seconds):
    return datetime.now(timezone.utc) + timedelta(seconds=seconds)


def _email(notification, user):
    return Delivery.objects.filter(notification=notification, user=user, channel="email").first()


def test_nothing_is_planned_before_the_categorys_delay_then_one_row_and_one_mail(cast):
    alice = cast["alice"]
    note = clarion.send_notification_to_user(alice, "Reviewed", category="review")
    worker.run_round()
    assert _email(note, alice) is None and mail.outbox == []
    worker.run_round(_later(601))
    row = _email(note, alice)
    assert row.status == "sent" and row.attempts == 1
    [sent] = mail.outbox
    assert sent.to == ["alice@example.edu"] and sent.subject == "Reviewed"
    assert sent.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert sent.extra_headers["List-Unsubscribe"].startswith("<https://site.example/api/unsubscribe/")
    worker.run_round(_later(700))
    assert len(mail.outbox) == 1  # never twice


def test_a_deadline_is_mailed_at_once_and_a_category_may_set_its_own_delay(cast, settings):
    alice = cast["alice"]
    deadline = clarion.send_notification_to_user(alice, "Due", category="deadline")
    worker.run_round()
    assert _email(deadline, alice).status == "sent"
    categories = {**settings.CLARION.get("CATEGORIES", clarion.conf.DEFAULTS["CATEGORIES"])}
    categories["comment"] = {**categories["comment"], "email_delay": 5}
    settings.CLARION = {**settings.CLARION, "CATEGORIES": categories}
    comment = clarion.send_notification_to_user(alice, "Comment", category="comment")
    worker.run_round(_later(6))
    assert _email(comment, alice).status == "sent"


def test_read_in_time_writes_a_skipped_row_for_one_reader_and_none_for_a_roles_readers(cast):
    alice, bob = cast["alice"], cast["bob"]
    mine = clarion.send_notification_to_user(alice, "Mine", category="review")
    everyone = clarion.send_notification_to_role("student", "Students", category="review")
    services.mark_as_read(alice.pk, "student", [mine.pk, everyone.pk])
    worker.run_round(_later(601))
    assert (_email(mine, alice).status, _email(mine, alice).reason) == ("skipped", "read")
    assert _email(everyone, alice) is None  # the one-row rule: no row for a reader who read it
    assert _email(everyone, bob).status == "sent"
    assert [m.to for m in mail.outbox] == [["bob@example.edu"]]


def test_mark_all_as_read_and_archive_count_as_read_in_time(cast):
    alice = cast["alice"]
    first = clarion.send_notification_to_user(alice, "One", category="review")
    second = clarion.send_notification_to_user(alice, "Two", category="review")
    services.mark_all_as_read(alice.pk, "student")
    third = clarion.send_notification_to_user(alice, "Three", category="review")
    from clarion.notifications import inbox
    inbox.change(alice.pk, "student", inbox.ARCHIVED, [third.pk])
    worker.run_round(_later(601))
    assert {_email(n, alice).reason for n in (first, second, third)} == {"read"}
    assert mail.outbox == []


def test_turned_off_muted_snoozed_and_no_address_are_skipped_with_their_reason(cast):
    alice, bob, carol = cast["alice"], cast["bob"], cast["carol"]
    preferences.update(alice.pk, "student", {"categories": {"comment": {"email": False}}})
    preferences.mute(bob.pk, "student", "project:9")
    carol.email = ""
    carol.save()
    off = clarion.send_notification_to_user(alice, "Off", category="comment")
    muted = clarion.send_notification_to_user(bob, "Muted", category="comment", topic="project:9")
    nowhere = clarion.send_notification_to_user(carol, "Nowhere", category="comment")
    snoozed = clarion.send_notification_to_user(bob, "Later", category="comment")
    from clarion.notifications import inbox
    inbox.change(bob.pk, "student", inbox.SNOOZED, [snoozed.pk], until=_later(7200))
    worker.run_round(_later(601))
    assert _email(off, alice).reason == "preference_off"
    assert _email(muted, bob).reason == "muted"
    assert _email(nowhere, carol).reason == "no_address"
    assert _email(snoozed, bob).reason == "snoozed"
    assert mail.outbox == []


def test_a_locked_category_reaches_a_reader_who_muted_its_topic(cast):
    bob = cast["bob"]
    preferences.mute(bob.pk, "student", "project:9")
    due = clarion.send_notification_to_user(bob, "Due", category="deadline", topic="project:9")
    worker.run_round()
    assert _email(due, bob).status == "sent"


def test_a_row_held_for_a_digest_is_checked_again_at_its_time(cast):
    bob = cast["bob"]
    preferences.update(bob.pk, "student", {"digest": {"email": "hourly"}})
    first = clarion.send_notification_to_user(bob, "First", category="review")
    second = clarion.send_notification_to_user(bob, "Second", category="review")
    worker.run_round(_later(601))
    rows = [_email(first, bob), _email(second, bob)]
    assert all(r.status == "pending" and r.digest for r in rows)
    assert rows[0].due_at.minute == 0 and rows[0].due_at > datetime.now(timezone.utc)
    services.mark_as_read(bob.pk, "student", [first.pk])
    worker.run_round(rows[0].due_at + timedelta(seconds=1))
    assert _email(first, bob).reason == "read" and _email(second, bob).status == "sent"
    [digest] = mail.outbox
    assert digest.subject == "1 unread notification" and "Second" in digest.body and "First" not in digest.body


def test_digest_times_are_the_readers_hour_in_their_zone_across_a_dst_change():
    now = datetime(2026, 3, 7, 14, 0, tzinfo=timezone.utc)  # 09:00 in New York, which moves to summer time on 8 March
    due = schedule.next_digest("daily", 8, "America/New_York", now)
    assert due.astimezone(ZoneInfo("America/New_York")).hour == 8 and due.date().day == 8
    assert due == datetime(2026, 3, 8, 12, 0, tzinfo=timezone.utc)  # 08:00 EDT is 12:00 UTC
    assert schedule.next_digest("hourly", 0, "", now) == datetime(2026, 3, 7, 15, 0, tzinfo=timezone.utc)


def test_quiet_hours_hold_unlocked_mail_until_they_end_in_the_readers_zone(cast):
    bangkok = ZoneInfo("Asia/Bangkok")
    night = datetime(2026, 12, 4, 23, 30, tzinfo=bangkok)
    quiet = {"from": "22:00", "to": "07:00"}
    assert schedule.quiet_until(quiet, "Asia/Bangkok", night) == datetime(2026, 12, 5, 7, 0, tzinfo=bangkok)
    assert schedule.quiet_until(quiet, "Asia/Bangkok", night.replace(hour=12)) is None
    early = datetime(2026, 12, 5, 6, 0, tzinfo=bangkok)
    assert schedule.quiet_until(quiet, "Asia/Bangkok", early) == datetime(2026, 12, 5, 7, 0, tzinfo=bangkok)
    alice = cast["alice"]
    preferences.update(alice.pk, "student", {"quiet_hours": {"from": "00:00", "to": "23:59"}, "time_zone": "UTC"})
    held = clarion.send_notification_to_user(alice, "Held", category="review")
    due = clarion.send_notification_to_user(alice, "Due now", category="deadline")
    worker.run_round(_later(601))
    assert _email(held, alice).status == "pending" and _email(held, alice).due_at.hour == 23
    assert _email(due, alice).status == "sent"  # a locked category keeps no quiet hours


def test_preferences_refuse_bad_delivery_settings_with_field_errors(cast):
    from django.core.exceptions import ValidationError

    alice = cast["alice"]
    with pytest.raises(ValidationError) as refused:
        preferences.update(alice.pk, "student", {"digest": {"email": "weekly", "sms": "daily"}, "digest_hour": 24,
                                                 "time_zone": "Mars/Olympus", "quiet_hours": {"from": "25:00",
                                                                                              "to": "07:00"}})
    assert set(refused.value.message_dict) == {"digest.email", "digest.sms", "digest_hour", "time_zone",
                                               "quiet_hours.from"}
    document = preferences.update(alice.pk, "student", {"digest": {"email": "daily"}, "digest_hour": 7,
                                                        "time_zone": "Asia/Bangkok",
                                                        "quiet_hours": {"from": "22:00", "to": "07:00"}})
    assert (document["digest"], document["digest_hour"], document["time_zone"], document["quiet_hours"]) == (
        {"email": "daily", "push": "off"}, 7, "Asia/Bangkok", {"from": "22:00", "to": "07:00"})


class _FlakySMTP:
    """An email backend whose server is down for the first ``down`` sends."""

    down = 0
    sent: list = []

    def __init__(self, **kwargs):
        pass

    def open(self):
        return True

    def close(self):
        pass

    def send_messages(self, messages):
        if _FlakySMTP.down > 0:
            _FlakySMTP.down -= 1
            raise ConnectionRefusedError(111, "Connection refused")
        _FlakySMTP.sent.extend(messages)
        return len(messages)


def test_a_failure_is_retried_with_backoff_then_failed_after_the_last_attempt(cast, settings):
    settings.EMAIL_BACKEND = f"{__name__}._FlakySMTP"
    settings.CLARION = {**settings.CLARION, "DELIVERY_MAX_ATTEMPTS": 3}
    _FlakySMTP.down, _FlakySMTP.sent = 1, []
    alice, bob = cast["alice"], cast["bob"]
    once = clarion.send_notification_to_user(alice, "Once", category="deadline")
    worker.run_round()
    row = _email(once, alice)
    assert row.status == "pending" and row.attempts == 1 and "Connection refused" in row.error
    assert 29 <= (row.due_at - datetime.now(timezone.utc)).total_seconds() <= 31  # RETRY_BASE
    worker.run_round(_later(31))
    assert _email(once, alice).status == "sent" and len(_FlakySMTP.sent) == 1

    _FlakySMTP.down = 99
    never = clarion.send_notification_to_user(bob, "Never", category="deadline")
    for seconds in (0, 31, 92, 300):
        worker.run_round(_later(seconds))
    row = _email(never, bob)
    assert row.status == "failed" and row.attempts == 3 and row.error
    assert claims.backoff(1) == 30 and claims.backoff(2) == 60 and claims.backoff(40) == 3600


def test_two_claims_never_share_a_row_and_a_lapsed_claim_records_nothing(cast):
    alice = cast["alice"]
    for n in range(5):
        clarion.send_notification_to_user(alice, f"n{n}", category="deadline")
    planner.plan()
    now = datetime.now(timezone.utc)
    first_token, _, first = claims.claim(now, 3)
    second_token, _, second = claims.claim(now, 10)
    assert len(first) == 3 and len(second) == 2 and not set(first) & set(second)
    # The first worker stalls past its lease; a third claims its rows; the first's record is refused.
    third_token, _, third = claims.claim(now + timedelta(seconds=61), 10)
    assert set(first) <= set(third)
    assert claims.record(first_token, first, "sent", now) == 0
    assert claims.record(third_token, first, "sent", now) == 3


def test_the_unsubscribe_token_names_one_reader_and_category_and_cannot_be_forged(cast):
    bob = cast["bob"]
    token = unsubscribe.token(bob.pk, "comment")
    assert unsubscribe.read(token) == (str(bob.pk), "comment")
    assert unsubscribe.read(token[:-2] + "xx") is None
    assert unsubscribe.turn_off(bob.pk, "comment") == ["comment"]
    assert Preferences.objects.get(user=bob).channels["comment"]["email"] is False
    assert unsubscribe.turn_off(bob.pk, "deadline") == []  # locked: stays on
    assert set(unsubscribe.turn_off(bob.pk, unsubscribe.ALL_CATEGORIES)) >= {"review", "submission"}


def test_the_sender_and_administrators_see_deliveries_and_others_do_not(cast, client):
    from rest_framework.test import APIClient

    alice, dave, carol = cast["alice"], cast["dave"], cast["carol"]
    note = clarion.send_notification_to_role("student", "For students", category="deadline", created_by=dave)
    worker.run_round()
    services.mark_as_read(alice.pk, "student", [note.pk])
    api = APIClient()
    api.force_authenticate(dave)
    response = api.get(f"/api/notifications/{note.pk}/deliveries/")
    assert response.status_code == 200
    body = response.json()
    assert body["totals"]["audience"] == 2 and body["totals"]["emailed"] == 2 and body["totals"]["read"] == 1
    assert body["summary"] == "1 of 2 students read, 2 emailed, 0 failed"
    rows = {r["user"]["username"]: r for r in body["results"]}
    assert rows["alice"]["read_at"] and rows["bob"]["read_at"] is None
    assert rows["bob"]["channels"]["email"]["status"] == "sent" and rows["bob"]["channels"]["push"] is None
    for outsider in (alice, carol):
        api.force_authenticate(outsider)
        assert api.get(f"/api/notifications/{note.pk}/deliveries/").status_code == 403
    api.force_authenticate(dave)
    assert api.get("/api/notifications/999999999/deliveries/").status_code == 404
    assert api.get("/api/notifications/99999999999999999999999/deliveries/").status_code == 404


def test_receipts_give_the_delivered_and_seen_times_of_a_role_notification(cast):
    from clarion.delivery import receipts, report
    from clarion.notifications import inbox

    alice, bob = cast["alice"], cast["bob"]
    note = clarion.send_notification_to_role("student", "Heads up", category="announcement")
    note.refresh_from_db()
    receipts.note(alice.pk, note.seq)
    receipts.note(alice.pk, note.seq - 1)  # an older ack changes nothing
    assert receipts.flush() == 1
    receipts.note(alice.pk, note.seq)  # already written
    assert receipts.flush() == 0
    written = Receipt.objects.get(user=alice, kind="delivered")
    assert written.seq == note.seq and abs((datetime.now(timezone.utc) - written.at).total_seconds()) < 5
    assert Receipt.objects.filter(at__lt=datetime.now(timezone.utc) - timedelta(days=1)).count() == 0
    inbox.mark_all_seen(bob.pk, "student")
    rows = {r["user"]["username"]: r for r in report.reader_rows(note, [alice, bob])}
    assert rows["alice"]["delivered_at"] and rows["alice"]["seen_at"] is None
    assert rows["bob"]["seen_at"] and rows["bob"]["delivered_at"] == rows["bob"]["seen_at"]
    assert Receipt.objects.filter(user=bob, kind="seen").count() == 1


def test_email_url_names_djangos_email_settings():
    assert email_settings("smtp+tls://me%40site:p%3Ass@mail.example:2525") == {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend", "EMAIL_HOST": "mail.example",
        "EMAIL_PORT": 2525, "EMAIL_HOST_USER": "me@site", "EMAIL_HOST_PASSWORD": "p:ss", "EMAIL_USE_TLS": True,
        "EMAIL_USE_SSL": False, "EMAIL_TIMEOUT": 10}
    assert email_settings("smtps://mail.example")["EMAIL_PORT"] == 465
    assert email_settings("console:") == {"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}
    assert email_settings("") == {}
    for bad in ("ftp://x", "smtp://", "smtp://host:port"):
        with pytest.raises(ImproperlyConfigured):
            email_settings(bad)


def test_the_admin_lists_delivery_records(cast, client):
    dave = cast["dave"]
    dave.is_staff = dave.is_superuser = True
    dave.save()
    clarion.send_notification_to_user(cast["alice"], "Due", category="deadline")
    worker.run_round()
    client.force_login(dave)
    page = client.get("/django-admin/clarion/delivery/")
    assert page.status_code == 200 and b"alice" in page.content
    assert client.get("/django-admin/clarion/pushsubscription/").status_code == 200


@override_settings(CLARION={"SITE_URL": "", "DELIVERY_BATCH": 0})
def test_checks_flag_a_missing_site_url_and_bad_worker_settings():
    from django.core import checks

    ids = {message.id for message in checks.run_checks()}
    assert {"clarion.W003", "clarion.E012"} <= ids


def test_adduser_takes_an_email_address(tmp_path):
    from clarion.cli.main import main

    assert main(["adduser", "erin", "--role", "student", "--password", "pw", "--email", "erin@example.edu"]) == 0
    from django.contrib.auth import get_user_model

    assert get_user_model().objects.get(username="erin").email == "erin@example.edu"
    assert main(["adduser", "frank", "--role", "student", "--password", "pw", "--email", "not-an-address"]) == 1




def test_a_category_mailed_to_no_one_by_default_reaches_only_readers_who_turned_its_email_on(cast):
    alice, bob = cast["alice"], cast["bob"]
    preferences.update(bob.pk, "student", {"categories": {"announcement": {"email": True}}})
    note = clarion.send_notification_to_role("student", "Open day", category="announcement")
    worker.run_round(_later(601))
    assert _email(note, alice) is None  # no row: announcements are not mailed by default
    assert _email(note, bob).status == "sent"
    assert [m.to for m in mail.outbox] == [["bob@example.edu"]]


def test_a_round_told_to_stop_keeps_what_it_planned_and_the_next_round_plans_the_rest_once(cast):
    """A server shutting down stops planning at the next notification (it used to finish a
    whole batch first); nothing planned is lost and nothing is planned twice."""
    alice = cast["alice"]
    notes = [clarion.send_notification_to_user(alice, f"due {n}", category="deadline") for n in range(5)]
    asked = []

    def stopping():
        asked.append(1)
        return len(asked) > 3

    planned, settled = worker.run_round(stopping=stopping)
    assert settled == 0 and mail.outbox == []  # no sending after a stop
    emailed = set(Delivery.objects.filter(channel="email").values_list("notification_id", flat=True))
    assert 0 < len(emailed) < len(notes)  # it stopped part-way through the email walk
    assert emailed == {note.pk for note in notes[:len(emailed)]}  # in log order, none skipped
    worker.run_round()
    rows = Delivery.objects.filter(channel="email")
    assert sorted(rows.values_list("notification_id", flat=True)) == sorted(note.pk for note in notes)
    assert len(mail.outbox) == len(notes)
