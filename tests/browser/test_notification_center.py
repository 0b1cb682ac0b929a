"""The notification center in real Chromium: the bell, its badge, the dropdown and toasts, as
students, advisors and admins see them; read state across tabs; markup shown as text."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import (
    api_token,
    badge,
    no_horizontal_scroll,
    notification_item,
    now_ms,
    read_everything,
    record_toasts,
    toast,
    toasts_seen,
    unique,
    unlabelled_controls,
    user_id,
)

# The page, not the backend: run once, in the scale-out pass (where PostgreSQL's answers reach
# the page; its jsonb key order once did). tests/browser/test_resilience.py runs in both.
pytestmark = [pytest.mark.integration, pytest.mark.scaleout]


def send_from_compose(admin, *, title, to="role", recipient=None, message=""):
    admin.get_by_label("A role" if to == "role" else "One user" if to == "user" else "Everyone").check()
    if to == "role":
        admin.get_by_label("Role", exact=True).select_option(recipient)
    elif to == "user":
        admin.get_by_label("User", exact=True).select_option(label=recipient)
    admin.get_by_label("Title").fill(title)
    admin.get_by_label("Message (optional)").fill(message)
    admin.get_by_role("button", name="Send notification").click()


def test_admin_sends_to_students_a_student_sees_toast_and_badge_within_a_second_an_advisor_nothing(pages, server):
    read_everything(server, "alice", "carol")
    student = pages.sign_in("alice")
    advisor = pages.sign_in("carol")
    admin = pages.sign_in("dave", "/admin/send/")
    expect(student.get_by_role("link", name="Send")).to_have_count(0)  # no admin tools for students
    student_before, advisor_before = badge(student), badge(advisor)
    assert student_before == advisor_before == 0
    record_toasts(student)
    record_toasts(advisor)
    title = unique("Defense rooms posted")

    sent_at = now_ms()
    send_from_compose(admin, title=title, recipient="student", message="Room 101, 10:00")
    expect(admin.locator("#send-result")).to_have_text(f"Sent “{title}” to every student.")

    expect(toast(student, title)).to_be_visible(timeout=5_000)
    (seen,) = toasts_seen(student, title)
    assert seen["at"] - sent_at < 1000, f"the toast came {seen['at'] - sent_at} ms after Send"
    expect(toast(student, title)).to_contain_text("Room 101, 10:00")
    expect(student.locator("#bell .badge")).to_have_text(str(student_before + 1), timeout=1_000)
    expect(student.locator("#bell")).to_have_attribute("aria-label", f"Notifications, {student_before + 1} unread")
    expect(student).to_have_title(re.compile(rf"^\({student_before + 1}\) "))

    student.locator("#bell").click()
    item = notification_item(student, title)
    expect(item).to_have_count(1)
    expect(item).to_contain_text("to every student")
    expect(item).to_have_class(re.compile(r"\bunread\b"))

    # The advisor's page got nothing: no toast, no list item, the same badge.
    advisor.wait_for_timeout(500)
    assert toasts_seen(advisor, title) == []
    advisor.locator("#bell").click()
    expect(notification_item(advisor, title)).to_have_count(0)
    assert badge(advisor) == advisor_before

    # Marking it read from the dropdown clears it from the badge.
    item.get_by_role("button", name=f"Mark read: {title}").click()
    expect(item).to_have_class(re.compile(r"\bread\b"))
    expect(item.get_by_role("button", name=re.compile("Mark read"))).to_be_hidden()
    assert badge(student) == student_before
    expect(toast(student, title)).to_have_count(0)  # a read notification's toast goes away


def test_marking_read_in_one_tab_updates_the_other_tab_of_the_same_user(pages, server):
    read_everything(server, "bob")
    context = pages.context()
    first = pages.sign_in("bob", page=pages.page(context))
    second = pages.page(context)
    second.goto(server.url + "/")  # the tabs share the sign-in
    expect(second.locator("#connection")).to_have_text("Live", timeout=10_000)

    bob = user_id(server, "bob")
    titles = [unique("Draft feedback"), unique("Lab booking")]
    for title in titles:
        server.notify(api_token(server, "dave"), title=title, recipient_type="user", recipient_id=str(bob))
    for tab in (first, second):
        expect(toast(tab, titles[1])).to_be_visible()
    expect(first.locator("#bell .badge")).to_have_text("2")
    expect(second.locator("#bell .badge")).to_have_text("2")

    first.locator("#bell").click()
    notification_item(first, titles[0]).get_by_role("button", name=re.compile("Mark read")).click()
    second.locator("#bell").click()
    expect(notification_item(second, titles[0])).to_have_class(re.compile(r"\bread\b"))
    expect(notification_item(second, titles[1])).to_have_class(re.compile(r"\bunread\b"))
    expect(second.locator("#bell .badge")).to_have_text("1")

    second.get_by_role("button", name="Mark all as read").click()
    expect(first.locator("#bell .badge")).to_be_hidden()
    expect(first.locator("#bell")).to_have_attribute("aria-label", "Notifications, none unread")
    expect(notification_item(first, titles[1])).to_have_class(re.compile(r"\bread\b"))
    expect(toast(first, titles[1])).to_have_count(0)

    # Signing out in one tab signs the other out too.
    first.get_by_role("button", name="Sign out").click()
    expect(second.get_by_role("heading", name="Sign in to Clarion")).to_be_visible()
    expect(second.get_by_role("alert")).to_have_text("You signed out in another tab.")


def test_markup_in_a_notification_is_shown_as_text_never_run(pages, server):
    student = pages.sign_in("alice")
    marker = unique("xss")
    title = f'<img src=x onerror=alert(1)><script>alert(2)</script> {marker}'
    message = '<a href="javascript:alert(3)">click</a><b onmouseover=alert(4)>bold</b>'
    server.notify(api_token(server, "dave"), title=title, message=message, recipient_type="user",
                  recipient_id=str(user_id(server, "alice")), link="javascript:alert(5)")

    shown = toast(student, marker)
    expect(shown.locator(".toast-title")).to_have_text(title)
    expect(shown.locator(".toast-message")).to_have_text(message)
    student.locator("#bell").click()
    item = notification_item(student, marker)
    expect(item.locator(".note-title")).to_have_text(title)
    expect(item.locator(".note-message")).to_have_text(message)
    shown.hover()  # would fire an injected onmouseover
    item.hover()
    # No element was made from the markup, and the javascript: link did not become a link.
    created = student.evaluate("""() => ({
        img: document.querySelectorAll('#app img, .toasts img').length,
        script: document.querySelectorAll('#app script, .toasts script').length,
        b: document.querySelectorAll('#app b, .toasts b').length,
        handlers: document.querySelectorAll('[onerror], [onmouseover]').length,
        jsLinks: [...document.querySelectorAll('a')].filter((a) => a.href.startsWith('javascript:')).length,
    })""")
    assert created == {"img": 0, "script": 0, "b": 0, "handlers": 0, "jsLinks": 0}
    expect(item.get_by_role("link")).to_have_count(0)
    student.wait_for_timeout(300)
    assert pages.dialogs == []  # checked again by the fixture, after everything


def test_the_bell_works_from_the_keyboard(pages):
    page = pages.sign_in("alice")
    page.locator("#bell").focus()
    page.keyboard.press("Enter")
    panel = page.locator("#notification-panel")
    expect(panel).to_be_visible()
    expect(page.locator("#bell")).to_have_attribute("aria-expanded", "true")
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Mark all as read")).to_be_focused()
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(page.locator("#bell")).to_be_focused()
    expect(page.locator("#bell")).to_have_attribute("aria-expanded", "false")
    assert unlabelled_controls(page) == []


def test_readable_on_a_phone(pages):
    phone = {"viewport": {"width": 360, "height": 740}, "is_mobile": True, "has_touch": True, "device_scale_factor": 2}
    page = pages.page(**phone)
    page.goto(pages.server.url + "/")
    assert no_horizontal_scroll(page)
    assert unlabelled_controls(page) == []
    pages.sign_in("alice", page=page)
    page.locator("#bell").click()
    box = page.locator("#notification-panel").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 360
    assert no_horizontal_scroll(page)
    for path in ("/projects/1/", "/rooms/project-1/"):
        page.goto(pages.server.url + path)
        expect(page.locator(".stream-status")).to_have_text("Live")
        assert no_horizontal_scroll(page), path
