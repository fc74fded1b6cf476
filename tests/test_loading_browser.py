"""While the runtime loads, and when it cannot: the image stays usable and in place, and a small pill
over its corner says comments are loading, or unavailable."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, Route, expect

from tests.widget_page import PYTHON_START_TIMEOUT, Viewer

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parent.parent / "test-results" / "screenshots"
IMAGE = "img[data-image-chat]"
VIEWPORT = {"width": 1280, "height": 1200}  # the demo's whole image in view, its corners included


@pytest.fixture
def open_page(new_context, server):
    """A new page on the session's server, tall enough to show the demo's whole image."""
    def open_new() -> Page:
        page = new_context(server).new_page()
        page.set_viewport_size(VIEWPORT)
        return page
    return open_new


def image_box(page: Page) -> dict:
    return page.locator(IMAGE).bounding_box()


def image_is_uncovered(page: Page) -> bool:
    """Nothing of the widget catches the pointer over the image: at its middle and under the pill
    in its corner, the topmost element is the image itself."""
    return page.evaluate("""(selector) => {
        const img = document.querySelector(selector);
        const box = img.getBoundingClientRect();
        const points = [[box.left + box.width / 2, box.top + box.height / 2], [box.right - 20, box.bottom - 14]];
        return points.every(([x, y]) => document.elementFromPoint(x, y) === img);
    }""", IMAGE)


def test_while_the_runtime_loads_the_image_stays_put_and_a_pill_says_comments_are_loading(open_page):
    # MicroPython, which starts in a fraction of a second once let through: embed.js's loading
    # state is the same for both runtimes.
    page = open_page()
    held: list[Route] = []
    released = False

    def hold(route: Route) -> None:
        if released:
            route.continue_()
        else:
            held.append(route)

    page.route("**/vendor/micropython/**", hold)
    viewer = Viewer(page, "micropython")
    page.goto("/demo/?runtime=micropython")
    status = viewer.widget.locator(".status")
    expect(status).to_have_text("Loading comments…")
    expect(status).to_have_attribute("data-state", "loading")
    expect(page.locator(IMAGE)).to_be_visible()
    page.wait_for_function("document.querySelector('img[data-image-chat]').complete")
    assert image_is_uncovered(page)
    loading_box = image_box(page)
    # Small, in the image's bottom right corner.
    pill = status.bounding_box()
    assert pill["width"] < 200 and pill["height"] < 30
    right, bottom = loading_box["x"] + loading_box["width"], loading_box["y"] + loading_box["height"]
    assert right - 40 < pill["x"] + pill["width"] <= right and bottom - 40 < pill["y"] + pill["height"] <= bottom
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    viewer.widget.screenshot(path=str(SCREENSHOTS / "loading.png"))
    assert held  # the runtime was asked for, and is still held back

    released = True
    for route in held:
        route.continue_()
    viewer.expect_status("connected", timeout=PYTHON_START_TIMEOUT)
    assert page.evaluate("window.ImageChat.runningOn") == "micropython"
    assert image_box(page) == loading_box


@pytest.mark.parametrize("blocked", ["**/vendor/pyodide/**", "**/pyodide.asm.wasm"])
def test_a_blocked_runtime_says_comments_are_unavailable_and_leaves_the_page_alone(open_page, blocked):
    page = open_page()
    page.route(blocked, lambda route: route.abort("blockedbyclient"))
    page.goto("/demo/")
    status = page.locator("image-chat .status")
    expect(status).to_have_text("Comments unavailable")
    expect(status).to_have_attribute("data-state", "unavailable")
    _expect_page_unharmed(page)


def test_a_browser_without_webassembly_is_told_comments_are_unavailable_and_fetches_no_runtime(open_page):
    page = open_page()
    page.add_init_script("delete window.WebAssembly")  # as in a browser too old to run the runtime
    runtime: list[str] = []
    page.on("request", lambda request: runtime.append(request.url) if "/vendor/" in request.url else None)
    page.goto("/demo/")
    expect(page.locator("image-chat .status")).to_have_text("Comments unavailable")
    _expect_page_unharmed(page)
    assert runtime == []


def test_a_widget_that_fails_to_start_says_comments_are_unavailable(open_page):
    """The runtime runs, the widget's Python does not (here: a module that raises on import)."""
    page = open_page()
    page.route("**/imagechat_widget/widget.py",
               lambda route: route.fulfill(content_type="text/x-python", body="raise RuntimeError('broken')\n"))
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.goto("/demo/?runtime=micropython")
    expect(page.locator("image-chat .status")).to_have_text("Comments unavailable", timeout=PYTHON_START_TIMEOUT)
    assert any("broken" in text for text in errors), errors
    _expect_page_unharmed(page)


def _expect_page_unharmed(page: Page) -> None:
    """The image shows, in its place, nothing covers it, and no error text landed in the page."""
    expect(page.locator(IMAGE)).to_be_visible()
    page.wait_for_function("document.querySelector('img[data-image-chat]').complete")
    box = image_box(page)
    assert box["width"] > 600 and box["height"] > 300
    assert image_is_uncovered(page)
    expect(page.locator(".py-error")).to_have_count(0)
    expect(page.locator("h1")).to_have_text("ImageChat demo — review a mockup")
    expect(page.locator("image-chat .layer")).to_have_count(0)  # no widget half-made over the image
