"""Connect tickets (single use under a race, short-lived, bound to user and origin; a wrong
origin does not burn one) and the origin rule (foreign, look-alike, wrong scheme or port,
"null" and a missing Origin with browser credentials are refused; clarion.E001)."""

import threading
import time
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.core import checks
from django.db import OperationalError, close_old_connections
from django.utils import timezone

from clarion.auth.models import ConnectTicket
from clarion.auth.tickets import issue_ticket, redeem_ticket_credential
from clarion.auth.tokens import AuthenticationFailed
from tests.security.conftest import ORIGIN, closed_with, communicator, first_frame_type, token

pytestmark = pytest.mark.django_db(transaction=True)
create = database_sync_to_async


# -- tickets ---------------------------------------------------------------------------


def test_of_many_parallel_redemptions_of_one_ticket_exactly_one_wins(people):
    """Real threads, each with its own database connection (PostgreSQL in the scale-out pass)."""
    ticket, _ = issue_ticket(people["alice"], ORIGIN)
    threads_count = 8
    barrier = threading.Barrier(threads_count)
    outcomes = []

    def redeem():
        try:
            barrier.wait(5)
            for _ in range(200):
                try:
                    outcomes.append(redeem_ticket_credential(ticket, ORIGIN).user.username)
                except AuthenticationFailed:
                    outcomes.append(None)
                except OperationalError as exc:
                    # The in-memory SQLite of the embedded pass has no busy wait ("table is
                    # locked" at once); the server's file database waits up to 20 s instead.
                    if "locked" not in str(exc):
                        raise
                    time.sleep(0.005)
                    continue
                break
        finally:
            close_old_connections()

    threads = [threading.Thread(target=redeem) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(outcomes) == threads_count
    assert outcomes.count("alice") == 1 and outcomes.count(None) == threads_count - 1


async def test_a_wrong_origin_attempt_does_not_burn_the_ticket(people):
    ticket, _ = await create(issue_ticket)(people["alice"], ORIGIN)
    for foreign in ("http://testserver.evil.io", None):
        # a page elsewhere, or a script without Origin (refused at the handshake, no 4401)
        ws = communicator(query=f"ticket={ticket}", origin=foreign)
        connected, _ = await ws.connect()
        if connected:
            assert await closed_with(ws) == 4401
            await ws.disconnect()

    with pytest.raises(AuthenticationFailed):
        await create(redeem_ticket_credential)(ticket, "http://other.example")
    ws = communicator(query=f"ticket={ticket}")  # the real page still gets in, once
    assert (await ws.connect())[0]
    assert await first_frame_type(ws) == "recent_notifications"
    await ws.disconnect()
    again = communicator(query=f"ticket={ticket}")
    await again.connect()
    assert await closed_with(again) == 4401
    await again.disconnect()


async def test_an_expired_ticket_closes_4401(people):
    ticket, _ = await create(issue_ticket)(people["alice"], ORIGIN)
    await create(lambda: ConnectTicket.objects.update(expires_at=timezone.now() - timedelta(seconds=1)))()
    ws = communicator(query=f"ticket={ticket}")
    await ws.connect()
    assert await closed_with(ws) == 4401
    await ws.disconnect()


async def test_a_ticket_opens_only_its_own_users_streams(people, streams):
    """Bound to the user who asked: bob's ticket is bob on every stream, so alice's project
    and its room, which bob is in, open for him, and the health stream (admins) does not."""
    ticket, _ = await create(issue_ticket)(people["bob"], ORIGIN)
    ws = communicator("/ws/system-health/", f"ticket={ticket}")
    await ws.connect()
    assert await closed_with(ws) == 4403
    await ws.disconnect()
    carol_ticket, _ = await create(issue_ticket)(people["carol"], ORIGIN)
    ws = communicator(streams["notifications"], f"ticket={carol_ticket}")
    assert (await ws.connect())[0]
    first = await ws.receive_json_from(timeout=3)
    # carol's snapshot: "You were added" went to the project's people, she is its advisor
    assert first["type"] == "recent_notifications"
    await ws.disconnect()


async def test_ticket_of_an_inactive_user_closes_4401_and_tickets_die_with_the_session(people):
    from clarion.auth import revocation

    alice, bob = people["alice"], people["bob"]
    ticket, _ = await create(issue_ticket)(alice, ORIGIN)
    alice.is_active = False
    await create(alice.save)()
    ws = communicator(query=f"ticket={ticket}")
    await ws.connect()
    assert await closed_with(ws) == 4401
    await ws.disconnect()
    ticket, _ = await create(issue_ticket)(bob, ORIGIN)
    await create(revocation.end_sessions)(bob, "logout")
    ws = communicator(query=f"ticket={ticket}")
    await ws.connect()
    assert await closed_with(ws) == 4401
    await ws.disconnect()


async def test_hostile_ticket_strings_close_4401(people):
    for bad in ("", "x" * 201, "' OR 1=1 --", "%00", "ticket"):
        ws = communicator(query=f"ticket={bad}")
        await ws.connect()
        assert await closed_with(ws) == 4401, bad
        await ws.disconnect()


# -- origins ---------------------------------------------------------------------------

FOREIGN = [
    "http://evil.io",
    "http://testserver.evil.io",  # look-alike: the real host as a subdomain of another
    "http://evil.io.testserver",
    "http://testserver@evil.io",
    "https://testserver",  # wrong scheme
    "http://testserver:8080",  # wrong port
    "null",
    "file://",
    "http://testserver/path",
    "ws://testserver",
    "",
    "http://",
    "http://[::1",  # not parseable
]


@pytest.mark.parametrize("origin", FOREIGN)
async def test_foreign_and_look_alike_origins_are_refused_at_the_handshake(people, origin):
    ws = communicator(query=f"token={await token(people['alice'])}", origin=origin)
    connected, _ = await ws.connect()
    assert not connected


async def test_look_alikes_of_a_configured_origin_are_refused(people, settings):
    settings.CLARION = {"ALLOWED_ORIGINS": ["https://app.example.com"], "ALLOW_SAME_ORIGIN": False}
    alice_token = await token(people["alice"])
    for origin in ("https://app.example.com.evil.io", "https://evil-app.example.com", "http://app.example.com",
                   "https://app.example.com:8443", "https://xapp.example.com", "null", ORIGIN):
        ws = communicator(query=f"token={alice_token}", origin=origin)
        assert not (await ws.connect())[0], origin
    for origin in ("https://app.example.com", "https://APP.example.com", "https://app.example.com:443"):
        ws = communicator(query=f"token={alice_token}", origin=origin)
        assert (await ws.connect())[0], origin
        await ws.disconnect()


async def test_a_missing_origin_is_refused_for_browser_credentials_only(people):
    alice = people["alice"]
    ticket, _ = await create(issue_ticket)(alice, "")
    for query in (f"token={await token(alice)}", f"ticket={ticket}", ""):
        ws = communicator(query=query, origin=None)
        assert not (await ws.connect())[0], query
    # a cookie is not a credential here, and does not stand in for Origin
    ws = communicator(origin=None, headers=[(b"cookie", b"sessionid=abc")])
    assert not (await ws.connect())[0]
    ws = communicator(origin=None, headers=[(b"authorization", f"Bearer {await token(alice)}".encode())])
    assert (await ws.connect())[0]
    await ws.disconnect()


def test_wildcard_origin_is_an_error_in_production_and_allowed_in_debug(settings):
    from clarion.checks import check_allowed_origins

    settings.CLARION = {"ALLOWED_ORIGINS": ["*"]}
    settings.DEBUG = False
    assert [error.id for error in check_allowed_origins(None)] == ["clarion.E001"]
    assert any(message.id == "clarion.E001" for message in checks.run_checks(tags=[checks.Tags.security]))
    settings.DEBUG = True
    assert check_allowed_origins(None) == []
    settings.CLARION = {"ALLOWED_ORIGINS": ["https://app.example.com/", "app.example.com"]}
    assert [error.id for error in check_allowed_origins(None)] == ["clarion.E002", "clarion.E002"]


def test_abuse_limit_settings_are_checked_at_start_up(settings):
    from clarion.checks import check_abuse_limits

    assert check_abuse_limits(None) == []  # the defaults
    settings.CLARION = {"AUTH_THROTTLE_RATE": "30 per minute", "TICKET_THROTTLE_RATE": None,
                        "MESSAGE_RATE": -1, "MAX_CONNECTIONS_PER_USER": "50", "MESSAGE_BURST": 0,
                        "CONNECTION_LIMIT_EXEMPT_IPS": ["127.0.0.1", "proxy.local"]}
    assert sorted(error.id for error in check_abuse_limits(None)) == \
        ["clarion.E005", "clarion.E006", "clarion.E006", "clarion.E006", "clarion.E007"]
