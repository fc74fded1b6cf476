"""Composing, in Chromium: dragging the new thread's pin before posting, Ctrl/Cmd+Enter to send, a
pin's first comment on hover, and the list of the image's threads."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from tests.widget_page import RUNTIMES, Viewer

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parent.parent / "test-results" / "screenshots"


def snapshot_markers(server) -> list[dict]:
    answer = httpx.get(f"{server.url}/api/v1/tenants/demo/snapshot", params={"urlId": "demo-dashboard-v1"})
    return answer.json()["markers"]


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_the_draft_pin_is_dragged_then_ctrl_enter_posts_it_where_it_was_dropped(new_context, fresh_server, runtime):
    alice = Viewer(new_context(fresh_server).new_page(), runtime).open()
    bob = Viewer(new_context(fresh_server).new_page(), runtime).open()
    alice.layer.click(position={"x": 300, "y": 200})
    alice.popover.locator("input.name").fill("Ada")
    draft = alice.widget.locator(".pin.draft")
    start = draft.bounding_box()
    layer = alice.layer.bounding_box()
    alice.page.mouse.move(start["x"] + start["width"] / 2, start["y"] + start["height"] / 2)
    alice.page.mouse.down()
    alice.page.mouse.move(layer["x"] + 500, layer["y"] + 350, steps=5)
    alice.page.mouse.up()
    moved = draft.bounding_box()
    assert abs(moved["x"] + moved["width"] / 2 - (layer["x"] + 500)) <= 1.5
    assert abs(moved["y"] + moved["height"] / 2 - (layer["y"] + 350)) <= 1.5
    box = alice.popover.locator("textarea.message")
    box.fill("Dropped where it belongs")
    box.press("Control+Enter")
    expect(alice.popover.locator(".title")).to_have_text("Thread #1")
    expect(bob.pins).to_have_count(1)
    [marker] = snapshot_markers(fresh_server)
    assert abs(marker["x"] * layer["width"] - 500) <= 1 and abs(marker["y"] * layer["height"] - 350) <= 1

    # Ctrl/Cmd+Enter replies too; a plain Enter is a new line.
    bob.open_thread(1)
    bob.popover.locator("input.name").fill("Bob")
    reply = bob.popover.locator("textarea.message")
    reply.fill("Agreed")
    reply.press("Enter")
    reply.press("Meta+Enter")
    expect(bob.comments).to_have_count(2)
    expect(alice.comments.nth(1).locator(".text")).to_have_text("Agreed")


def test_the_draft_pin_moves_with_the_arrow_keys(new_context, fresh_server):
    alice = Viewer(new_context(fresh_server).new_page()).open()
    alice.layer.click(position={"x": 300, "y": 200})
    draft = alice.widget.locator(".pin.draft")
    before = draft.bounding_box()
    draft.focus()
    for _ in range(3):
        alice.page.keyboard.press("ArrowRight")
    alice.page.keyboard.press("ArrowUp")
    layer = alice.layer.bounding_box()
    after = draft.bounding_box()
    # Centres: the pin grows under the pointer (a 0.12 s transition), so its edges move as it does.
    assert centre(after, "x") - centre(before, "x") == pytest.approx(layer["width"] * 0.03, abs=1.5)
    assert centre(before, "y") - centre(after, "y") == pytest.approx(layer["height"] * 0.01, abs=1.5)


def centre(box: dict, axis: str) -> float:
    return box[axis] + box["width" if axis == "x" else "height"] / 2


def test_hovering_a_pin_previews_its_first_comment(new_context, fresh_server):
    alice = Viewer(new_context(fresh_server).new_page()).open()
    bob = Viewer(new_context(fresh_server).new_page()).open()
    alice.drop_marker(300, 200, "The legend overlaps the chart, and it hides the June value too")
    expect(bob.pins).to_have_count(1)
    preview = bob.widget.locator(".preview")
    expect(preview).to_be_hidden()
    bob.pins.first.hover()
    expect(preview).to_be_visible()
    expect(preview).to_have_text("AdaThe legend overlaps the chart, and it hides the June value too")
    assert preview.bounding_box()["height"] < 30  # one line
    bob.page.mouse.move(5, 5)  # off the image
    expect(preview).to_be_hidden()


def test_the_thread_list_shows_unresolved_first_with_counts_and_opens_a_thread(new_context, fresh_server):
    alice = Viewer(new_context(fresh_server).new_page()).open()
    listing = alice.widget.get_by_role("button", name="Threads")
    expect(listing).to_be_hidden()  # no thread yet
    for x, y, text in [(300, 200, "First"), (700, 450, "Second"), (1000, 150, "Third")]:
        alice.drop_marker(x, y, text)
        alice.popover.get_by_role("button", name="Close").click()
    alice.open_thread(1)
    alice.popover.get_by_role("button", name="Resolve").click()
    alice.open_thread(2)
    alice.reply("A reply", name="Ada")
    expect(alice.comments).to_have_count(2)
    alice.popover.get_by_role("button", name="Close").click()

    expect(listing).to_have_text("Threads (3)")
    listing.click()
    expect(alice.popover.locator(".title")).to_have_text("Threads")
    entries = alice.popover.locator(".thread-entry")
    expect(entries.locator(".number")).to_have_text(["#2", "#3", "#1"])  # unresolved first
    expect(entries.locator(".first")).to_have_text(["Ada: Second", "Ada: Third", "Ada: First"])
    expect(entries.locator(".count")).to_have_text(["2", "1", "✓ 1"])
    # The list opens from the image's lower corner: the image's bottom in view for the picture.
    alice.page.locator("img[data-image-chat]").evaluate("img => img.scrollIntoView({block: 'end'})")
    alice.pins.nth(0).hover()  # a resolved pin's preview, over the list's corner
    expect(alice.widget.locator(".preview")).to_be_visible()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    alice.page.screenshot(path=str(SCREENSHOTS / "thread-list.png"))
    entries.nth(1).click()
    expect(alice.popover.locator(".title")).to_have_text("Thread #3")
    expect(alice.comments.locator(".text")).to_have_text(["Third"])
