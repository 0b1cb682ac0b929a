"""Real Chromium (Debian's, through Playwright) against a real `clarion serve` and its web UI.

The UI is built from clients/web by scripts/test.sh before pytest runs (and by scripts/demo.sh);
without the build every browser test fails at once, saying how to build it.
"""

import os
import time
import uuid
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CLARION_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
UI_MANIFEST = Path(__file__).resolve().parents[2] / "src/clarion/server/static/clarion-ui/manifest.json"
PASSWORD = "demo-password"


# Module scope: sync Playwright keeps its event loop marked running in this thread, which
# would break asyncio.run() in the tests that come after the browser tests.
@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: scripts/test.sh installs Debian's chromium")
    if not UI_MANIFEST.exists():
        pytest.fail("the web UI is not built: run `bash clients/web/scripts/ensure-built.sh` "
                    "(scripts/test.sh and scripts/demo.sh do it)")
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


class Pages:
    """Browser contexts (one per simulated person) that record what must never happen: a
    JavaScript dialog (an injected alert) or an uncaught page error. Checked after each test."""

    def __init__(self, browser, server):
        self.browser = browser
        self.server = server
        self.contexts = []
        self.dialogs = []
        self.errors = []

    def context(self, **options):
        context = self.browser.new_context(**options)
        self.contexts.append(context)
        return context

    def page(self, context=None, **options):
        page = (context or self.context(**options)).new_page()
        page.on("dialog", lambda dialog: (self.dialogs.append(dialog.message), dialog.dismiss()))
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        return page

    def sign_in(self, username, path="/", page=None, live="Live", **options):
        """A page of a newly signed-in user, on ``path``, once its notifications are ``live``."""
        page = page or self.page(**options)
        page.goto(self.server.url + path)
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        wait_live(page, live)
        return page

    def close(self):
        for context in self.contexts:
            context.close()


@pytest.fixture
def pages(browser, server):
    pages = Pages(browser, server)
    yield pages
    pages.close()
    assert pages.dialogs == [], f"a page opened a dialog: {pages.dialogs}"
    assert pages.errors == [], f"uncaught errors in a page: {pages.errors}"


def wait_live(page, text="Live", timeout=10_000):
    from playwright.sync_api import expect

    expect(page.locator("#connection")).to_have_text(text, timeout=timeout)


def unique(text: str) -> str:
    return f"{text} {uuid.uuid4().hex[:8]}"


def badge(page) -> int:
    """The unread count the bell shows (its badge is hidden at 0)."""
    locator = page.locator("#bell .badge")
    return int(locator.inner_text()) if locator.is_visible() else 0


def notification_item(page, title):
    return page.locator("#notification-panel li.note").filter(has=page.locator(".note-title", has_text=title))


def toast(page, title):
    return page.locator(".toasts .toast").filter(has=page.locator(".toast-title", has_text=title))


def record_toasts(page):
    """From now on, note when each toast appears (page clock, ms since the epoch)."""
    page.evaluate("""() => {
        window.__toasts = [];
        new MutationObserver((records) => {
            for (const r of records) for (const node of r.addedNodes) {
                if (node.classList && node.classList.contains("toast")) {
                    window.__toasts.push({title: node.querySelector(".toast-title").textContent, at: Date.now()});
                }
            }
        }).observe(document.querySelector(".toasts"), {childList: true});
    }""")


def toasts_seen(page, title_part):
    return [t for t in page.evaluate("window.__toasts") if title_part in t["title"]]


_tokens: dict = {}
_ids: dict = {}


def api_token(server, username) -> str:
    """An access token for the REST API, reused for 5 minutes: token requests share one
    throttled budget per address with the UI's sign-ins (CLARION["AUTH_THROTTLE_RATE"])."""
    key = (server.port, username)
    token, at = _tokens.get(key, (None, 0.0))
    if token is None or time.monotonic() - at > 300:
        token, at = server.token(username), time.monotonic()
        _tokens[key] = (token, at)
    return token


def user_id(server, username) -> int:
    key = (server.port, username)
    if key not in _ids:
        status, me = server.request("GET", "/api/me/", token=api_token(server, username))
        assert status == 200, me
        _ids[key] = me["id"]
    return _ids[key]


def read_everything(server, *usernames):
    """Start from a known badge: these users have read every notification so far (the suite's
    other tests send to their roles too)."""
    for username in usernames:
        status, body = server.request("POST", "/api/notifications/read-all/", token=api_token(server, username))
        assert status == 200, body


def now_ms() -> int:
    return int(time.time() * 1000)


def no_horizontal_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


UNLABELLED_CONTROLS = """() => [...document.querySelectorAll('input, select, textarea, button')]
    .filter((el) => !el.closest('[hidden]') && el.type !== 'hidden')
    .filter((el) => {
        const name = (el.labels && [...el.labels].map((l) => l.textContent).join(' ').trim())
            || el.getAttribute('aria-label') || (el.tagName === 'BUTTON' && el.textContent.trim());
        return !name;
    })
    .map((el) => el.outerHTML.slice(0, 80))"""


def unlabelled_controls(page) -> list[str]:
    """Form controls and buttons a screen reader would announce without a name."""
    return page.evaluate(UNLABELLED_CONTROLS)

