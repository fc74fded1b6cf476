"""Live sync whatever the network does: cross-tab, reconnects, resume, epochs, offline.
Browser contexts are users or devices; pages in one context are tabs of one browser."""

from __future__ import annotations

import json
import re
import os
import signal
import sqlite3
import subprocess
import sys

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.conftest import wait_until
from tests.widget_page import RUNTIMES, Viewer

pytestmark = pytest.mark.browser

URL_ID = "demo-dashboard-v1"  # the demo page's image


class Rest:
    """Changes made by another user through the REST API."""

    def __init__(self, server) -> None:
        self.server = server
        self.root = f"{server.url}/api/v1/tenants/demo"
        self.created = 0
        self._headers: dict[str, str] | None = None

    @property
    def bob(self) -> dict[str, str]:
        if self._headers is None:  # signed in lazily: the server may be down when this is made
            self._headers = self.server.sign_in("Bob")
        return self._headers

    def create(self, text: str) -> str:
        self.created += 1  # each marker on a spot of its own, apart from the others
        x, y = 0.55 + 0.08 * (self.created % 5), 0.35 + 0.12 * (self.created // 5 % 5)
        answer = httpx.post(f"{self.root}/markers", headers=self.bob, json={"urlId": URL_ID, "x": x, "y": y, "text": text})
        assert answer.status_code == 201, answer.text
        return answer.json()["marker"]["id"]

    def reply(self, marker_id: str, text: str) -> None:
        answer = httpx.post(f"{self.root}/markers/{marker_id}/comments", headers=self.bob, json={"text": text})
        assert answer.status_code == 201, answer.text

    def delete(self, marker_id: str) -> None:
        assert httpx.delete(f"{self.root}/markers/{marker_id}", headers=self.bob).status_code == 200

    def snapshot(self) -> dict:
        """The image's markers, each with its whole thread (a bounded snapshot holds each thread's
        first comment and `commentCount`; the rest is read page by page)."""
        snapshot = httpx.get(f"{self.root}/snapshot", params={"urlId": URL_ID}).json()
        for marker in snapshot["markers"]:
            if marker.get("commentCount", 0) > len(marker["comments"]):
                comments, after = [], None
                while True:
                    params = {"limit": 100, **({"after": after} if after else {})}
                    page = httpx.get(f"{self.root}/markers/{marker['id']}/comments", params=params).json()
                    comments += page["comments"]
                    after = page["next"]
                    if after is None:
                        break
                marker["comments"] = comments
        return snapshot


def shown_marker_ids(viewer: Viewer) -> set[str]:
    return set(viewer.pins.evaluate_all("pins => pins.map(pin => pin.dataset.marker)"))


def expect_server_state(viewer: Viewer, rest: Rest) -> None:
    """The page shows exactly the server's markers, each thread with exactly its comments."""
    snapshot = rest.snapshot()
    expect(viewer.pins).to_have_count(len(snapshot["markers"]))
    assert shown_marker_ids(viewer) == {marker["id"] for marker in snapshot["markers"]}
    for number, marker in enumerate(snapshot["markers"], 1):
        viewer.open_thread(number)
        expect(viewer.comments.locator(".text")).to_have_text([c["text"] for c in marker["comments"]])
        viewer.popover.get_by_role("button", name="Close").click()


def record_frames(page: Page) -> dict[str, list[dict]]:
    frames: dict[str, list[dict]] = {"received": [], "sent": []}

    def on_socket(socket) -> None:
        socket.on("framereceived", lambda payload: frames["received"].append(json.loads(payload)))
        socket.on("framesent", lambda payload: frames["sent"].append(json.loads(payload)))

    page.on("websocket", on_socket)
    return frames


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_another_tab_shows_a_change_at_once_without_its_socket_and_only_once(new_context, fresh_server, runtime):
    context = new_context(fresh_server)
    tab1 = Viewer(context.new_page(), runtime).open()
    tab2 = Viewer(context.new_page(), runtime).open()
    tab2.watch_pins()
    tab2.page.evaluate("window.ImageChat.pauseLive()")  # tab 2's server events are held back

    # The user acts in the tab in front (a hidden tab paints no frames: clicks there wait on it).
    tab1.page.bring_to_front()
    tab1.drop_marker(300, 200, "Seen in the other tab first")
    expect(tab2.pins).to_have_count(1)  # through the BroadcastChannel
    tab2.page.bring_to_front()
    tab2.open_thread(1)
    expect(tab2.comments).to_have_count(1)
    tab1.page.bring_to_front()
    tab1.reply("And a reply")
    expect(tab2.comments).to_have_count(2)

    tab2.page.evaluate("window.ImageChat.resumeLive()")  # now the server's copies arrive
    tab1.popover.get_by_role("button", name="Delete marker").click()
    expect(tab2.pins).to_have_count(0)
    assert tab2.max_pins_seen() == 1


def test_after_a_server_crash_the_page_reconnects_and_ends_with_the_server_state(new_context, fresh_server):
    rest = Rest(fresh_server)
    alice = Viewer(new_context(fresh_server).new_page()).open()
    alice.watch_pins()
    alice.drop_marker(300, 200, "Before the crash")
    wait_until(lambda: len(rest.snapshot()["markers"]) == 1)
    first = rest.snapshot()["markers"][0]["id"]

    fresh_server.kill()
    alice.expect_status("reconnecting")
    expect(alice.widget.locator(".notice")).to_contain_text("read-only")
    alice.open_thread(1)  # still readable while reconnecting
    expect(alice.comments).to_have_count(1)
    alice.popover.get_by_role("button", name="Close").click()

    fresh_server.start()  # same port, same database
    rest.reply(first, "Reply after the restart")
    second = rest.create("Created after the restart")
    third = rest.create("Created and deleted")
    rest.delete(third)
    rest.reply(second, "Second thread, second comment")

    alice.expect_status("connected", timeout=30_000)
    expect_server_state(alice, rest)
    assert alice.max_pins_seen() <= 3


def test_a_page_offline_while_others_change_things_catches_up(new_context, fresh_server):
    rest = Rest(fresh_server)
    context = new_context(fresh_server)
    alice = Viewer(context.new_page()).open()
    first = rest.create("Before going offline")
    expect(alice.pins).to_have_count(1)

    context.set_offline(True)
    alice.expect_status("offline")
    rest.reply(first, "Written while Alice was offline")
    rest.create("A new thread while Alice was offline")
    context.set_offline(False)
    alice.expect_status("connected", timeout=30_000)
    expect_server_state(alice, rest)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_offline_markers_stay_readable_changes_fail_at_once_and_nothing_is_sent_later(new_context, fresh_server,
                                                                                     runtime):
    rest = Rest(fresh_server)
    context = new_context(fresh_server)
    alice = Viewer(context.new_page(), runtime).open()
    rest.create("Existing thread")
    expect(alice.pins).to_have_count(1)
    sent: list[str] = []
    alice.page.on("request", lambda request: sent.append(f"{request.method} {request.url}"))

    context.set_offline(True)
    alice.expect_status("offline")
    notice = alice.widget.locator(".notice")
    expect(notice).to_have_text("You're offline — markers are read-only until the connection returns.")
    alice.open_thread(1)
    expect(alice.comments.locator(".text")).to_have_text(["Existing thread"])
    alice.reply("A reply written offline", name="Alice")
    expect(alice.popover.locator(".error")).to_contain_text("offline")  # where she replied
    expect(alice.comments).to_have_count(1)  # not shown as if sent
    expect(alice.popover.locator("textarea.message")).to_have_value("A reply written offline")  # kept to retry
    alice.popover.get_by_role("button", name="Close").click()
    alice.layer.click(position={"x": 700, "y": 500})
    expect(alice.popover).to_be_hidden()  # no composer: a marker cannot be created
    expect(alice.widget.locator(".callout")).to_contain_text("You're offline")  # where she clicked
    expect(alice.pins).to_have_count(1)

    context.set_offline(False)
    alice.expect_status("connected", timeout=30_000)
    expect(notice).to_be_hidden()
    assert not [request for request in sent if not request.startswith("GET")]  # nothing queued
    assert len(rest.snapshot()["markers"][0]["comments"]) == 1

    alice.drop_marker(700, 500, "Back online: this works")
    expect(alice.pins).to_have_count(2)
    wait_until(lambda: len(rest.snapshot()["markers"]) == 2)


def test_a_resume_beyond_the_replay_limit_loads_the_full_snapshot(new_context, server_with):
    server = server_with("--replay-limit", "2")
    rest = Rest(server)
    context = new_context(server)
    page = context.new_page()
    frames = record_frames(page)
    rest.create("Zero")  # the image's history (and epoch) starts before Alice comes
    alice = Viewer(page).open()
    expect(alice.pins).to_have_count(1)
    context.set_offline(True)
    alice.expect_status("offline")
    marker = rest.create("One")
    rest.reply(marker, "Two")
    rest.create("Three")
    context.set_offline(False)
    alice.expect_status("connected", timeout=30_000)
    expect_server_state(alice, rest)
    acks = [frame for frame in frames["received"] if frame["type"] == "subscribed"]
    assert acks[-1]["resume"] is False and acks[-1]["reason"] == "too_old"


def test_a_new_epoch_replaces_what_the_page_shows_with_the_snapshot(new_context, fresh_server):
    rest = Rest(fresh_server)
    context = new_context(fresh_server)
    alice = Viewer(context.new_page()).open()
    rest.create("From a history that will be lost")
    expect(alice.pins).to_have_count(1)
    context.set_offline(True)
    alice.expect_status("offline")
    # A backup from before that marker is restored, then the operator rotates the epochs.
    with sqlite3.connect(fresh_server.db_path) as db:
        db.execute("DELETE FROM comments")
        db.execute("DELETE FROM markers")
    subprocess.run([sys.executable, "-m", "imagechat", "rotate-epochs",
                    "--database-url", f"sqlite:///{fresh_server.db_path}"], check=True, capture_output=True)
    context.set_offline(False)
    alice.expect_status("connected", timeout=30_000)
    expect(alice.pins).to_have_count(0)


def test_a_gap_in_live_events_is_filled_by_a_resume(new_context, fresh_server):
    rest = Rest(fresh_server)
    page = new_context(fresh_server).new_page()
    frames = record_frames(page)
    alice = Viewer(page).open()
    alice.watch_pins()
    page.evaluate("window.ImageChat.pauseLive()")
    first = rest.create("Lost on the way")
    rest.reply(first, "Arrives")
    rest.create("Arrives too")
    page.evaluate("window.ImageChat.resumeLive(1)")  # the first event is lost
    expect_server_state(alice, rest)
    assert {"type": "resume", "since": 0} in frames["sent"]
    assert alice.max_pins_seen() == 2


def test_a_silently_dead_connection_is_detected_by_the_heartbeat(new_context, server_with):
    server = server_with("--heartbeat-seconds", "1")
    alice = Viewer(new_context(server).new_page()).open()
    os.kill(server.process.pid, signal.SIGSTOP)  # no close frame, no FIN: just silence
    try:
        alice.expect_status("reconnecting", timeout=10_000)
    finally:
        os.kill(server.process.pid, signal.SIGCONT)
    alice.expect_status("connected", timeout=30_000)


def test_a_change_the_server_refuses_is_rolled_back_and_the_user_told_why(new_context, fresh_server):
    rest = Rest(fresh_server)
    alice = Viewer(new_context(fresh_server).new_page()).open()
    marker = rest.create("Bob's thread")
    expect(alice.pins).to_have_count(1)
    alice.open_thread(1)
    alice.page.evaluate("window.ImageChat.pauseLive()")  # Alice has not heard of the deletion yet
    rest.delete(marker)
    alice.reply("A reply to a thread that is gone", name="Alice")
    expect(alice.popover.locator(".error")).to_have_text("Not saved: this thread was deleted in the meantime.")
    expect(alice.popover.locator("textarea.message")).to_have_value("A reply to a thread that is gone")
    expect(alice.comments).to_have_count(1)  # the reply shown at once was taken back
    alice.page.evaluate("window.ImageChat.resumeLive()")
    expect(alice.pins).to_have_count(0)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_page_that_saw_the_image_empty_resumes_after_a_reconnect(new_context, fresh_server, runtime):
    """The image had no thread when Alice opened it (its snapshot has no epoch): she learns the
    epoch from the first event, so a reconnect is answered by a replay, not a reload."""
    rest = Rest(fresh_server)
    context = new_context(fresh_server)
    page = context.new_page()
    frames = record_frames(page)
    snapshots: list[str] = []
    page.on("request", lambda request: snapshots.append(request.url) if "/snapshot" in request.url else None)
    alice = Viewer(page, runtime).open()
    first = rest.create("The image's first thread")
    expect(alice.pins).to_have_count(1)

    context.set_offline(True)  # the socket is cut
    alice.expect_status("offline")
    rest.reply(first, "Written while Alice's socket was down")
    context.set_offline(False)
    alice.expect_status("connected", timeout=30_000)
    expect_server_state(alice, rest)
    acks = [frame for frame in frames["received"] if frame["type"] == "subscribed"]
    assert acks[-1]["resume"] is True, acks
    assert len(snapshots) == 1


def test_an_unconfirmed_change_looks_pending_and_a_refused_one_rolls_back_where_it_was_made(new_context, fresh_server):
    page = new_context(fresh_server).new_page()
    alice = Viewer(page).open()
    held = []
    page.route("**/api/v1/tenants/demo/markers", lambda route: held.append(route))  # the server is slow
    with page.expect_request("**/api/v1/tenants/demo/markers"):
        alice.drop_marker(300, 200, "Waiting for the server")
    expect(alice.pins).to_have_count(1)
    expect(alice.pins.first).to_have_class(re.compile(r"\bpending\b"))
    expect(alice.comments.first).to_have_class(re.compile(r"\bpending\b"))
    expect(alice.comments.first.locator(".time")).to_have_text("sending…")
    assert len(held) == 1
    held[0].continue_()
    expect(alice.pins.first).not_to_have_class(re.compile(r"\bpending\b"))
    expect(alice.comments.first).not_to_have_class(re.compile(r"\bpending\b"))
    page.unroute("**/api/v1/tenants/demo/markers")

    # Refused: the pin goes, the draft comes back at its spot with its text and the reason.
    page.route("**/api/v1/tenants/demo/markers", lambda route: route.fulfill(
        status=409, json={"error": "id_taken", "message": "id 'x' is taken"}))
    alice.popover.get_by_role("button", name="Close").click()
    alice.drop_marker(700, 300, "Refused by the server")
    expect(alice.pins).to_have_count(1)  # only the first
    expect(alice.popover.locator(".error")).to_have_text(
        "Not saved: it conflicts with a change made elsewhere. Please try again.")
    expect(alice.popover.locator("textarea.message")).to_have_value("Refused by the server")
    expect(alice.widget.locator(".pin.draft")).to_have_count(1)

    # A refused reply: taken back, the reason in the thread, the text back in the composer.
    page.route("**/api/v1/tenants/demo/markers/*/comments", lambda route: route.fulfill(
        status=403, json={"error": "forbidden", "message": "no"}))
    alice.popover.get_by_role("button", name="Cancel").click()
    alice.open_thread(1)
    alice.reply("A reply the server refuses")
    expect(alice.popover.locator(".error")).to_have_text("Not saved: only the author, or a moderator, may do that.")
    expect(alice.comments).to_have_count(1)
    expect(alice.popover.locator("textarea.message")).to_have_value("A reply the server refuses")


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_an_own_new_marker_is_numbered_after_the_existing_ones_while_pending(new_context, fresh_server, runtime):
    """Pins are numbered in the order their markers were made: a pending one, stamped with the
    browser's clock, comes after those the server made before it (on MicroPython too, where the
    clock's milliseconds do not fit the 32 bits it passes whole numbers from JavaScript in)."""
    rest = Rest(fresh_server)
    rest.create("Made before")
    page = new_context(fresh_server).new_page()
    alice = Viewer(page, runtime).open()
    expect(alice.pins).to_have_count(1)
    held = []
    page.route("**/api/v1/tenants/demo/markers", lambda route: held.append(route))
    with page.expect_request("**/api/v1/tenants/demo/markers"):
        alice.drop_marker(300, 200, "Made now")
    expect(alice.pins.nth(1)).to_have_class(re.compile(r"\bpending\b"))
    expect(alice.pins).to_have_text(["1", "2"])
    held[0].continue_()
    expect(alice.pins.nth(1)).not_to_have_class(re.compile(r"\bpending\b"))
    expect(alice.pins).to_have_text(["1", "2"])
