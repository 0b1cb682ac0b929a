"""axe-core (WCAG 2.0 and 2.1, A and AA) on every page of the web UI, at desktop and phone width,
in real Chromium; and the bell's keyboard behaviour (issue 12).

axe-core comes from npm (clients/web's devDependencies). It is evaluated through the DevTools
protocol, which the pages' Content-Security-Policy does not govern: the policy stays as served.
"""

from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import api_token, notification_item, read_everything, unique

# The page, not the backend: run once, in the scale-out pass (where PostgreSQL's answers reach
# the page; its jsonb key order once did). tests/browser/test_resilience.py runs in both.
pytestmark = [pytest.mark.integration, pytest.mark.scaleout]

AXE = Path(__file__).resolve().parents[2] / "clients/web/node_modules/axe-core/axe.min.js"
WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
WIDTHS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}

# (who signs in, path, what shows the page is drawn); None: signed out.
PAGES = {
    "sign-in": (None, "/", "#login-heading"),
    "home": ("alice", "/", "#main h1"),
    "project": ("alice", "/projects/1/", "#project-feed li"),
    "room": ("alice", "/rooms/project-1/", "#presence li"),
    "compose": ("dave", "/admin/send/", "#main form"),
    "health": ("dave", "/admin/health/", ".processes tbody tr"),
    "settings": ("alice", "/settings/", "#delivery-form"),
}


def axe_violations(page) -> list[str]:
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: `npm ci` in clients/web installs axe-core (scripts/test.sh does)")
    page.evaluate(AXE.read_text() + "\n;undefined")
    found = page.evaluate("""async (tags) => {
        const result = await axe.run(document, {runOnly: {type: "tag", values: tags}, resultTypes: ["violations"]});
        return result.violations.map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
    }""", WCAG_AA)
    return found


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", PAGES)
def test_every_page_passes_axe(pages, name, width):
    user, path, drawn = PAGES[name]
    if user is None:
        page = pages.page(viewport=WIDTHS[width])
        page.goto(pages.server.url + path)
    else:
        page = pages.sign_in(user, path, viewport=WIDTHS[width])
    expect(page.locator(drawn).first).to_be_visible(timeout=10_000)
    assert axe_violations(page) == [], f"{name} at {width} width"


@pytest.mark.parametrize("width", WIDTHS)
def test_the_deliveries_page_passes_axe(pages, server, width):
    status, sent = server.request("POST", "/api/notifications/", {
        "recipient_type": "role", "recipient_id": "student", "title": unique("Axe on deliveries")}, api_token(server, "dave"))
    assert status == 201, sent
    page = pages.sign_in("dave", f"/admin/notifications/{sent['id']}/deliveries/", viewport=WIDTHS[width])
    expect(page.locator("#deliveries tbody tr").first).to_be_visible(timeout=10_000)
    assert axe_violations(page) == [], f"deliveries at {width} width"


@pytest.mark.parametrize("width", WIDTHS)
def test_the_open_notification_panel_passes_axe(pages, width):
    page = pages.sign_in("bob", viewport=WIDTHS[width])
    page.locator("#bell").click()
    expect(page.locator("#notification-panel")).to_be_visible()
    assert axe_violations(page) == [], f"the open panel at {width} width"


def test_marking_an_item_read_keeps_focus_in_the_panel_on_the_next_unread_one(pages, server):
    read_everything(server, "bob")
    page = pages.sign_in("bob")
    dave = server.token("dave")
    first, second = unique("First"), unique("Second")
    for title in (first, second):
        server.notify(dave, title=title, recipient_type="user", recipient_id=str(_user_id(server, "bob")))
    page.locator("#bell").click()
    expect(notification_item(page, first)).to_be_visible()
    expect(notification_item(page, second)).to_be_visible()
    panel = page.locator("#notification-panel")
    panel.get_by_role("button", name=f"Mark read: {second}").focus()  # the newest, first in the list
    page.keyboard.press("Enter")
    expect(panel.get_by_role("button", name=f"Mark read: {first}")).to_be_focused()
    page.keyboard.press("Enter")
    # Nothing unread is left: focus stays in the panel, not at the top of the page.
    expect(page.locator("#notification-panel")).to_be_focused()
    expect(page.locator("#notification-panel")).to_be_visible()


def test_tabbing_past_the_panel_closes_it(pages, server):
    page = pages.sign_in("alice")
    page.locator("#bell").click()
    panel = page.locator("#notification-panel")
    expect(panel).to_be_visible()
    for _ in range(60):
        page.keyboard.press("Tab")
        if not page.evaluate("document.getElementById('notification-panel').contains(document.activeElement)"):
            break
    expect(panel).to_be_hidden()
    expect(page.locator("#bell")).to_have_attribute("aria-expanded", "false")
    # Escape from inside the panel closes it and gives focus back to the bell.
    page.locator("#bell").click()
    expect(panel).to_be_visible()
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(page.locator("#bell")).to_be_focused()


def _user_id(server, username) -> int:
    status, me = server.request("GET", "/api/me/", token=server.token(username))
    assert status == 200, me
    return me["id"]
