"""The web UI's service worker (clients/web/src/sw.ts) in real Chromium, against the real server.

A push is delivered through the DevTools protocol (ServiceWorker.deliverPushMessage): no push
service is reachable here, so the browser's own subscribe step is not exercised (the server's
side of subscriptions is tested with a browser-shaped body in tests/integration/test_web_push.py,
and the encryption and VAPID signing against a stand-in push service there).

The click: Chromium offers no way to click a system notification (nothing in the DevTools
protocol, and headless shows none on a screen). So the test dispatches a ``notificationclick``
event inside the worker itself, through Playwright's handle on the service worker, for the
notification the push handler really showed. Two browser rules stop such an event from doing
everything a real click does: an untrusted event's ``waitUntil`` throws, and ``clients.openWindow``
and ``focus`` need the click's user activation. So only those three are replaced for the test
(the window API by a recorder); the handler's code runs as built, closes the real notification,
and really posts the read token to the server, which marks the notification read.
"""

import json
import time

import pytest
from django.test import override_settings

from tests.browser.conftest import unique

# The page, not the backend: run once, in the scale-out pass (where PostgreSQL's answers reach
# the page; its jsonb key order once did). tests/browser/test_resilience.py runs in both.
pytestmark = [pytest.mark.integration, pytest.mark.scaleout]


def _registration_id(cdp, scope_url: str, timeout: float = 10.0) -> str:
    found = {}

    def on_update(event):
        for registration in event["registrations"]:
            if registration["scopeURL"] == scope_url and not registration.get("isDeleted"):
                found["id"] = registration["registrationId"]

    cdp.on("ServiceWorker.workerRegistrationUpdated", on_update)
    cdp.send("ServiceWorker.enable")
    deadline = time.monotonic() + timeout
    while "id" not in found:
        assert time.monotonic() < deadline, f"no service worker registration for {scope_url}"
        cdp.send("Runtime.evaluate", {"expression": "1"})  # lets the session's events arrive
        time.sleep(0.05)
    return found["id"]


def _notifications(page, tag: str) -> list[dict]:
    return page.evaluate("""async (tag) => {
        const registration = await navigator.serviceWorker.ready;
        const shown = await registration.getNotifications({tag});
        return shown.map((n) => ({title: n.title, body: n.body, tag: n.tag, data: n.data}));
    }""", tag)


def _wait_for_notifications(page, tag: str, count: int, timeout: float = 10.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        shown = _notifications(page, tag)
        if len(shown) == count or time.monotonic() > deadline:
            return shown
        time.sleep(0.1)


# Runs in the service worker: dispatch notificationclick for the notification shown with
# ``tag``, with the click-only browser APIs replaced by recorders (see the module's docstring).
CLICK_IN_WORKER = """async ({tag, tabs}) => {
    const [notification] = await self.registration.getNotifications({tag});
    if (!notification) return {error: "no notification with tag " + tag};
    const calls = [];
    const tab = (url) => ({
        url,
        focus: async () => { calls.push(["focus", url]); return tab(url); },
        navigate: async (to) => { calls.push(["navigate", to]); return tab(to); },
    });
    Object.defineProperty(self, "clients", {configurable: true, value: {
        matchAll: async () => tabs.map(tab),
        openWindow: async (url) => { calls.push(["openWindow", url]); return tab(url); },
        claim: async () => {},
    }});
    const event = new NotificationEvent("notificationclick", {notification});
    const pending = [];
    Object.defineProperty(event, "waitUntil", {value: (promise) => pending.push(promise)});
    self.dispatchEvent(event);
    await Promise.all(pending);
    const left = await self.registration.getNotifications({tag});
    return {calls, waited: pending.length, left: left.length};
}"""


def test_a_push_shows_a_system_notification_and_its_click_opens_the_item_and_marks_it_read(
        pages, server, tokens, backend):
    from clarion.delivery.channels.push import read_token

    carol_id = server.request("GET", "/api/me/", token=tokens["carol"])[1]["id"]
    title = unique("Review due tomorrow")
    created = server.notify(tokens["dave"], title=title, message="Chapter 2 of the thesis", recipient_type="user",
                            recipient_id=str(carol_id), link="/projects/1/")
    with override_settings(SECRET_KEY=backend["CLARION_SECRET_KEY"]):  # the server's key signs it
        token = read_token(carol_id, created["id"])

    context = pages.context()
    context.grant_permissions(["notifications"], origin=server.url)
    page = pages.page(context)
    page.goto(server.url + "/")
    response = page.request.get(server.url + "/sw.js")
    assert response.status == 200
    assert response.headers["service-worker-allowed"] == "/" and response.headers["cache-control"] == "no-cache"
    assert response.headers["content-type"].startswith("text/javascript")
    scope = page.evaluate("""async () => {
        const registration = await navigator.serviceWorker.register("/sw.js", {scope: "/"});
        await navigator.serviceWorker.ready;
        return registration.scope;
    }""")
    assert scope == server.url + "/"
    assert page.evaluate("Notification.permission") == "granted"

    cdp = context.new_cdp_session(page)
    registration_id = _registration_id(cdp, scope)
    item_url = f"{server.url}/projects/1/"
    payload = {"id": created["id"], "title": title, "body": "Chapter 2 of the thesis", "url": item_url,
               "tag": f"clarion-{created['id']}", "read_token": token}
    cdp.send("ServiceWorker.deliverPushMessage",
             {"origin": server.url, "registrationId": registration_id, "data": json.dumps(payload)})

    shown = _wait_for_notifications(page, payload["tag"], 1)
    if not shown:
        # On a loaded machine Chromium may still be starting the worker it just activated and
        # drop the DevTools delivery; a push service redelivers an unacknowledged push, so do we, once.
        cdp.send("ServiceWorker.deliverPushMessage",
                 {"origin": server.url, "registrationId": registration_id, "data": json.dumps(payload)})
        shown = _wait_for_notifications(page, payload["tag"], 1, timeout=20.0)
    assert shown == [{"title": title, "body": "Chapter 2 of the thesis", "tag": payload["tag"],
                      "data": {"id": created["id"], "url": item_url, "read_token": token}}]
    # The same push again replaces it (one tag per notification), never a second one.
    cdp.send("ServiceWorker.deliverPushMessage",
             {"origin": server.url, "registrationId": registration_id, "data": json.dumps(payload)})
    time.sleep(0.5)
    assert len(_notifications(page, payload["tag"])) == 1

    worker = context.service_workers[0] if context.service_workers else context.wait_for_event("serviceworker")
    assert worker.url == server.url + "/sw.js"
    status, item = server.request("GET", f"/api/notifications/{created['id']}/", token=tokens["carol"])
    assert item["is_read"] is False

    # No tab of the site at the item: a new one opens on it.
    clicked = worker.evaluate(CLICK_IN_WORKER, {"tag": payload["tag"], "tabs": []})
    assert clicked == {"calls": [["openWindow", item_url]], "waited": 1, "left": 0}
    status, item = server.request("GET", f"/api/notifications/{created['id']}/", token=tokens["carol"])
    assert status == 200 and item["is_read"] is True

    # A tab of the site elsewhere: that one comes forward and goes to the item.
    cdp.send("ServiceWorker.deliverPushMessage",
             {"origin": server.url, "registrationId": registration_id, "data": json.dumps(payload)})
    assert len(_wait_for_notifications(page, payload["tag"], 1)) == 1
    clicked = worker.evaluate(CLICK_IN_WORKER, {"tag": payload["tag"], "tabs": [server.url + "/settings/"]})
    assert clicked["calls"] == [["focus", server.url + "/settings/"], ["navigate", item_url]]

    # A push this worker cannot read still shows something, opening the inbox.
    cdp.send("ServiceWorker.deliverPushMessage",
             {"origin": server.url, "registrationId": registration_id, "data": "not json"})
    assert [n["title"] for n in _wait_for_notifications(page, "clarion", 1)] == ["New notification"]
