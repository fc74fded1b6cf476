"""A full image (500 markers) with a long thread: snapshots hold each thread's first comment and
its count; the widget loads the rest of a thread, page by page, when it is opened."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from playwright.sync_api import expect

from tests.conftest import NO_RATE_LIMITS
from tests.widget_page import PYTHON_START_TIMEOUT, Viewer

pytestmark = pytest.mark.browser

URL_ID = "demo-dashboard-v1"  # the demo page's image
MARKERS = 500
LONG_THREAD = 300


def test_a_full_image_and_a_long_thread_load_and_take_a_reply(new_context, server_with):
    server = server_with(*NO_RATE_LIMITS)
    headers = server.sign_in("Bob")
    root = f"{server.url}/api/v1/tenants/demo"

    def create(n: int) -> str:
        answer = client.post(f"{root}/markers", headers=headers, json={
            "urlId": URL_ID, "x": 0.02 + 0.04 * (n % 25), "y": 0.03 + 0.048 * (n // 25), "text": f"Marker {n}"})
        assert answer.status_code == 201, answer.text
        return answer.json()["marker"]["id"]

    def reply(n: int) -> None:
        answer = client.post(f"{root}/markers/{long_thread}/comments", headers=headers, json={"text": f"Reply {n}"})
        assert answer.status_code == 201, answer.text

    with httpx.Client(timeout=30) as client:
        long_thread = create(0)
        for n in range(1, LONG_THREAD):  # in order: the thread's order is the replies' order
            reply(n)
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(create, range(1, MARKERS)))

    page = new_context(server).new_page()
    pages: list[str] = []
    page.on("request", lambda request: pages.append(request.url) if "/comments?" in request.url else None)
    alice = Viewer(page).open()
    expect(alice.pins).to_have_count(MARKERS, timeout=PYTHON_START_TIMEOUT)
    expect(alice.pins.first).to_have_attribute("aria-label", f"Thread 1 of {MARKERS}, {LONG_THREAD} comments, by Bob: Marker 0")

    alice.open_thread(1)
    expect(alice.popover.locator(".count")).to_have_text(f"{LONG_THREAD} comments")
    expect(alice.comments).to_have_count(LONG_THREAD)
    expect(alice.comments.locator(".text")).to_have_text(
        ["Marker 0", *[f"Reply {n}" for n in range(1, LONG_THREAD)]])
    assert len(pages) == 3  # the snapshot held the first comment; three pages of 100 hold them all

    alice.reply("Read them all", name="Alice")
    expect(alice.comments).to_have_count(LONG_THREAD + 1)
    expect(alice.popover.locator(".count")).to_have_text(f"{LONG_THREAD + 1} comments")
    expect(alice.comments.last).not_to_have_class(re.compile(r"\bpending\b"))  # confirmed
    assert httpx.get(f"{root}/snapshot", params={"urlId": URL_ID}).json()["seq"] == MARKERS + LONG_THREAD
