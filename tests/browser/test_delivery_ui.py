"""Reaching people who are not online (issue 14), in real Chromium: the Settings page's Delivery
section (digest, its hour, time zone, quiet hours) with the server's field errors beside their
fields, and the deliveries page a sender opens from the send page."""

import json
import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import api_token, notification_item, read_everything, toast, unique

# The page, not the backend: run once, in the scale-out pass (where PostgreSQL's answers reach
# the page; its jsonb key order once did). tests/browser/test_resilience.py runs in both.
pytestmark = [pytest.mark.integration, pytest.mark.scaleout]

DEFAULT_DELIVERY = {"digest": {"email": "off", "push": "off"}, "digest_hour": 8, "time_zone": "", "quiet_hours": None}


def test_the_settings_page_saves_a_daily_digest_at_7_with_quiet_hours_and_shows_field_errors(pages, server):
    token = api_token(server, "carol")
    server.request("PATCH", "/api/preferences/", DEFAULT_DELIVERY, token)
    page = pages.sign_in("carol", "/settings/", timezone_id="Asia/Bangkok")
    try:
        expect(page.get_by_role("heading", name="Delivery")).to_be_visible()
        hour = page.get_by_label("Digest hour")
        expect(hour).to_be_hidden()  # only for a daily digest
        # No zone of her own (the server answers ""): the device's is filled in, saved with the rest.
        expect(page.get_by_label("Time zone")).to_have_value("Asia/Bangkok")
        expect(page.get_by_role("button", name="Use this device's zone (Asia/Bangkok)")).to_be_hidden()
        page.get_by_label("Email", exact=True).select_option(label="Daily digest")
        expect(hour).to_be_visible()
        hour.select_option("7")
        expect(page.get_by_label("Quiet from")).to_be_hidden()
        page.get_by_label("Quiet hours").check()
        page.get_by_label("Quiet from").fill("22:30")
        page.get_by_label("Quiet until").fill("06:45")

        # A zone the server does not know: its message beside the field, nothing saved.
        page.get_by_label("Time zone").fill("Mars/Olympus_Mons")
        page.get_by_role("button", name="Save delivery settings").click()
        zone = page.get_by_label("Time zone")
        expect(zone).to_have_attribute("aria-invalid", "true")
        expect(page.locator("#time-zone-error")).to_contain_text("IANA time zone")
        assert "time-zone-error" in zone.get_attribute("aria-describedby").split()
        expect(zone).to_be_focused()
        expect(page.locator("#delivery-status")).to_have_text("Not saved: see the fields marked above.")
        _, prefs = server.request("GET", "/api/preferences/", token=token)
        assert prefs["digest"] == {"email": "off", "push": "off"} and prefs["quiet_hours"] is None

        zone.fill("Asia/Bangkok")
        page.get_by_role("button", name="Save delivery settings").click()
        expect(page.locator("#delivery-status")).to_have_text(
            "Saved: a daily digest at 07:00 (Asia/Bangkok), quiet from 22:30 until 06:45.")
        expect(zone).not_to_have_attribute("aria-invalid", "true")
        expect(page.locator("#time-zone-error")).to_be_empty()
        _, prefs = server.request("GET", "/api/preferences/", token=token)
        assert (prefs["digest"], prefs["digest_hour"], prefs["time_zone"], prefs["quiet_hours"]) == (
            {"email": "daily", "push": "off"}, 7, "Asia/Bangkok", {"from": "22:30", "to": "06:45"})

        # Only what changed is sent.
        with page.expect_request(lambda r: r.url.endswith("/api/preferences/") and r.method == "PATCH") as sent:
            page.get_by_label("Quiet until").fill("07:00")
            page.get_by_role("button", name="Save delivery settings").click()
        assert sent.value.post_data_json == {"quiet_hours": {"from": "22:30", "to": "07:00"}}
        expect(page.locator("#delivery-status")).to_contain_text("quiet from 22:30 until 07:00")

        # An end the server refuses (a time input left empty): the message sits beside that end.
        page.get_by_label("Quiet from").fill("")
        page.get_by_role("button", name="Save delivery settings").click()
        start = page.get_by_label("Quiet from")
        expect(start).to_have_attribute("aria-invalid", "true")
        expect(page.locator("#quiet-from-error")).to_contain_text("HH:MM")
        assert "quiet-from-error" in start.get_attribute("aria-describedby").split()

        page.reload()
        expect(page.get_by_label("Email", exact=True)).to_have_value("daily")
        expect(page.get_by_label("Digest hour")).to_have_value("7")
        expect(page.get_by_label("Quiet hours")).to_be_checked()
        expect(page.get_by_label("Quiet until")).to_have_value("07:00")

        # Desktop notifications as an hourly digest too: only that channel's digest is sent.
        with page.expect_request(lambda r: r.url.endswith("/api/preferences/") and r.method == "PATCH") as sent:
            page.get_by_label("Desktop notifications", exact=True).select_option(label="Hourly digest")
            page.get_by_role("button", name="Save delivery settings").click()
        assert sent.value.post_data_json == {"digest": {"push": "hourly"}}
        expect(page.locator("#delivery-status")).to_contain_text("desktop: an hourly digest")
        _, prefs = server.request("GET", "/api/preferences/", token=token)
        assert prefs["digest"] == {"email": "daily", "push": "hourly"}
    finally:
        server.request("PATCH", "/api/preferences/", DEFAULT_DELIVERY, token)


def test_the_deliveries_page_shows_totals_and_a_row_per_reader_of_a_role(pages, server):
    read_everything(server, "alice", "bob")
    admin = pages.sign_in("dave", "/admin/send/")
    title = unique("Abstract due Friday")
    admin.get_by_label("A role").check()
    admin.get_by_label("Role", exact=True).select_option("student")
    admin.get_by_label("Title").fill(title)
    admin.get_by_role("button", name="Send notification").click()
    expect(admin.locator("#send-result")).to_have_text(f"Sent “{title}” to every student.")
    # alice reads it before the page is opened: her row says so
    _, page_ = server.request("GET", "/api/notifications/?unread=true", token=api_token(server, "alice"))
    sent = next(n for n in page_["results"] if n["title"] == title)
    status, _ = server.request("POST", f"/api/notifications/{sent['id']}/read/", token=api_token(server, "alice"))
    assert status == 200

    admin.get_by_role("link", name=f"See who received “{title}”").click()
    expect(admin).to_have_url(f"{server.url}/admin/notifications/{sent['id']}/deliveries/")
    expect(admin.get_by_role("heading", level=1)).to_have_text(f"Deliveries of “{title}”")
    _, expected = server.request("GET", f"/api/notifications/{sent['id']}/deliveries/", token=api_token(server, "dave"))
    expect(admin.locator("#deliveries-summary")).to_have_text(expected["summary"])
    totals = admin.locator("#delivery-totals")
    for label, key in (("Audience", "audience"), ("Read", "read"), ("Emailed", "emailed"), ("Failed", "failed")):
        expect(totals.locator(".total").filter(has=admin.locator("dt", has_text=label)).locator("dd")).to_have_text(
            str(expected["totals"][key]))
    table = admin.get_by_role("table")
    expect(table.get_by_role("columnheader")).to_have_text(["Reader", "Delivered", "Seen", "Read", "Email", "Push"])
    usernames = [row["user"]["username"] for row in expected["results"]]
    assert {"alice", "bob"} <= set(usernames)
    expect(table.locator("tbody th[scope=row]")).to_have_text(usernames)
    alice = table.get_by_role("row").filter(has=admin.get_by_role("rowheader", name="alice"))
    expect(alice.locator("td").nth(2)).not_to_have_text("not yet")  # read
    bob = table.get_by_role("row").filter(has=admin.get_by_role("rowheader", name="bob"))
    expect(bob.locator("td").nth(2)).to_have_text("not yet")


def test_the_deliveries_page_refuses_readers_and_names_unknown_notifications(pages, server):
    student = pages.sign_in("alice", "/admin/notifications/1/deliveries/")
    expect(student.get_by_role("alert")).to_have_text("Only administrators and the sender can see deliveries.")
    admin = pages.sign_in("dave", "/admin/notifications/999999999/deliveries/")
    expect(admin.get_by_role("alert")).to_have_text("There is no notification 999999999.")


def test_the_desktop_notifications_control_says_what_this_browser_allows(pages, server):
    # A context given a list of permissions denies every other one: notifications are blocked.
    blocked = pages.sign_in("alice", "/settings/", permissions=[])
    expect(blocked.locator("#desktop-state")).to_contain_text("Blocked")
    expect(blocked.get_by_role("button", name="Enable desktop notifications")).to_be_disabled()

    page = pages.sign_in("alice", "/settings/", permissions=["notifications"])
    state = page.locator("#desktop-state")
    expect(state).to_have_text("Off in this browser.")
    toggle = page.get_by_role("button", name="Enable desktop notifications")
    expect(toggle).to_be_enabled()
    assert "desktop-state" in toggle.get_attribute("aria-describedby").split()
    toggle.click()
    # Where the browser has a push service it subscribes; here (no network) it says why not.
    outcome = re.compile(r"^(On in this browser|Could not turn on: .+ Off in this browser\.)")
    expect(state).to_have_text(outcome, timeout=10_000)
    expect(page.locator("#desktop-toggle")).to_be_focused()


def test_a_senders_dropdown_links_each_notification_to_its_deliveries(pages, server):
    read_everything(server, "dave", "alice")
    admin = pages.sign_in("dave")
    student = pages.sign_in("alice")
    title = unique("Lab closed on Monday")
    status, sent = server.request("POST", "/api/notifications/", {
        "recipient_type": "all", "recipient_id": "", "title": title}, api_token(server, "dave"))
    assert status == 201, sent
    expect(toast(admin, title)).to_be_visible(timeout=5_000)
    admin.locator("#bell").click()
    link = notification_item(admin, title).get_by_role("link", name=f"Deliveries: {title}")
    expect(link).to_have_attribute("href", f"/admin/notifications/{sent['id']}/deliveries/")
    link.click()
    expect(admin.locator("#deliveries-summary")).not_to_be_empty()
    # A reader who cannot send is not offered a page that would refuse them.
    expect(toast(student, title)).to_be_visible(timeout=5_000)
    student.locator("#bell").click()
    expect(notification_item(student, title)).to_be_visible()
    expect(notification_item(student, title).get_by_role("link", name=re.compile("Deliveries"))).to_have_count(0)


def _reader(user_id, username, **fields):
    return {"user": {"id": user_id, "username": username}, "delivered_at": None, "seen_at": None, "read_at": None,
            "channels": {"email": None, "push": None}, **fields}


def test_the_deliveries_page_pages_through_readers_and_says_what_each_channel_did(pages, server):
    """The server's answers are stood in for (an audience of 51 would take a minute to make):
    what is checked is how the page draws and walks them."""
    email = {"status": "failed", "reason": "", "error": "550 mailbox unavailable", "attempts": 3,
             "due_at": "2026-12-04T07:00:00Z", "sent_at": None}
    skipped = {"status": "skipped", "reason": "read", "error": "", "attempts": 0,
               "due_at": "2026-12-04T07:00:00Z", "sent_at": None}
    base = {"notification": {"id": 4242, "title": "Room change", "recipient_type": "role", "recipient_id": "student",
                             "category": "announcement", "created_at": "2026-12-04T06:00:00Z"},
            "totals": {"audience": 51, "delivered": 50, "seen": 40, "read": 30, "emailed": 20, "pushed": 1,
                       "pending": 0, "failed": 1, "skipped": 29},
            "summary": "30 of 51 students read, 20 emailed, 1 failed", "count": 51}
    answers = {
        "1": {**base, "next": f"{server.url}/api/notifications/4242/deliveries/?page=2&page_size=50", "previous": None,
              "results": [_reader(10 + n, f"student{n:02}") for n in range(49)]
              + [_reader(70, "zoe", channels={"email": email, "push": skipped})]},
        "2": {**base, "next": None, "previous": f"{server.url}/api/notifications/4242/deliveries/?page_size=50",
              "results": [_reader(80, "yusuf", read_at="2026-12-04T06:30:00Z")]},
    }

    def answer(route):
        page_number = route.request.url.split("page=")[1].split("&")[0]
        route.fulfill(status=200, content_type="application/json", body=json.dumps(answers[page_number]))

    admin = pages.sign_in("dave")
    admin.route("**/api/notifications/4242/deliveries/*", answer)
    admin.goto(f"{server.url}/admin/notifications/4242/deliveries/")
    table = admin.get_by_role("table")
    expect(table.locator("caption")).to_have_text("Readers, page 1 of 2")
    expect(table.locator("tbody tr")).to_have_count(50)
    zoe = table.get_by_role("row").filter(has=admin.get_by_role("rowheader", name="zoe"))
    expect(zoe.locator("td").nth(3)).to_have_text("failed: 550 mailbox unavailable (3 attempts)")
    expect(zoe.locator("td").nth(4)).to_have_text("skipped: read in the app first")
    expect(admin.get_by_role("button", name="Previous page")).to_be_disabled()

    admin.get_by_role("button", name="Next page").click()
    expect(table.locator("caption")).to_have_text("Readers, page 2 of 2")
    expect(admin).to_have_url(f"{server.url}/admin/notifications/4242/deliveries/?page=2")
    expect(admin.locator("#deliveries-status")).to_have_text("Page 2 of 2.")
    expect(admin.get_by_role("region", name="Readers, scrollable")).to_be_focused()
    expect(table.locator("tbody th")).to_have_text(["yusuf"])
    expect(admin.get_by_role("button", name="Next page")).to_be_disabled()
    admin.get_by_role("button", name="Previous page").click()
    expect(table.locator("caption")).to_have_text("Readers, page 1 of 2")
    expect(admin).to_have_url(f"{server.url}/admin/notifications/4242/deliveries/")


def test_signing_out_unsubscribes_this_browser_from_the_readers_pushes(pages, server):
    """A shared computer: the next person must not get the previous reader's pushes. Headless
    Chromium reaches no push service, so the browser's subscription is stood in for by one whose
    unsubscribe() is recorded; the DELETE the page sends is the real one."""
    page = pages.page()
    page.add_init_script("""
        window.__unsubscribed = false;
        const fake = {endpoint: "https://fcm.push.invalid/fcm/send/shared-computer",
                      unsubscribe: async () => { window.__unsubscribed = true; return true; }};
        PushManager.prototype.getSubscription = async function () { return fake; };
    """)
    pages.sign_in("bob", "/", page=page)
    page.evaluate("navigator.serviceWorker.register('/sw.js', {scope: '/'}).then(() => navigator.serviceWorker.ready)")
    with page.expect_request(lambda r: r.method == "DELETE" and r.url.endswith("/api/push/subscriptions/")) as deleted:
        page.get_by_role("button", name="Sign out").click()
    assert json.loads(deleted.value.post_data) == {"endpoint": "https://fcm.push.invalid/fcm/send/shared-computer"}
    expect(page.get_by_label("Username")).to_be_visible()
    assert page.evaluate("window.__unsubscribed") is True
