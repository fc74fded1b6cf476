"""Two users (browser contexts) on the demo page, in Debian's Chromium, against a real server."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.widget_page import PYTHON_START_TIMEOUT, RUNTIMES, Viewer

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parent.parent / "test-results" / "screenshots"


@pytest.fixture
def contexts(new_context, fresh_server):
    return lambda: new_context(fresh_server)

@pytest.mark.parametrize("runtime", RUNTIMES)
def test_changes_reach_the_other_user_live_and_show_once_for_the_author(contexts, fresh_server, runtime):
    alice = Viewer(contexts().new_page(), runtime).open()
    bob = Viewer(contexts().new_page(), runtime).open()
    alice.watch_pins()
    bob.watch_pins()

    alice.drop_marker(300, 200, "The legend overlaps the chart")
    expect(bob.pins).to_have_count(1)
    expect(alice.pins).to_have_count(1)
    bob.open_thread(1)
    expect(bob.comments.first.locator(".text")).to_have_text("The legend overlaps the chart")
    expect(bob.comments.first.locator(".author")).to_have_text("Ada")
    expect(bob.comments.first.get_by_role("button", name="Edit")).to_have_count(0)

    bob.reply("Agreed, move it below", name="Bob")
    expect(alice.comments).to_have_count(2)
    expect(alice.comments.nth(1).locator(".author")).to_have_text("Bob")

    alice.comments.first.get_by_role("button", name="Edit").click()
    alice.popover.locator(".edit-text").fill("The legend overlaps the line chart")
    alice.popover.get_by_role("button", name="Save").click()
    expect(bob.comments.first.locator(".text")).to_have_text("The legend overlaps the line chart")
    expect(bob.comments.first.locator(".time")).to_contain_text("edited")

    bob.comments.nth(1).get_by_role("button", name="Delete").click()
    expect(alice.comments).to_have_count(1)

    alice.popover.get_by_role("button", name="Delete marker").click()
    expect(bob.pins).to_have_count(0)
    expect(bob.popover).to_be_hidden()
    expect(alice.pins).to_have_count(0)
    assert alice.max_pins_seen() == 1  # never a duplicate from the echo
    assert bob.max_pins_seen() == 1

    # What is shown is what is stored.
    for viewer in (alice, bob):
        viewer.page.reload()
        viewer.expect_status("connected", timeout=PYTHON_START_TIMEOUT)
        expect(viewer.pins).to_have_count(0)
    assert fresh_server.rows()["markers"] == []


def test_state_survives_a_reload_and_markers_stay_on_their_spot_when_resized(contexts):
    page = contexts().new_page()
    alice = Viewer(page).open()
    alice.drop_marker(600, 300, "Centre of the chart")
    alice.drop_marker(100, 500, "Sidebar spacing")
    expect(alice.pins).to_have_count(2)

    def pin_fractions() -> list[tuple[float, float]]:
        image = page.locator("img[data-image-chat]").bounding_box()
        result = []
        for index in range(alice.pins.count()):
            box = alice.pins.nth(index).bounding_box()
            result.append(((box["x"] + box["width"] / 2 - image["x"]) / image["width"],
                           (box["y"] + box["height"] / 2 - image["y"]) / image["height"]))
        return result

    before = pin_fractions()
    page.reload()
    alice.expect_status("connected", timeout=PYTHON_START_TIMEOUT)
    expect(alice.pins).to_have_count(2)
    page.set_viewport_size({"width": 640, "height": 900})
    page.wait_for_function("document.querySelector('img[data-image-chat]').width < 640")
    after = pin_fractions()
    for (x1, y1), (x2, y2) in zip(before, after):
        assert abs(x1 - x2) < 0.01 and abs(y1 - y2) < 0.01


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_comment_text_and_names_render_as_text_and_run_nothing(contexts, runtime):
    attack = '<img src=x onerror="window.__xss=1;alert(1)"><script>window.__xss=2</script>'
    dialogs: list[str] = []
    alice = Viewer(contexts().new_page(), runtime).open()
    bob_page = contexts().new_page()
    bob_page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    bob = Viewer(bob_page, runtime).open()

    alice.drop_marker(400, 250, attack, name='<b onmouseover="alert(1)">Eve</b>')
    bob.open_thread(1)
    expect(bob.comments.first.locator(".text")).to_have_text(attack)
    expect(bob.comments.first.locator(".author")).to_have_text('<b onmouseover="alert(1)">Eve</b>')
    bob.comments.first.hover()
    assert bob_page.evaluate("window.__xss") is None
    assert bob_page.evaluate(
        "document.querySelector('image-chat').shadowRoot.querySelectorAll('.popover img, .popover script, .popover b[onmouseover]').length"
    ) == 0
    assert dialogs == []


def test_the_pages_make_no_request_outside_the_server(contexts, fresh_server):
    page = contexts().new_page()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.on("websocket", lambda socket: requests.append(socket.url))
    viewer = Viewer(page).open()
    viewer.drop_marker(500, 400, "Local only")
    expect(viewer.comments).to_have_count(1)
    origin = re.compile(rf"^(https?|wss?)://127\.0\.0\.1:{fresh_server.port}/")
    assert requests and all(origin.match(url) or url.startswith(("data:", "blob:")) for url in requests), requests
    assert any("/vendor/pyodide/" in url and url.endswith("/pyodide.asm.wasm") for url in requests)
    assert any(url.startswith("ws://") for url in requests)


def test_the_thread_popover_stays_inside_the_viewport(contexts):
    page = contexts().new_page()
    page.set_viewport_size({"width": 900, "height": 700})
    viewer = Viewer(page).open()
    image = page.locator("img[data-image-chat]").bounding_box()
    page.mouse.wheel(0, image["y"] + image["height"] - 700)
    # Near the right edge and low on the screen: the popover must flip and shift to fit.
    box = viewer.layer.bounding_box()
    viewer.drop_marker(int(box["width"]) - 10, int(min(box["height"], 700 - box["y"]) - 15), "Edge case")
    expect(viewer.comments).to_have_count(1)
    popover = viewer.popover.bounding_box()
    assert popover["x"] >= 0 and popover["y"] >= 0
    assert popover["x"] + popover["width"] <= 900 and popover["y"] + popover["height"] <= 700


def test_screenshots_of_the_demo_with_markers_and_an_open_thread(contexts):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    alice = Viewer(contexts().new_page()).open()
    bob = Viewer(contexts().new_page()).open()
    # Each new thread's popover may cover the next spot: closed first, as a user would (a click on
    # it would land on the popover, not on the image).
    for x, y, text in ((420, 200, "Revenue card: can we show the currency?"),
                       (700, 470, "The chart needs a y-axis label"),
                       (980, 430, "Organic is 42% here but 45% in the report")):
        alice.drop_marker(x, y, text)
        alice.popover.get_by_role("button", name="Close").click()
        expect(alice.popover).to_be_hidden()
    expect(bob.pins).to_have_count(3)
    bob.open_thread(2)
    bob.reply("Good catch, I'll add 'Monthly active users'", name="Bob")
    expect(bob.comments.nth(1).get_by_role("button", name="Edit")).to_be_visible()  # stored: his own
    expect(alice.pins).to_have_count(3)
    bob.page.mouse.move(0, 0)
    bob.page.screenshot(path=str(SCREENSHOTS / "demo-thread.png"))
    alice.page.locator("img[data-image-chat]").scroll_into_view_if_needed()
    alice.page.screenshot(path=str(SCREENSHOTS / "demo-markers.png"))
    assert (SCREENSHOTS / "demo-thread.png").stat().st_size > 10_000


def inside_viewport(box: dict, width: int = 1280, height: int = 900) -> bool:
    return box["x"] >= 0 and box["y"] >= 0 and box["x"] + box["width"] <= width and box["y"] + box["height"] <= height


def test_a_refused_change_says_why_where_the_user_acted_inside_the_viewport(new_context, fresh_server):
    """At 1280x900 the image runs below the window: the reason must show in the thread's popover
    (reply) or next to the point clicked (new marker), never below the fold; typed text stays."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    context = new_context(fresh_server)
    viewer = Viewer(context.new_page()).open()
    viewer.drop_marker(300, 450, "An existing thread")
    expect(viewer.comments).to_have_count(1)
    expect(viewer.comments.first).not_to_have_class(re.compile(r"\bpending\b"))  # stored before going offline
    context.set_offline(True)
    viewer.expect_status("offline")

    viewer.reply("Typed while offline", name="Ada")
    error = viewer.popover.locator(".error")
    expect(error).to_have_text("You're offline — markers are read-only until the connection returns.")
    assert inside_viewport(error.bounding_box())
    expect(viewer.popover.locator("textarea.message")).to_have_value("Typed while offline")
    viewer.page.screenshot(path=str(SCREENSHOTS / "refused-reply.png"))

    viewer.popover.get_by_role("button", name="Close").click()
    layer = viewer.layer.bounding_box()
    click = {"x": 900, "y": int(900 - layer["y"] - 20)}  # low on the window: the image goes on below
    viewer.layer.click(position=click)
    callout = viewer.widget.locator(".callout")
    expect(callout).to_have_text("You're offline — markers are read-only until the connection returns.")
    box = callout.bounding_box()
    assert inside_viewport(box)
    assert abs(box["x"] - (layer["x"] + click["x"])) < 320 and abs(box["y"] - (layer["y"] + click["y"])) < 200
    viewer.page.screenshot(path=str(SCREENSHOTS / "refused-marker.png"))
