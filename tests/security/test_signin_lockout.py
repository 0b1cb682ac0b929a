"""Sign-in lockout per account, in process (docs/security.md, "Sign-in lockout"): both ways of
signing in share one count per username, and no spelling of a name escapes it. The same rules
over real servers, on both backends and across two processes: tests/integration/test_signin_lockout.py."""

import logging

import pytest
from django.core.checks import run_checks
from django.test import Client

pytestmark = pytest.mark.django_db

RIGHT = {"username": "alice", "password": "pw-alice"}


def _token(username, password="wrong", remote_addr="127.0.0.1"):
    return Client(REMOTE_ADDR=remote_addr).post("/api/auth/token/", {"username": username, "password": password},
                                                content_type="application/json")


def _ui_client():
    client = Client(enforce_csrf_checks=True)
    client.get("/ui/users/")
    client.cookies["csrftoken"] = "a" * 32
    return client, {"HTTP_X_CSRFTOKEN": "a" * 32}


def test_the_web_sign_in_and_the_token_endpoint_share_one_count(people, settings):
    settings.CLARION = {"SIGNIN_LOCKOUT_FAILURES": 4}
    client, csrf = _ui_client()
    for _ in range(2):
        assert _token("alice").status_code == 401
        wrong = client.post("/ui/session/", {"username": "alice", "password": "x"}, content_type="application/json", **csrf)
        assert wrong.status_code == 401
    locked = client.post("/ui/session/", RIGHT, content_type="application/json", **csrf)
    assert locked.status_code == 429 and 1 <= int(locked["Retry-After"]) <= 900
    assert locked.json()["detail"].startswith("Too many failed sign-ins for this account")
    assert _token("alice", "pw-alice").status_code == 429
    assert "sessionid" not in client.cookies  # the right password signed nobody in
    assert _token("bob", "pw-bob").status_code == 200


@pytest.mark.parametrize("spelling", ["ALICE", " alice ", "Alice\t"])
def test_no_spelling_of_a_username_escapes_its_count(people, settings, spelling):
    settings.CLARION = {"SIGNIN_LOCKOUT_FAILURES": 3}
    for _ in range(3):
        assert _token(spelling).status_code in (400, 401)
    assert _token("alice", "pw-alice").status_code == 429


def test_a_username_sent_as_a_number_counts_as_its_text(make_user, settings):
    make_user("12345")
    settings.CLARION = {"SIGNIN_LOCKOUT_FAILURES": 3}
    for _ in range(3):
        assert Client().post("/api/auth/token/", {"username": 12345, "password": "x"},
                             content_type="application/json").status_code == 401
    assert _token("12345", "pw-12345").status_code == 429


def test_a_lockout_logs_one_warning_with_the_username_and_address_but_no_password(people, settings, caplog):
    settings.CLARION = {"SIGNIN_LOCKOUT_FAILURES": 3}
    with caplog.at_level(logging.WARNING, logger="clarion.security"):
        for _ in range(3):
            _token("alice", "s3cret-guess", remote_addr="192.0.2.7")
        for _ in range(2):
            assert _token("alice", "s3cret-guess").status_code == 429
    [record] = [r for r in caplog.records if "sign-in locked" in r.getMessage()]
    assert record.levelno == logging.WARNING
    assert "'alice'" in record.getMessage() and "192.0.2.7" in record.getMessage()
    assert "s3cret-guess" not in caplog.text


def test_a_zero_limit_turns_the_lockout_off(people, settings):
    settings.CLARION = {"SIGNIN_LOCKOUT_FAILURES": 0}
    for _ in range(15):
        assert _token("alice").status_code == 401
    assert _token("alice", "pw-alice").status_code == 200


def test_a_malformed_limit_fails_the_system_checks(settings):
    settings.CLARION = {"SIGNIN_LOCKOUT_WINDOW": "15 minutes"}
    assert "clarion.E006" in [message.id for message in run_checks()]


def test_failures_anywhere_count_and_a_locked_account_cannot_sign_in_to_the_django_admin(people, settings):
    """Every authenticate() counts (Django's user_login_failed), the admin's login form included,
    and LockoutBackend makes every authenticate() refuse a locked name, the right password too."""
    settings.CLARION = {"SIGNIN_LOCKOUT_FAILURES": 3}
    people["dave"].is_staff = people["dave"].is_superuser = True
    people["dave"].save()
    admin = Client()
    for _ in range(3):
        page = admin.post("/django-admin/login/", {"username": "dave", "password": "wrong"})
        assert page.status_code == 200 and "_auth_user_id" not in admin.session
    assert _token("dave", "pw-dave").status_code == 429  # the admin's failures locked the API too
    admin.post("/django-admin/login/", {"username": "dave", "password": "pw-dave", "next": "/django-admin/"})
    assert "_auth_user_id" not in admin.session  # the right password signs nobody in while locked
    assert _token("carol", "pw-carol").status_code == 200
