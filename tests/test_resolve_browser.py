"""Resolving threads as users see it, in Chromium: two users, live dimming, who gets the button,
and the "show resolved" toggle remembered by the browser across a reload."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.widget_page import RUNTIMES, Viewer

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "test-results" / "screenshots"


def resolved_pins(viewer: Viewer):
    return viewer.pins.and_(viewer.widget.locator("[data-resolved]"))


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_the_author_resolves_and_the_other_user_sees_it_dimmed_live_then_hides_it(new_context, fresh_server, runtime):
    alice = Viewer(new_context(fresh_server).new_page(), runtime).open()
    bob = Viewer(new_context(fresh_server).new_page(), runtime).open()
    alice.drop_marker(300, 200, "The legend overlaps the chart")
    alice.popover.get_by_role("button", name="Close").click()
    alice.drop_marker(700, 450, "Still open")
    expect(bob.pins).to_have_count(2)
    bob.open_thread(1)
    expect(bob.popover.get_by_role("button", name="Resolve")).to_have_count(0)  # not his thread
    toggle = bob.widget.get_by_role("checkbox")
    expect(toggle).to_be_hidden()  # nothing resolved yet

    alice.open_thread(1)
    alice.popover.get_by_role("button", name="Resolve").click()
    expect(alice.pins.nth(0)).to_have_attribute("data-resolved", "")  # at once, for the author
    expect(alice.popover.locator(".resolution")).to_contain_text("Resolved by Ada")
    expect(bob.pins.nth(0)).to_have_attribute("data-resolved", "")  # live, for everyone
    expect(bob.popover.locator(".resolution")).to_have_text("✓ Resolved by Ada · just now")
    bob.popover.get_by_role("button", name="Close").click()
    expect(bob.pins.nth(0)).to_have_css("opacity", "0.6")  # dimmed (widget.css)
    expect(bob.pins.nth(1)).to_have_css("opacity", "1")
    expect(bob.pins.nth(0)).to_have_attribute("aria-label", "Thread 1 of 2, 1 comment, by Ada: The legend overlaps the chart, resolved")

    expect(toggle).to_be_checked()
    expect(bob.widget.locator(".resolved-toggle")).to_have_text("Show resolved (1)")
    toggle.click()
    expect(bob.pins.nth(0)).to_be_hidden()
    expect(bob.pins.nth(1)).to_be_visible()
    expect(alice.pins.nth(0)).to_be_visible()  # one browser's choice
    bob.page.reload()
    bob.expect_status("connected", timeout=30_000)
    expect(bob.pins).to_have_count(2)
    expect(bob.pins.nth(0)).to_be_hidden()  # remembered by the browser
    expect(toggle).not_to_be_checked()

    alice.popover.get_by_role("button", name="Reopen").click()
    expect(bob.pins.nth(0)).to_be_visible()  # open again: the toggle hides only resolved threads
    expect(bob.pins.nth(0)).not_to_have_attribute("data-resolved", "")
    expect(toggle).to_be_hidden()
    expect(alice.popover.locator(".resolution")).to_be_hidden()


def test_screenshot_of_a_resolved_thread_and_the_toggle(new_context, fresh_server):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    alice = Viewer(new_context(fresh_server).new_page()).open()
    for x, y, text, resolve in [(420, 200, "Revenue card: can we show the currency?", True),
                                (700, 470, "The chart needs a y-axis label", False),
                                (250, 480, "Rename Campaigns to Marketing?", True)]:
        alice.drop_marker(x, y, text)
        if resolve:
            alice.popover.get_by_role("button", name="Resolve").click()
            expect(alice.popover.get_by_role("button", name="Reopen")).to_be_visible()
        if text != "Rename Campaigns to Marketing?":
            alice.popover.get_by_role("button", name="Close").click()
    expect(resolved_pins(alice)).to_have_count(2)
    expect(alice.pins.nth(1)).not_to_have_attribute("data-resolved", "")
    expect(alice.popover.locator(".resolution")).to_contain_text("Resolved by Ada")
    expect(alice.widget.locator(".resolved-toggle")).to_have_text("Show resolved (2)")
    alice.page.mouse.move(0, 0)
    shot = SCREENSHOTS / "resolved.png"
    alice.widget.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000
