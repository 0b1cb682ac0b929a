"""The socket is blocked mid-stream, the page polls, the socket comes back (issue 15, item 4):
every notification reaches the reader once, in order, including one created and read
elsewhere while the page was switching, which the old polling (newer id, or unread) missed.

How the socket is blocked: Playwright routes the page's WebSockets to /ws/notifications/
through the test (``page.route_web_socket``). While open, each is connected to the real
server. Blocking closes the open one with 1006, as a proxy dropping the connection would, and
refuses every new one the same way before it opens, so the page sees what a firewall that
stops WebSockets (but not HTTP) gives it: handshakes that fail."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import (
    api_token,
    notification_item,
    read_everything,
    record_toasts,
    toasts_seen,
    unique,
    user_id,
    wait_live,
)

# Both passes: the polls and the resumes read the backend's log.
pytestmark = pytest.mark.integration


class SocketGate:
    """Lets the page's notification sockets through to the server until ``block()``."""

    def __init__(self, page):
        self.blocked = False
        self.routes = []
        self.attempts_while_blocked = 0
        page.route_web_socket(re.compile(r".*/ws/notifications/.*"), self._route)

    def _route(self, ws):
        if self.blocked:
            self.attempts_while_blocked += 1
            ws.close(code=1006, reason="blocked")
            return
        ws.connect_to_server()
        self.routes.append(ws)

    def block(self):
        self.blocked = True
        for ws in self.routes:
            ws.close(code=1006, reason="blocked")
        self.routes = []

    def unblock(self):
        self.blocked = False


def test_socket_to_polling_to_socket_delivers_each_notification_once_in_order(pages, server):
    read_everything(server, "bob")
    admin, bob = api_token(server, "dave"), api_token(server, "bob")
    bob_id = str(user_id(server, "bob"))
    page = pages.page()
    gate = SocketGate(page)
    pages.sign_in("bob", page=page)
    record_toasts(page)
    sent = []

    def send(label, read_elsewhere=False):
        title = unique(label)
        created = server.notify(admin, title=title, recipient_type="user", recipient_id=bob_id)
        if read_elsewhere:
            assert server.request("POST", f"/api/notifications/{created['id']}/read/", token=bob)[0] == 200
        sent.append((title, read_elsewhere))
        return title

    first = send("Over the socket")
    expect(page.locator(".toasts .toast-title", has_text=first)).to_be_visible(timeout=5_000)

    gate.block()
    # Published while the page has no socket and has not polled yet; one is read in another tab
    # at once, so only an exact resume can still show it.
    send("While switching 1")
    send("While switching, read elsewhere", read_elsewhere=True)
    send("While switching 2")
    wait_live(page, "Live (polling)", timeout=30_000)
    assert gate.attempts_while_blocked >= 1
    send("While polling")

    gate.unblock()
    wait_live(page, "Live", timeout=40_000)  # the page tries its socket again every 15 s
    last = send("Over the socket again")
    expect(page.locator(".toasts .toast-title", has_text=last)).to_be_visible(timeout=5_000)
    page.wait_for_timeout(1_000)  # a repeat, if any, would show in this time

    # Toasts: one per unread notification, none repeated, in the order they were published.
    unread_titles = [title for title, read in sent if not read]
    toasts = [t["title"] for t in page.evaluate("window.__toasts")]
    assert [t for t in toasts if t in unread_titles] == unread_titles
    # The list: every notification once, newest first, the one read elsewhere shown read.
    page.locator("#bell").click()
    listed = page.locator("#notification-panel li.note .note-title").all_inner_texts()
    assert [title for title in listed if any(title == t for t, _ in sent)] == [t for t, _ in reversed(sent)]
    read_title = next(title for title, read in sent if read)
    expect(notification_item(page, read_title)).to_have_class(re.compile(r"\bread\b"))
    assert toasts_seen(page, read_title) == []
    expect(page.locator("#bell .badge")).to_have_text(str(len(unread_titles)))
