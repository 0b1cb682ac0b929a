"""The UI's other pages in real Chromium: a project's live feed, a room's presence, chat and
typing, composing to one user, the health dashboard's charts, and what non-admins get."""

import uuid
import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import read_everything, toast, unique, unlabelled_controls
from tests.integration.harness import run_cli

# The page, not the backend: run once, in the scale-out pass (where PostgreSQL's answers reach
# the page; its jsonb key order once did). tests/browser/test_resilience.py runs in both.
pytestmark = [pytest.mark.integration, pytest.mark.scaleout]

# The colours of the charts' lines (COLORS in clients/web/src/chart.ts).
SERIES_COLORS = [(0x1D, 0x5F, 0xD6), (0xC2, 0x41, 0x0C), (0x04, 0x78, 0x57)]


def test_a_project_page_shows_its_feed_live(pages):
    student = pages.sign_in("alice", "/projects/1/")
    advisor = pages.sign_in("carol", "/projects/1/")
    expect(student.get_by_role("heading", level=1)).to_have_text("Autonomous greenhouse")
    expect(student.locator("#project-status")).to_have_text("In progress")
    feed = student.locator("#project-feed")
    expect(feed).to_contain_text("dave created the project")  # the demo's history, from the snapshot

    text = unique("<em>Sensor list</em> looks good")
    advisor.get_by_label("Comment", exact=True).fill(text)
    advisor.get_by_role("button", name="Post comment").click()
    newest = feed.locator("li").first
    expect(newest).to_contain_text("carol commented", timeout=2_000)
    expect(newest.locator("blockquote")).to_have_text(text)  # markup stays text
    expect(advisor.get_by_label("Comment", exact=True)).to_have_value("")
    assert unlabelled_controls(student) == []


def test_a_room_shows_who_is_online_who_is_typing_and_the_chat(pages):
    alice = pages.sign_in("alice", "/rooms/project-1/")
    bob = pages.sign_in("bob", "/rooms/project-1/")
    for page in (alice, bob):
        expect(page.locator("#presence")).to_contain_text("alice")
        expect(page.locator("#presence")).to_contain_text("bob")
    expect(bob.locator("#presence li", has_text="bob")).to_contain_text("(you)")

    alice.get_by_label("Message", exact=True).press_sequentially("Draft is")
    expect(bob.locator("#typing")).to_have_text("alice is typing…")
    expect(alice.locator("#typing")).to_have_text("")  # not told about herself

    body = unique("Draft is up <b>here</b>")
    alice.get_by_label("Message", exact=True).fill(body)
    alice.get_by_label("Message", exact=True).press("Enter")
    message = bob.locator("#messages li.message").last
    expect(message.locator(".message-body")).to_have_text(body)
    expect(message.locator(".author")).to_have_text("alice")
    expect(bob.locator("#typing")).to_have_text("")
    mine = alice.locator("#messages li.message").last
    expect(mine).to_have_class(re.compile(r"\bmine\b"))
    expect(mine).not_to_have_class(re.compile(r"\bsending\b"))  # confirmed by the server
    assert bob.locator("#messages b").count() == 0
    assert unlabelled_controls(bob) == []

    alice.close()
    expect(bob.locator("#presence")).not_to_contain_text("alice", timeout=5_000)


def test_an_admin_sends_to_one_user(pages, server):
    read_everything(server, "alice", "bob")
    bob = pages.sign_in("bob")
    alice = pages.sign_in("alice")
    admin = pages.sign_in("dave", "/admin/send/")
    assert unlabelled_controls(admin) == []
    expect(admin.get_by_label("User", exact=True)).to_be_hidden()  # shown for "One user" only

    title = unique("Your lab slot moved")
    admin.get_by_label("One user").check()
    admin.get_by_label("User", exact=True).select_option(label="bob (student)")
    admin.get_by_label("Title").fill(title)
    admin.get_by_label("Type").select_option("warning")
    admin.get_by_role("button", name="Send notification").click()
    expect(admin.locator("#send-result")).to_have_text(f"Sent “{title}” to bob (student).")
    expect(admin.get_by_label("Title")).to_have_value("")

    expect(toast(bob, title)).to_be_visible()
    expect(toast(bob, title)).to_have_class(re.compile(r"\btype-warning\b"))
    alice.wait_for_timeout(500)
    expect(toast(alice, title)).to_have_count(0)

    # The server's field errors are shown at the field.
    admin.get_by_role("radio", name="Everyone").check()
    admin.get_by_label("Title").fill("   ")
    admin.get_by_role("button", name="Send notification").click()
    expect(admin.locator("#title-error")).to_have_text(re.compile("blank"))
    expect(admin.get_by_label("Title")).to_have_attribute("aria-invalid", "true")


def test_the_health_dashboard_draws_its_charts(pages):
    admin = pages.sign_in("dave", "/admin/health/")
    charts = ["connections", "messages", "latency", "cpu", "memory"]
    for name in charts:
        expect(admin.locator(f"#chart-{name}")).to_have_attribute("data-points", re.compile(r"^[3-9]|\d\d"),
                                                                   timeout=15_000)
    expect(admin.locator("#tile-database")).to_contain_text("up")
    assert int(admin.locator("#tile-processes").inner_text()) >= 1
    assert int(admin.locator("#tile-connections").inner_text()) >= 2  # this page's two sockets at least
    expect(admin.locator("table.processes tbody tr")).not_to_have_count(0)

    # Every chart has drawn lines: pixels of a series colour in its canvas (the grid is grey).
    drawn = admin.evaluate("""(colors) => [...document.querySelectorAll('.chart canvas')].map((canvas) => {
        const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        let hits = 0;
        for (let i = 0; i < data.length; i += 4) {
            if (data[i + 3] > 200 && colors.some(([r, g, b]) =>
                Math.abs(data[i] - r) < 40 && Math.abs(data[i + 1] - g) < 40 && Math.abs(data[i + 2] - b) < 40)) hits++;
        }
        return [canvas.closest('figure').id, hits];
    })""", [list(color) for color in SERIES_COLORS])
    assert [name for name, _ in drawn] == [f"chart-{name}" for name in charts]
    assert all(hits > 20 for _, hits in drawn), drawn
    labels = admin.locator(".chart canvas").evaluate_all("(cs) => cs.map((c) => c.getAttribute('aria-label'))")
    assert all("now" in label and "no data yet" not in label for label in labels), labels


def test_students_get_no_admin_tools_and_strangers_no_project(pages, server, backend):
    student = pages.sign_in("alice")
    expect(student.get_by_role("navigation", name="Main").get_by_role("link")).to_have_text(["Home", "Settings"])
    student.goto(server.url + "/admin/health/")
    expect(student.get_by_role("alert")).to_have_text("The system-health dashboard is for administrators only.")
    student.goto(server.url + "/admin/send/")
    expect(student.get_by_role("alert")).to_have_text("Only administrators may send notifications.")

    stranger_name = f"stranger{uuid.uuid4().hex[:6]}"  # unique: other tests add users of their own
    result = run_cli(backend, "adduser", stranger_name, "--role", "student", "--password", "demo-password")
    assert result.returncode == 0 or "exists" in result.stderr, result.stderr
    stranger = pages.sign_in(stranger_name, "/projects/1/")
    expect(stranger.get_by_role("alert")).to_have_text("You do not have access to this project.")
    stranger.goto(server.url + "/projects/999999/")
    expect(stranger.get_by_role("alert")).to_have_text("There is no such project.")
