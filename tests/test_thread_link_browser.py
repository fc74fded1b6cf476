"""Links to a thread, in Chromium: a user copies a thread's link; another user opens it in their own
browser, on a tall page with two marked images, and finds that thread open and its pin scrolled
into view; a change of the page's fragment opens another image's thread; a link to a deleted thread
says so; without a clipboard, the link is given selected in a field."""

from __future__ import annotations

import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.rest import Rest, ok
from tests.widget_page import PYTHON_START_TIMEOUT, RUNTIMES

pytestmark = pytest.mark.browser

# Two marked images, the second far below the first: opening its thread must scroll the page.
SITE_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,">
<script type="module" src="{server}/embed.js" data-runtime="{runtime}"></script>
<style>body {{ margin: 0; font-family: sans-serif; }} .gap {{ height: 2200px; }}</style>
</head><body>
<h1 id="top">Release review</h1>
<img src="{server}/demo/support.svg" width="640" height="400" alt="the error"
     data-image-chat data-tenant="acme" data-url-id="error shot #1">
<div class="gap"></div>
<h2 id="circuit">The worksheet</h2>
<img src="{server}/demo/class.svg" width="640" height="400" alt="the circuit"
     data-image-chat data-tenant="acme" data-url-id="worksheet/circuit?v=2">
<div class="gap"></div>
</body></html>
"""


@pytest.fixture
def site(tmp_path, fresh_server):
    """The site's pages (one per runtime) on their own origin, allowed by tenant `acme`."""
    for runtime in RUNTIMES:
        (tmp_path / f"{runtime}.html").write_text(SITE_PAGE.format(server=fresh_server.url, runtime=runtime))
    http = ThreadingHTTPServer(("127.0.0.1", 0), partial(SimpleHTTPRequestHandler, directory=str(tmp_path)))
    threading.Thread(target=http.serve_forever, daemon=True).start()
    origin = f"http://127.0.0.1:{http.server_address[1]}"
    fresh_server.cli("tenant", "create", "Acme", "--id", "acme", "--origin", origin, "--origin", fresh_server.url)
    yield origin
    http.shutdown()


def open_page(browser, origin: str, url: str, clipboard: bool = True) -> Page:
    context = browser.new_context(viewport={"width": 1000, "height": 700})
    context.on("dialog", lambda dialog: dialog.accept())
    if clipboard:
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=origin)
    else:  # a browser without the Clipboard API (as on a page not served over https)
        context.add_init_script("Object.defineProperty(Navigator.prototype, 'clipboard', {get: () => undefined})")
    page = context.new_page()
    page.goto(url)
    for image in range(2):
        expect(page.locator("image-chat").nth(image).locator(".status")).to_have_attribute(
            "data-state", "connected", timeout=PYTHON_START_TIMEOUT)
    return page


def image(page: Page, number: int) -> Locator:
    return page.locator("image-chat").nth(number)


def drop_marker(widget: Locator, x: int, y: int, text: str) -> None:
    widget.locator(".layer").scroll_into_view_if_needed()
    widget.locator(".layer").click(position={"x": x, "y": y})
    popover = widget.locator(".popover")
    name = popover.locator("input.name")
    if name.count():
        name.fill("Ada")
    popover.locator("textarea.message").fill(text)
    popover.get_by_role("button", name="Comment").click()
    expect(popover.locator(".title")).to_have_text("Thread #1")
    expect(widget.locator(".pin:not(.pending)")).to_have_count(1)  # confirmed by the server


def copy_link(widget: Locator) -> str:
    popover = widget.locator(".popover")
    popover.get_by_role("button", name="Copy link").click()
    expect(popover.locator(".link-status")).to_have_text("Link copied")
    return widget.page.evaluate("navigator.clipboard.readText()")


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_copied_link_opens_the_thread_scrolled_into_view_for_another_user(browser, site, runtime):
    url = f"{site}/{runtime}.html"
    ada = open_page(browser, site, url)
    circuit = image(ada, 1)
    drop_marker(circuit, 400, 300, "R2 is drawn backwards")
    link = copy_link(circuit)
    marker_id = circuit.locator(".pin").get_attribute("data-marker")
    assert link == f"{url}#imagechat=worksheet%2Fcircuit%3Fv%3D2:{marker_id}"

    bo = open_page(browser, site, link)
    theirs = image(bo, 1)
    popover = theirs.locator(".popover")
    expect(popover).to_be_visible()
    expect(popover.locator(".comment .text")).to_have_text("R2 is drawn backwards")
    expect(theirs.locator(".pin.open")).to_be_in_viewport()
    expect(popover).to_be_in_viewport()
    assert bo.evaluate("window.scrollY") > 1500  # scrolled down to the second image
    expect(image(bo, 0).locator(".popover")).to_be_hidden()  # the link names one image only

    # A change of the fragment (a link followed within the page) opens the other image's thread.
    error_shot = image(ada, 0)
    drop_marker(error_shot, 200, 150, "Which build was this?")
    other_link = copy_link(error_shot)
    assert other_link.startswith(url + "#imagechat=error%20shot%20%231:")
    bo.evaluate("(hash) => { location.hash = hash }", other_link.split("#", 1)[1])
    expect(image(bo, 0).locator(".popover .comment .text")).to_have_text("Which build was this?")
    expect(image(bo, 0).locator(".pin.open")).to_be_in_viewport()
    assert bo.evaluate("window.scrollY") < 500

    # The first thread deleted: its link says so, on its image, until dismissed.
    circuit.locator(".popover").get_by_role("button", name="Delete marker").click()
    expect(circuit.locator(".pin")).to_have_count(0)
    cy = open_page(browser, site, link)
    note = image(cy, 1).locator(".note")
    expect(note.locator(".note-text")).to_have_text("This thread was deleted")
    expect(note).to_be_in_viewport()
    expect(image(cy, 1).locator(".popover")).to_be_hidden()
    note.get_by_role("button", name="Dismiss").click()
    expect(note).to_be_hidden()


def test_without_a_clipboard_the_link_is_given_selected_in_a_field(browser, site, fresh_server):
    ok(Rest(fresh_server, "Carol", tenant="acme").create_marker("error shot #1", "Seen on 4.12", x=0.3, y=0.3))
    page = open_page(browser, site, f"{site}/micropython.html", clipboard=False)
    widget = image(page, 0)
    widget.locator(".pin").click()
    widget.locator(".popover").get_by_role("button", name="Copy link").click()
    row = widget.locator(".thread-link")
    expect(row.locator(".link-status")).to_have_text("Copy this link:")
    field = row.get_by_role("textbox", name="Link to this thread")
    marker_id = widget.locator(".pin").get_attribute("data-marker")
    expect(field).to_have_value(f"{site}/micropython.html#imagechat=error%20shot%20%231:{marker_id}")
    expect(field).to_be_focused()
    assert page.evaluate("document.querySelector('image-chat').shadowRoot.querySelector('.link-field')"
                         ".selectionEnd") == len(field.input_value())
