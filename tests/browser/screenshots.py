"""Screenshots of the web UI for the README: ``.venv/bin/python -m tests.browser.screenshots``.

Starts its own server on a fresh embedded backend with the demo data, makes a little activity
(comments, chat, notifications), and writes docs/img/*.png. Needs the built UI
(``bash clients/web/scripts/ensure-built.sh``) and /usr/bin/chromium. Not a test: run it when
the UI's look changes.
"""

import sys
import tempfile
import threading
import time
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, PASSWORD, UI_MANIFEST
from tests.integration.harness import ServerProcess, prepare_backend

OUT = Path(__file__).resolve().parents[2] / "docs/img"
DESKTOP = {"viewport": {"width": 1280, "height": 800}}
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}


def sign_in(browser, server, username, path="/", **options):
    page = browser.new_context(**(options or DESKTOP)).new_page()
    page.goto(server.url + path)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#connection")).to_have_text("Live", timeout=10_000)
    return page


def shot(page, name, **options):
    page.wait_for_timeout(300)  # let transitions settle
    page.screenshot(path=str(OUT / f"{name}.png"), **options)
    print(f"docs/img/{name}.png")


def main():
    if not UI_MANIFEST.exists():
        sys.exit("the web UI is not built: bash clients/web/scripts/ensure-built.sh")
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "data").mkdir()
        env = prepare_backend(Path(tmp) / "data")
        env["CLARION_DEBUG"] = "1"  # the sign-in page lists the demo users
        env["CLARION_HEALTH_INTERVAL"] = "1"  # the dashboard's charts fill in a minute
        server = ServerProcess(env, Path(tmp) / "server.log").start()
        try:
            run(server)
        finally:
            server.stop()


def run(server):
    dave, carol, alice = (server.token(name) for name in ("dave", "carol", "alice"))
    for text in ("Chapter 2 reads well; cite the irrigation paper.", "Moisture sensors arrived: 12 units, in the lab."):
        server.request("POST", "/api/projects/1/comments/", {"text": text}, carol)
    server.request("POST", "/api/projects/1/submissions/", {"kind": "milestone", "title": "Prototype irrigation loop",
                                                              "note": "Runs on a timer; sensors next."}, alice)
    server.request("PATCH", "/api/projects/1/", {"status": "submitted"}, carol)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)

        page = browser.new_context(**DESKTOP).new_page()
        page.goto(server.url + "/")
        shot(page, "login")

        # The notification center: a toast arriving, the dropdown open.
        home = sign_in(browser, server, "alice")
        server.notify(dave, title="Defense schedule published", message="Room 101, Friday 10:00.",
                      notification_type="info", recipient_type="role", recipient_id="student")
        expect(home.locator(".toast")).to_have_count(1)
        home.locator("#bell").click()
        shot(home, "notifications")

        # Settings: comments off, a project muted, notifications in Thai.
        settings = sign_in(browser, server, "bob", "/settings/")
        settings.get_by_label("Comments: In the app").uncheck()
        expect(settings.locator("#settings-status")).not_to_be_empty()
        bob = server.token("bob")
        server.request("POST", "/api/mutes/", {"topic": "room:lounge"}, bob)
        settings.get_by_label("Notifications are written in").select_option("th")
        expect(settings.locator("#mutes li")).to_have_count(1)
        shot(settings, "settings")

        project = sign_in(browser, server, "alice", "/projects/1/")
        expect(project.locator("#project-feed li")).to_have_count(6)
        shot(project, "project")

        # The room, as bob sees it while alice types.
        room_alice = sign_in(browser, server, "alice", "/rooms/project-1/")
        room_bob = sign_in(browser, server, "bob", "/rooms/project-1/")
        for who, text in ((room_alice, "Draft of chapter 2 is up, sensor list included."),
                          (room_bob, "Great, I'll read it tonight."),
                          (room_alice, "Thanks! Carol wants it by Thursday.")):
            who.get_by_label("Message", exact=True).fill(text)
            who.get_by_label("Message", exact=True).press("Enter")
            who.wait_for_timeout(250)
        room_alice.get_by_label("Message", exact=True).press_sequentially("Shall we meet at")
        expect(room_bob.locator("#typing")).to_have_text("alice is typing…")
        shot(room_bob, "room")

        compose = sign_in(browser, server, "dave", "/admin/send/")
        compose.get_by_label("Title").fill("Proposal deadline moved")
        compose.get_by_label("Message (optional)").fill("Proposals are now due Monday 17:00.")
        compose.get_by_label("Type").select_option("warning")
        compose.get_by_role("button", name="Send notification").click()
        expect(compose.locator("#send-result")).not_to_be_empty()
        compose.get_by_label("One user").check()
        compose.get_by_label("User", exact=True).select_option(label="alice (student)")
        compose.get_by_label("Title").fill("Lab closed on Friday")
        compose.get_by_role("button", name="Send notification").click()
        expect(compose.locator(".sent li")).to_have_count(2)
        compose.get_by_label("Title").fill("Defense rehearsal")
        compose.get_by_label("Message (optional)").fill("Tuesday 14:00 in room 204; bring your slides.")
        compose.get_by_label("A role").check()
        compose.get_by_label("Role", exact=True).select_option("student")
        compose.get_by_label("Type").select_option("info")
        shot(compose, "compose")

        # The dashboard after a little traffic: notifications to the students, in bursts.
        health = sign_in(browser, server, "dave", "/admin/health/")
        stop = threading.Event()

        def traffic():
            n = 0
            while not stop.is_set():
                server.notify(dave, title=f"Load {n}", recipient_type="role", recipient_id="student")
                n += 1
                time.sleep(0.5 if n % 20 < 12 else 1.5)

        worker = threading.Thread(target=traffic, daemon=True)
        worker.start()
        health.wait_for_timeout(62_000)
        stop.set()
        worker.join()
        health.wait_for_timeout(4_000)
        shot(health, "health", full_page=True)

        phone = sign_in(browser, server, "carol", **PHONE)
        server.notify(dave, title="Library hours extended", message="Open until midnight during exams.",
                      recipient_type="role", recipient_id="advisor")
        expect(phone.locator(".toast")).to_have_count(1)
        phone.locator("#bell").click()
        shot(phone, "phone")

        browser.close()


if __name__ == "__main__":
    main()
