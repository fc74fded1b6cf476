"""Touch screens, in Chromium emulating a phone (Playwright's "Pixel 7": 412 px wide, touch):
tap to place and post, tap to open, the thread as a sheet across the bottom, pins hit over at
least 32 px, and the page still scrolls and zooms under a finger on the image."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.widget_page import Viewer

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "test-results" / "screenshots"


@pytest.fixture
def phone(new_context, playwright, fresh_server):
    """New phone contexts on the fresh server."""
    return lambda: new_context(fresh_server, **playwright.devices["Pixel 7"])


def post_by_tap(viewer: Viewer, x: int, y: int, text: str) -> None:
    """A thread started with taps only, its popover closed after."""
    viewer.layer.tap(position={"x": x, "y": y})
    viewer.popover.locator("input.name").fill("Ada")
    viewer.popover.locator("textarea.message").fill(text)
    viewer.popover.get_by_role("button", name="Comment").tap()
    viewer.popover.get_by_role("button", name="Close").tap()


def test_tap_to_place_post_and_open_a_thread_shown_as_a_bottom_sheet(phone):
    ada = Viewer(phone().new_page()).open()
    bob = Viewer(phone().new_page()).open()
    assert ada.page.evaluate("matchMedia('(pointer: coarse)').matches")
    ada.layer.tap(position={"x": 120, "y": 70})
    expect(ada.popover.locator(".title")).to_have_text("New thread")
    ada.popover.locator("input.name").fill("Ada")
    ada.popover.locator("textarea.message").fill("This number is cut off on phones")
    ada.popover.get_by_role("button", name="Comment").tap()
    expect(ada.popover.locator(".title")).to_have_text("Thread #1")
    expect(bob.pins).to_have_count(1)

    bob.pins.first.tap()
    expect(bob.popover.locator(".title")).to_have_text("Thread #1")
    # The sheet: the whole width of the screen, down to its bottom edge, over the page.
    viewport = bob.page.viewport_size
    sheet = bob.popover.bounding_box()
    assert sheet["x"] == 0 and sheet["width"] == viewport["width"]
    assert sheet["y"] + sheet["height"] == pytest.approx(viewport["height"], abs=1)
    assert sheet["height"] < viewport["height"] * 0.8
    bob.popover.locator("input.name").fill("Bob")
    bob.popover.locator("textarea.message").fill("Same on my tablet")
    bob.popover.get_by_role("button", name="Reply").tap()
    expect(ada.comments).to_have_count(2)
    bob.popover.get_by_role("button", name="Close").tap()
    expect(bob.popover).to_be_hidden()
    bob.pins.first.tap()  # a tap opens without focusing the composer: no phone keyboard over it
    expect(bob.comments).to_have_count(2)
    # The image at the screen's top, the sheet still at its bottom.
    bob.widget.evaluate("node => { node.scrollIntoView({block: 'start'}); window.scrollBy(0, -12); }")
    expect(bob.popover).to_have_css("position", "fixed")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    bob.page.screenshot(path=str(SCREENSHOTS / "phone.png"))


def test_pins_are_hit_over_at_least_32_px_whatever_their_drawn_size(phone):
    ada = Viewer(phone().new_page()).open()
    post_by_tap(ada, 150, 90, "Small pin")
    expect(ada.popover).to_be_hidden()
    pin = ada.pins.first
    box = pin.bounding_box()
    centre_x, centre_y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    # Whatever a theme makes the drawn pin (here 20 px), a tap 16 px off its centre opens it.
    ada.page.evaluate("document.querySelector('image-chat').style.setProperty('--imagechat-marker-size', '20px')")
    expect(pin).to_have_css("width", "20px")
    for dx, dy in [(16, 0), (-16, 0), (0, 16), (0, -16)]:
        ada.page.touchscreen.tap(centre_x + dx, centre_y + dy)
        expect(ada.popover.locator(".title")).to_have_text("Thread #1")
        ada.popover.get_by_role("button", name="Close").tap()
        expect(ada.popover).to_be_hidden()
    # Further off, the tap is the image's: a new thread's composer there, not the pin's thread.
    ada.page.touchscreen.tap(centre_x + 40, centre_y)
    expect(ada.popover.locator(".title")).to_have_text("New thread")


def touch_gesture(cdp, fingers: list[tuple[float, float]], move: list[tuple[float, float]], steps: int = 10) -> None:
    """Fingers put down at `fingers`, each moved by its `move` in `steps`, then lifted: real touch
    events from the browser's input pipeline (the page decides what scrolls and zooms)."""
    def points(step: int) -> list[dict]:
        return [{"x": x + dx * step / steps, "y": y + dy * step / steps, "id": n}
                for n, ((x, y), (dx, dy)) in enumerate(zip(fingers, move))]

    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": points(0)})
    for step in range(1, steps + 1):
        cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": points(step)})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})


def test_a_swipe_or_a_pinch_on_the_image_scrolls_or_zooms_the_page(phone):
    ada = Viewer(phone().new_page()).open()
    post_by_tap(ada, 150, 90, "A pin under the finger")
    page = ada.page
    for part in (ada.layer, ada.pins.first):
        expect(part).to_have_css("touch-action", "manipulation")
    page.evaluate("document.body.style.minHeight = '300vh'")  # room to scroll on any page length
    cdp = page.context.new_cdp_session(page)
    # A finger's swipe up from the pin, then from the image: the page scrolls, no thread opens.
    for part in (ada.pins.first, ada.layer):
        page.evaluate("window.scrollTo(0, 0)")
        box = part.bounding_box()
        touch_gesture(cdp, [(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)], [(0, -150)])
        page.wait_for_function("window.scrollY > 100")
    expect(ada.popover).to_be_hidden()
    # Two fingers spreading on the image: the page zooms in.
    box = ada.layer.bounding_box()
    middle_x, middle_y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    touch_gesture(cdp, [(middle_x - 20, middle_y), (middle_x + 20, middle_y)], [(-100, 0), (100, 0)])
    page.wait_for_function("window.visualViewport.scale > 1.5")
    expect(ada.popover).to_be_hidden()
