"""The widget embedded on someone else's site: another origin, several images, the host's own
styles and scripts."""

from __future__ import annotations

import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import expect

from tests.widget_page import PYTHON_START_TIMEOUT, Viewer

pytestmark = pytest.mark.browser

HOST_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><link rel="icon" href="data:,">
<style>
  /* A host site's own rules, some of them broad enough to wreck a careless widget. */
  button {{ background: rgb(255, 0, 0) !important; width: 300px; }}
  div {{ border: 5px solid lime; }}
  .pin, .popover {{ display: none !important; }}
</style>
<script>window.hostScriptRan = true;</script>
<script type="module" src="{server}/embed.js"></script>
</head><body>
<h1>Acme design review</h1>
<img id="first" src="{server}/demo/mockup.svg" data-image-chat data-tenant="acme" data-url-id="site-first" width="600" height="375">
<img id="second" src="{server}/demo/mockup.svg?v=2" data-image-chat data-tenant="acme" width="600" height="375">
<img id="plain" src="{server}/demo/mockup.svg" width="100" height="62">
<img id="viewonly" src="{server}/demo/mockup.svg" data-image-chat data-tenant="acme" data-url-id="site-first" data-readonly width="300" height="188">
<button id="host-button">The host's button</button>
</body></html>
"""


@pytest.fixture
def host_site(tmp_path, fresh_server):
    """A site on another origin, tenant `acme`, that embeds the widget on two of its three images."""
    (tmp_path / "index.html").write_text(HOST_PAGE.format(server=fresh_server.url))
    site = ThreadingHTTPServer(("127.0.0.1", 0), partial(SimpleHTTPRequestHandler, directory=str(tmp_path)))
    threading.Thread(target=site.serve_forever, daemon=True).start()
    origin = f"http://127.0.0.1:{site.server_address[1]}"
    fresh_server.cli("tenant", "create", "Acme Design", "--id", "acme", "--origin", origin)
    yield f"{origin}/index.html"
    site.shutdown()


def widgets(page):
    first = Viewer(page)
    first.widget = page.locator("image-chat").filter(has=page.locator("#first"))
    second = Viewer(page)
    second.widget = page.locator("image-chat").filter(has=page.locator("#second"))
    for viewer in (first, second):
        viewer.layer = viewer.widget.locator(".layer")
        viewer.pins = viewer.widget.locator(".pin:not(.draft)")
        viewer.popover = viewer.widget.locator(".popover")
        viewer.comments = viewer.popover.locator(".comment")
    return first, second


def test_two_widgets_on_a_site_of_another_origin_keep_their_threads_apart(browser, fresh_server, host_site):
    pages = []
    for _ in range(2):
        context = browser.new_context(viewport={"width": 1280, "height": 1000})
        pages.append(context.new_page())
    alice_page, bob_page = pages
    requests: list[str] = []
    alice_page.on("request", lambda request: requests.append(request.url))
    for page in pages:
        page.goto(host_site)
        expect(page.locator("image-chat .status[data-state=connected]")).to_have_count(3, timeout=PYTHON_START_TIMEOUT)
    alice_first, alice_second = widgets(alice_page)
    bob_first, bob_second = widgets(bob_page)

    alice_first.drop_marker(200, 100, "On the first image")
    alice_first.popover.get_by_role("button", name="Close").click()
    alice_second.drop_marker(400, 200, "On the second image")
    expect(bob_first.pins).to_have_count(1)
    expect(bob_second.pins).to_have_count(1)
    bob_second.open_thread(1)
    expect(bob_second.comments.locator(".text")).to_have_text(["On the second image"])

    # A view-only widget of the first image shows its thread and offers no way to change it.
    view_only = bob_page.locator("image-chat").filter(has=bob_page.locator("#viewonly"))
    expect(view_only.locator(".pin")).to_have_count(1)
    view_only.locator(".pin").click()
    expect(view_only.locator(".popover .text")).to_have_text(["On the first image"])
    expect(view_only.locator(".popover textarea")).to_have_count(0)
    view_only.locator(".popover .close").click()
    view_only.locator(".layer").click(position={"x": 50, "y": 50})
    expect(view_only.locator(".callout")).to_have_text("This conversation is view-only.")

    # The host's rules do not reach into the widget, and the widget adds none to the host.
    expect(bob_second.popover).to_be_visible()
    assert bob_page.evaluate("document.styleSheets.length") == 1
    assert bob_page.evaluate("getComputedStyle(document.querySelector('#host-button')).width") == "300px"
    assert bob_page.evaluate("window.hostScriptRan") is True
    assert bob_page.locator("img#plain").evaluate("img => img.parentElement.tagName") == "BODY"
    # The host's images keep their own place and size.
    box = bob_page.locator("img#first").bounding_box()
    assert (round(box["width"]), round(box["height"])) == (600, 375)

    # An image the host's scripts add later (a single-page app changing views) gets a widget too.
    bob_page.evaluate("""(server) => {
        const img = document.createElement('img');
        Object.assign(img, {id: 'later', src: server + '/demo/mockup.svg', width: 300, height: 188});
        Object.assign(img.dataset, {imageChat: '', tenant: 'acme', urlId: 'site-first'});
        document.body.append(img);
    }""", fresh_server.url)
    later = bob_page.locator("image-chat").filter(has=bob_page.locator("#later"))
    expect(later.locator(".status")).to_have_attribute("data-state", "connected", timeout=PYTHON_START_TIMEOUT)
    expect(later.locator(".pin")).to_have_count(1)

    allowed = (fresh_server.url, host_site.rsplit("/", 1)[0], "data:", "blob:")
    assert all(url.startswith(allowed) for url in requests), requests
    for page in pages:
        page.context.close()


def test_on_a_page_that_marks_an_image_only_later_python_loads_then(browser, fresh_server, tmp_path):
    """A single-page app: no marked image at first (so no runtime is fetched), one rendered later,
    which gets its widget; taken off the page, it lets go of its connection."""
    (tmp_path / "app.html").write_text(
        f'<!doctype html><link rel="icon" href="data:,"><script type="module" src="{fresh_server.url}/embed.js">'
        "</script><div id=app>Loading…</div>")
    site = ThreadingHTTPServer(("127.0.0.1", 0), partial(SimpleHTTPRequestHandler, directory=str(tmp_path)))
    threading.Thread(target=site.serve_forever, daemon=True).start()
    origin = f"http://127.0.0.1:{site.server_address[1]}"
    fresh_server.cli("tenant", "create", "App", "--id", "app", "--origin", origin)
    page = browser.new_context().new_page()
    wasm: list[str] = []
    sockets = []
    page.on("request", lambda request: wasm.append(request.url) if request.url.endswith(".wasm") else None)
    page.on("websocket", lambda socket: sockets.append(socket))
    page.goto(f"{origin}/app.html")
    page.wait_for_function("window.ImageChat && window.ImageChat.baseUrl")
    assert wasm == []  # nothing to mount: the 10 MB runtime is not fetched
    page.evaluate("""(server) => {
        const img = document.createElement('img');
        Object.assign(img, {src: server + '/demo/mockup.svg', width: 400, height: 250});
        Object.assign(img.dataset, {imageChat: '', tenant: 'app', urlId: 'spa'});
        document.querySelector('#app').replaceChildren(img);
    }""", fresh_server.url)
    expect(page.locator("image-chat .status")).to_have_attribute("data-state", "connected", timeout=PYTHON_START_TIMEOUT)
    [socket] = sockets
    with socket.expect_event("close"):  # the widget lets go of its connection
        page.evaluate("document.querySelector('#app').replaceChildren()")  # the app changes views
    page.context.close()
    site.shutdown()


# Counts the page's WebSocket constructions, whoever makes them.
COUNT_SOCKETS = """(() => {
  window.__sockets = 0;
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) { super(...args); window.__sockets += 1; }
  };
})();"""


def test_a_site_the_tenant_does_not_allow_is_told_so_and_stops_retrying(browser, fresh_server, tmp_path):
    (tmp_path / "index.html").write_text(HOST_PAGE.format(server=fresh_server.url))
    site = ThreadingHTTPServer(("127.0.0.1", 0), partial(SimpleHTTPRequestHandler, directory=str(tmp_path)))
    threading.Thread(target=site.serve_forever, daemon=True).start()
    fresh_server.cli("tenant", "create", "Acme Design", "--id", "acme", "--origin", "https://acme.example")
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    context.add_init_script(COUNT_SOCKETS)
    page = context.new_page()
    page.clock.install()  # the retry timers, fast-forwarded below
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.goto(f"http://127.0.0.1:{site.server_address[1]}/index.html")
    refused = "This site is not allowed to use this ImageChat tenant."
    notices = page.locator("image-chat .notice")
    expect(notices).to_have_count(3, timeout=PYTHON_START_TIMEOUT)
    expect(notices).to_have_text([refused] * 3, timeout=PYTHON_START_TIMEOUT)
    expect(page.locator("image-chat .status").first).to_have_text("Not available")
    # The snapshots embed.js asked for while the runtime loaded were refused (403): no socket tried.
    assert page.evaluate("window.__sockets") == 0
    origin = f"http://127.0.0.1:{site.server_address[1]}"
    assert any(origin in text and "acme" in text for text in errors), errors

    # An image added later has no early snapshot: its live connection is refused (4403).
    page.evaluate("""(server) => {
        const img = document.createElement('img');
        Object.assign(img, {src: server + '/demo/mockup.svg?later', width: 300, height: 188});
        Object.assign(img.dataset, {imageChat: '', tenant: 'acme'});
        document.body.append(img);
    }""", fresh_server.url)
    expect(notices).to_have_text([refused] * 4)
    assert page.evaluate("window.__sockets") == 1

    # No retry: not after any backoff, not when the browser says it is online or visible again.
    page.evaluate("() => { dispatchEvent(new Event('online')); document.dispatchEvent(new Event('visibilitychange')); }")
    page.clock.run_for("02:00")
    assert page.evaluate("window.__sockets") == 1
    first = page.locator("image-chat").first
    first.locator(".layer").click(position={"x": 100, "y": 100})
    expect(first.locator(".callout")).to_have_text("This site is not allowed to use this ImageChat tenant.")
    context.close()
    site.shutdown()
