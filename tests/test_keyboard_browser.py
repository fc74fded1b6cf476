"""Keyboard only, in Chromium: adding a thread with the crosshair, opening and closing threads
from their pins with focus coming back, the names screen readers read, and the polite
announcement of another user's new thread. No mouse anywhere here."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect

from tests.widget_page import RUNTIMES, Viewer

pytestmark = pytest.mark.browser

IMAGE_NAME = "Image with comments. Press Enter to add a comment."


def snapshot_markers(server) -> list[dict]:
    answer = httpx.get(f"{server.url}/api/v1/tenants/demo/snapshot", params={"urlId": "demo-dashboard-v1"})
    return answer.json()["markers"]


def tab_to(page: Page, target: Locator, limit: int = 30) -> None:
    """Press Tab until `target` has the focus (the demo page has links before the image)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if target.evaluate("node => node.getRootNode().activeElement === node"):
            return
    raise AssertionError("Tab never reached the target")


def announcer(viewer: Viewer) -> Locator:
    return viewer.widget.locator("[aria-live=polite]")


def add_thread_by_keyboard(viewer: Viewer, right: int, down: int, text: str, name: str) -> None:
    """From the focused image: Enter, arrows (1% of the image each), Enter, the composer (`name`:
    typed when the user has none yet)."""
    page = viewer.page
    page.keyboard.press("Enter")
    crosshair = viewer.widget.locator(".crosshair")
    expect(crosshair).to_be_visible()
    expect(announcer(viewer)).to_contain_text("move with the arrow keys")
    for _ in range(right):
        page.keyboard.press("ArrowRight")
    for _ in range(down):
        page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    expect(crosshair).to_be_hidden()
    expect(viewer.popover.locator(".title")).to_have_text("New thread")
    if name:  # a first comment asks for the user's name first
        expect(viewer.popover.locator("input.name")).to_be_focused()
        page.keyboard.type(name)
        page.keyboard.press("Tab")
    expect(viewer.popover.locator("textarea.message")).to_be_focused()
    page.keyboard.type(text)
    page.keyboard.press("Control+Enter")


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_thread_is_added_opened_read_and_closed_with_the_keyboard_alone(new_context, fresh_server, runtime):
    alice = Viewer(new_context(fresh_server).new_page(), runtime).open()
    bob = Viewer(new_context(fresh_server).new_page(), runtime).open()

    # The image is a focus stop that says what Enter does.
    expect(alice.layer).to_have_accessible_name(IMAGE_NAME)
    tab_to(alice.page, alice.layer)
    add_thread_by_keyboard(alice, right=3, down=5, text="The legend overlaps the chart", name="Ada")
    expect(alice.popover.locator(".title")).to_have_text("Thread #1")
    expect(bob.pins).to_have_count(1)
    [marker] = snapshot_markers(fresh_server)
    assert (marker["x"], marker["y"]) == (pytest.approx(0.53), pytest.approx(0.55))  # from the middle

    # Bob hears of it politely; his focus stays where it was. Alice does not hear of her own.
    expect(announcer(bob)).to_have_text("New thread by Ada: The legend overlaps the chart")
    expect(bob.popover).to_be_hidden()
    expect(announcer(alice)).not_to_contain_text("New thread")

    # Escape closes the thread and gives the focus to its pin.
    alice.page.keyboard.press("Escape")
    expect(alice.popover).to_be_hidden()
    expect(alice.pins.nth(0)).to_be_focused()

    # A second thread, higher and further left: still second in Tab's order (numbers' order).
    alice.page.keyboard.press("Shift+Tab")
    expect(alice.layer).to_be_focused()
    add_thread_by_keyboard(alice, right=0, down=0, text="Wrong date range", name="")
    expect(alice.popover.locator(".title")).to_have_text("Thread #2")
    expect(bob.pins).to_have_count(2)
    expect(announcer(bob)).to_have_text("New thread by Ada: Wrong date range")

    # Bob: Tab to the pins, in number order, each named for a screen reader.
    tab_to(bob.page, bob.layer)
    bob.page.keyboard.press("Tab")
    expect(bob.pins.nth(0)).to_be_focused()
    expect(bob.pins.nth(0)).to_have_accessible_name("Thread 1 of 2, 1 comment, by Ada: The legend overlaps the chart")
    bob.page.keyboard.press("Tab")
    expect(bob.pins.nth(1)).to_be_focused()
    expect(bob.pins.nth(1)).to_have_accessible_name("Thread 2 of 2, 1 comment, by Ada: Wrong date range")
    bob.page.keyboard.press("Shift+Tab")

    # Enter opens the thread and takes the focus into it; Tab goes on in its natural order.
    bob.page.keyboard.press("Enter")
    expect(bob.popover).to_be_visible()
    expect(bob.popover).to_be_focused()
    expect(bob.popover).to_have_accessible_name("Thread #1")
    order = []
    for _ in range(4):
        bob.page.keyboard.press("Tab")
        order.append(bob.page.evaluate(
            "() => { const e = document.querySelector('image-chat').shadowRoot.activeElement;"
            " return e.getAttribute('aria-label') || e.textContent; }"))
    assert order == ["Close", "Your name", "Reply…", "Reply"]
    bob.page.keyboard.press("Shift+Tab")
    bob.page.keyboard.press("Shift+Tab")
    bob.page.keyboard.type("Bob")
    bob.page.keyboard.press("Tab")
    bob.page.keyboard.type("Moving it below")
    bob.page.keyboard.press("Control+Enter")
    expect(bob.comments).to_have_count(2)
    expect(alice.pins.nth(0)).to_have_accessible_name(  # Alice has thread 2 open: her pin 1 tells
        "Thread 1 of 2, 2 comments, by Ada: The legend overlaps the chart")
    bob.page.keyboard.press("Escape")
    expect(bob.popover).to_be_hidden()
    expect(bob.pins.nth(0)).to_be_focused()
    # Space opens it too (a <button>).
    bob.page.keyboard.press(" ")
    expect(bob.popover.locator(".title")).to_have_text("Thread #1")
    bob.page.keyboard.press("Escape")
    expect(bob.pins.nth(0)).to_be_focused()


def test_escape_cancels_the_crosshair_and_the_thread_list_gives_focus_back(new_context, fresh_server):
    alice = Viewer(new_context(fresh_server).new_page()).open()
    page = alice.page
    tab_to(page, alice.layer)
    page.keyboard.press("Enter")
    crosshair = alice.widget.locator(".crosshair")
    expect(crosshair).to_be_visible()
    scrolled = page.evaluate("window.scrollY")  # as focusing the image left it
    page.keyboard.press("Shift+ArrowLeft")  # 5% a press
    layer = alice.layer.bounding_box()
    box = crosshair.bounding_box()
    assert box["x"] + box["width"] / 2 - layer["x"] == pytest.approx(layer["width"] * 0.45, abs=1.5)
    page.keyboard.press("Escape")
    expect(crosshair).to_be_hidden()
    expect(announcer(alice)).to_have_text("Adding a comment cancelled.")
    expect(alice.popover).to_be_hidden()
    expect(alice.layer).to_be_focused()
    assert page.evaluate("window.scrollY") == scrolled  # the arrows moved the crosshair, not the page

    # Tab away drops a shown crosshair.
    page.keyboard.press("Enter")
    expect(crosshair).to_be_visible()
    page.keyboard.press("Shift+Tab")
    expect(crosshair).to_be_hidden()

    # The draft composer: Escape closes it and gives the focus back to the image.
    tab_to(page, alice.layer)
    page.keyboard.press("Enter")
    page.keyboard.press("Enter")
    expect(alice.popover.locator(".title")).to_have_text("New thread")
    page.keyboard.press("Escape")
    expect(alice.popover).to_be_hidden()
    expect(alice.layer).to_be_focused()
    expect(alice.widget.locator(".pin")).to_have_count(0)

    # The thread list, from its button: Enter opens it with the focus in it, Escape comes back.
    add_thread_by_keyboard(alice, right=0, down=0, text="First", name="Ada")
    expect(alice.popover.locator(".title")).to_have_text("Thread #1")
    listing = alice.widget.locator(".list-toggle")
    tab_to(page, listing)
    page.keyboard.press("Enter")
    expect(alice.popover.locator(".title")).to_have_text("Threads")
    expect(alice.popover).to_be_focused()
    page.keyboard.press("Escape")
    expect(alice.popover).to_be_hidden()
    expect(listing).to_be_focused()
