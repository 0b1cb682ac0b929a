"""The server's page in real Chromium: sign in, receive live, mark read, send as admin."""

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.integration


def sign_in(browser, server, username):
    page = browser.new_context().new_page()
    page.goto(server.url + "/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("demo-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#status")).to_have_text("live", timeout=10_000)
    return page


def test_admin_sends_to_students_and_only_students_see_it(browser, server):
    student = sign_in(browser, server, "alice")
    advisor = sign_in(browser, server, "carol")
    admin = sign_in(browser, server, "dave")
    expect(student.locator("#compose")).to_be_hidden()
    before = int(student.locator("#unread").inner_text())

    admin.get_by_label("To").select_option("role")
    admin.get_by_label("Recipient").fill("student")
    admin.get_by_label("Title").fill("<img src=x onerror=alert(1)> Defense rooms posted")
    admin.get_by_role("button", name="Send").click()
    expect(admin.locator("#compose-result")).to_contain_text("sent #")

    item = student.locator("#list li").filter(has_text="Defense rooms posted")
    expect(item).to_have_count(1, timeout=2_000)
    # Markup in a title is shown as text, never run.
    expect(item.locator("strong")).to_have_text("<img src=x onerror=alert(1)> Defense rooms posted")
    expect(student.locator("#unread")).to_have_text(str(before + 1))
    expect(advisor.locator("#list li").filter(has_text="Defense rooms posted")).to_have_count(0)

    item.click()
    expect(item).to_have_class("info read")
    expect(student.locator("#unread")).to_have_text(str(before))
