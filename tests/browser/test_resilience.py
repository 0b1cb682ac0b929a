"""The page keeps delivering when things go wrong: a server restart, and WebSockets blocked."""

import json
import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import (
    api_token,
    notification_item,
    read_everything,
    record_toasts,
    toast,
    toasts_seen,
    unique,
    user_id,
    wait_live,
)
from tests.integration.harness import run_cli

# Both passes, unlike the other browser tests: what the page gets after a restart comes from the
# backend (a resume from the database, notifications sent by another process).
pytestmark = pytest.mark.integration


def send_cli(backend, username, title):
    """From another process (the CLI), as a cron job would: straight into the database."""
    result = run_cli(backend, "send", "--user", username, "--title", title)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["id"]


def test_notifications_created_while_the_server_is_down_appear_once_after_it_is_back(pages, server, backend):
    read_everything(server, "alice")
    page = pages.sign_in("alice")
    record_toasts(page)
    before = unique("before the restart")
    send_cli(backend, "alice", before)
    expect(toast(page, before)).to_be_visible()

    server.stop()  # graceful: every socket is closed with 1012
    try:
        expect(page.locator("#connection")).to_have_text(re.compile("Reconnecting"), timeout=5_000)
        missed = [unique(f"while down {i}") for i in range(3)]
        for title in missed:
            send_cli(backend, "alice", title)
    finally:
        server.start()

    # The page retries with backoff (capped at 10 s) and resumes from its cursor.
    wait_live(page, timeout=25_000)
    after = unique("after the restart")
    server.notify(api_token(server, "dave"), title=after, recipient_type="user",
                  recipient_id=str(user_id(server, "alice")))
    for title in missed + [after]:
        expect(toast(page, title)).to_be_visible(timeout=10_000)
    page.wait_for_timeout(1_500)  # time for a duplicate to show up, if one were coming

    page.locator("#bell").click()
    for title in [before] + missed + [after]:
        expect(notification_item(page, title)).to_have_count(1)
        assert len(toasts_seen(page, title)) == 1, title  # one toast each: none missed, none repeated

    expect(page.locator("#bell .badge")).to_have_text("5")


def test_with_websockets_blocked_the_page_polls_and_still_delivers(pages, server):
    read_everything(server, "bob")
    context = pages.context()
    # As a proxy or a Content-Security-Policy that forbids WebSockets would: creating one fails.
    context.add_init_script("""
        window.WebSocket = function WebSocket() {
            throw new DOMException("WebSockets are blocked here", "SecurityError");
        };
    """)
    page = pages.sign_in("bob", page=pages.page(context), live="Live (polling)")
    record_toasts(page)

    title = unique("Delivered by polling")
    server.notify(api_token(server, "dave"), title=title, message="no socket needed",
                  recipient_type="user", recipient_id=str(user_id(server, "bob")))
    expect(toast(page, title)).to_be_visible(timeout=12_000)  # the next poll, at most 5 s later
    expect(page.locator("#bell .badge")).to_have_text("1")

    # Actions go over REST while polling.
    page.locator("#bell").click()
    notification_item(page, title).get_by_role("button", name=re.compile("Mark read")).click()
    expect(page.locator("#bell .badge")).to_be_hidden()
    expect(notification_item(page, title)).to_have_class(re.compile(r"\bread\b"))
    assert server.request("GET", "/api/notifications/unread-count/", token=api_token(server, "bob")) == (
        200, {"unread_count": 0, "unseen_count": 0})
    assert len(toasts_seen(page, title)) == 1
