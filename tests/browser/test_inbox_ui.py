"""The inbox a reader steers (issue 13), in real Chromium: the Settings page, muting from a project
page, archive and snooze in the dropdown across tabs, the "new" badge, and the language switch."""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import api_token, notification_item, read_everything, toast, unique, user_id

# The page, not the backend: run once, in the scale-out pass (where PostgreSQL's answers reach
# the page; its jsonb key order once did). tests/browser/test_resilience.py runs in both.
pytestmark = [pytest.mark.integration, pytest.mark.scaleout]


def notify(server, username, **body):
    status, created = server.request("POST", "/api/notifications/", {
        "recipient_type": "user", "recipient_id": str(user_id(server, username)), **body}, api_token(server, "dave"))
    assert status == 201, created
    return created


def test_the_settings_page_turns_a_category_off_keeps_a_locked_one_and_switches_the_language(pages, server):
    token = api_token(server, "alice")
    page = pages.sign_in("alice", "/settings/")
    try:
        expect(page.get_by_role("heading", name="Settings")).to_be_visible()
        expect(page.get_by_label("Deadlines: In the app")).to_be_disabled()
        expect(page.get_by_label("Deadlines: In the app")).to_be_checked()
        comments = page.get_by_label("Comments: In the app")
        expect(comments).to_be_checked()
        comments.uncheck()
        expect(page.locator("#settings-status")).to_have_text("Saved: Comments off (in the app).")
        _, prefs = server.request("GET", "/api/preferences/", token=token)
        assert next(c for c in prefs["categories"] if c["key"] == "comment")["channels"]["in_app"] is False
        page.reload()
        expect(page.get_by_label("Comments: In the app")).not_to_be_checked()

        # the language switch: notifications now come in Thai, in this tab and the header's too
        page.get_by_label("Notifications are written in").select_option("th")
        expect(page.locator("#settings-status")).to_have_text("Saved: new notifications come in this language.")
        expect(page.locator("#ui-language")).to_have_value("th")
        notify(server, "alice", template="project.status_changed",
               params={"project": "Greenhouse", "status": "Defense", "old": "a", "new": "b"})
        expect(toast(page, "โครงงาน “Greenhouse” อยู่ในสถานะ Defense แล้ว")).to_be_visible(timeout=5_000)
        page.locator("#ui-language").select_option("en")
        expect(page.get_by_label("Notifications are written in")).to_have_value("en", timeout=5_000)
        notify(server, "alice", template="project.status_changed",
               params={"project": "Greenhouse", "status": "Review", "old": "a", "new": "b"})
        expect(toast(page, "“Greenhouse” is now Review")).to_be_visible(timeout=5_000)
    finally:
        server.request("PATCH", "/api/preferences/", {"locale": "", "categories": {"comment": {"in_app": True}}}, token)


def test_muting_from_a_project_page_keeps_that_projects_notifications_away(pages, server):
    token = api_token(server, "bob")
    page = pages.sign_in("bob", "/projects/1/")
    mute = page.get_by_role("button", name="Mute this project")
    try:
        mute.click()
        unmute = page.get_by_role("button", name="Unmute this project")
        expect(unmute).to_have_attribute("aria-pressed", "true")
        _, mutes = server.request("GET", "/api/mutes/", token=token)
        assert [m["topic"] for m in mutes] == ["project:1"]
        muted, other = unique("About the greenhouse"), unique("About something else")
        notify(server, "bob", title=muted, category="project_update", topic="project:1")
        notify(server, "bob", title=other)
        expect(toast(page, other)).to_be_visible(timeout=5_000)
        expect(toast(page, muted)).to_have_count(0)
        # a locked category still reaches him
        deadline = unique("Chapter 2 due")
        notify(server, "bob", title=deadline, category="deadline", topic="project:1")
        expect(toast(page, deadline)).to_be_visible(timeout=5_000)
        unmute.click()
        expect(page.get_by_role("button", name="Mute this project")).to_have_attribute("aria-pressed", "false")
    finally:
        server.request("DELETE", "/api/mutes/project:1/", token=token)


def test_archive_and_snooze_in_the_dropdown_reach_every_tab_and_opening_the_list_clears_new(pages, server):
    read_everything(server, "alice")
    first = pages.sign_in("alice")
    second = pages.sign_in("alice")
    keep, archived, snoozed = unique("Keep me"), unique("Archive me"), unique("Snooze me")
    for title in (keep, archived, snoozed):
        notify(server, "alice", title=title)
    for tab in (first, second):
        expect(tab.locator(".bell-wrap .badge-new")).to_have_text("3 new", timeout=5_000)
        expect(tab.locator("#bell")).to_have_attribute("aria-label", "Notifications, 3 unread")

    first.locator("#bell").click()
    for tab in (first, second):  # the list was opened: what it shows is seen, in both tabs
        expect(tab.locator(".bell-wrap .badge-new")).to_be_hidden(timeout=5_000)
        expect(tab.locator("#bell .badge")).to_have_text("3")

    first.get_by_role("button", name=f"Archive: {archived}").click()
    first.get_by_role("button", name=f"Snooze 1 h: {snoozed}").click()
    expect(notification_item(first, archived)).to_have_count(0)
    expect(notification_item(first, snoozed)).to_have_count(0)
    expect(first.locator("#bell .badge")).to_have_text("1")
    second.locator("#bell").click()
    expect(notification_item(second, keep)).to_be_visible()
    expect(notification_item(second, archived)).to_have_count(0)
    expect(notification_item(second, snoozed)).to_have_count(0)
    token = api_token(server, "alice")
    _, listed = server.request("GET", "/api/notifications/?archived=true&page_size=100", token=token)
    assert archived in [n["title"] for n in listed["results"]]
    _, listed = server.request("GET", "/api/notifications/?snoozed=true&page_size=100", token=token)
    assert snoozed in [n["title"] for n in listed["results"]]

    # read, then unread again from the dropdown: unread, and still not "new"
    second.locator("#notification-panel").get_by_role("button", name=f"Mark read: {keep}").click()
    expect(second.locator("#bell .badge")).to_be_hidden()
    second.locator("#notification-panel").get_by_role("button", name=f"Mark unread: {keep}").click()
    expect(second.locator("#bell .badge")).to_have_text("1")
    expect(first.locator("#bell .badge")).to_have_text("1")
    expect(second.locator(".bell-wrap .badge-new")).to_be_hidden()


def test_three_comments_on_a_project_show_as_one_row_that_opens_and_is_read_at_once(pages, server):
    read_everything(server, "alice")
    page = pages.sign_in("alice")
    carol = api_token(server, "carol")
    for text in ("Sensor list looks good.", "Add the wiring diagram.", "And cite the datasheet."):
        status, body = server.request("POST", "/api/projects/1/comments/", {"text": text}, carol)
        assert status == 201, body
    expect(page.locator("#bell .badge")).to_have_text("3", timeout=5_000)
    page.locator("#bell").click()
    row = page.locator("#notification-panel li.note-group")
    expect(row).to_have_count(1)
    expect(row.locator(".note-title")).to_have_text("3 new comments on “Autonomous greenhouse”", timeout=5_000)
    expect(row).to_contain_text("3 notifications, 3 unread")
    members = page.locator("#notification-panel li.note.in-group")
    expect(members).to_have_count(3)
    for i in range(3):
        expect(members.nth(i)).to_be_hidden()
    row.get_by_role("button", name="Show 3: 3 new comments on “Autonomous greenhouse”").click()
    expect(row.locator("button.group-toggle")).to_have_attribute("aria-expanded", "true")
    expect(members.filter(has_text="carol: Add the wiring diagram.")).to_be_visible()
    row.get_by_role("button", name="Mark all read: 3 new comments on “Autonomous greenhouse”").click()
    expect(page.locator("#bell .badge")).to_be_hidden()
    expect(row).to_contain_text("3 notifications, 0 unread")
