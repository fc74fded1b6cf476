"""The JavaScript API, used the way a site uses it: a page on another origin whose own script mounts
the widget on an unmarked <img> (`ImageChat.mount`), shows a badge from `imagechat:count`, hears
`imagechat:change`, and takes the widget off again (`ImageChat.unmount`)."""

from __future__ import annotations

import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import Page, WebSocket, expect

from imagechat import protocol
from tests.rest import Rest, ok
from tests.widget_page import PYTHON_START_TIMEOUT, Viewer

pytestmark = pytest.mark.browser

URL_ID = "js-api-screen"

# No data-image-chat anywhere: the site's script decides. Its listener is on the document (the
# events bubble); its badge listens on the image itself. `?runtime=` lets a test pick the runtime.
HOST_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><link rel="icon" href="data:,">
<script type="module" src="{server}/embed.js"></script>
</head><body>
<h1>Ticket #4411 <span id="badge">no comments yet</span></h1>
<figure><img id="shot" src="{server}/demo/support.svg" width="600" height="375" alt="the customer's screenshot"></figure>
<script type="module">
  const img = document.getElementById("shot");
  window.heard = [];
  for (const name of ["ready", "count", "change"]) {{
    document.addEventListener(`imagechat:${{name}}`, (event) => {{
      window.heard.push({{name, target: event.target.id, detail: event.detail}});
    }});
  }}
  const badge = ({{detail}}) => {{
    document.getElementById("badge").textContent = `${{detail.threads}} threads, ${{detail.comments}} comments`;
  }};
  img.addEventListener("imagechat:ready", badge);
  img.addEventListener("imagechat:count", badge);
  const runtime = new URLSearchParams(location.search).get("runtime") || undefined;
  ImageChat.mount(img, {{tenant: "acme", urlId: "{url_id}", runtime}});
</script>
</body></html>
"""


@pytest.fixture
def site(tmp_path, fresh_server):
    """The site's page on its own origin; tenant `acme` allows it (and the server's own origin,
    for the REST calls that prepare an image)."""
    (tmp_path / "ticket.html").write_text(HOST_PAGE.format(server=fresh_server.url, url_id=URL_ID))
    http = ThreadingHTTPServer(("127.0.0.1", 0), partial(SimpleHTTPRequestHandler, directory=str(tmp_path)))
    threading.Thread(target=http.serve_forever, daemon=True).start()
    origin = f"http://127.0.0.1:{http.server_address[1]}"
    fresh_server.cli("tenant", "create", "Acme Support", "--id", "acme", "--origin", origin,
                     "--origin", fresh_server.url)
    yield f"{origin}/ticket.html"
    http.shutdown()


def heard(page: Page, name: str) -> list[dict]:
    return page.evaluate("(name) => window.heard.filter((e) => e.name === name)", name)


def changes(page: Page) -> list[dict]:
    return [event["detail"] for event in heard(page, "change")]


def open_site(browser, url: str) -> tuple[Page, Viewer, list[WebSocket]]:
    page = browser.new_context(viewport={"width": 1000, "height": 800}).new_page()
    sockets: list[WebSocket] = []
    page.on("websocket", lambda socket: sockets.append(socket))
    page.goto(url)
    viewer = Viewer(page)
    viewer.expect_status("connected", timeout=PYTHON_START_TIMEOUT)
    return page, viewer, sockets


def test_a_site_mounts_by_script_counts_threads_hears_changes_and_unmounts(browser, fresh_server, site):
    carol = Rest(fresh_server, "Carol", tenant="acme")
    ok(carol.create_marker(URL_ID, "The customer's screenshot, from ticket #4411", x=0.2, y=0.3))

    alice, alice_view, alice_sockets = open_site(browser, site)
    # Bob's page asks for MicroPython: honoured, as no runtime had started on it.
    bob, bob_view, _ = open_site(browser, site + "?runtime=micropython")
    assert alice.evaluate("ImageChat.runningOn") == "pyodide"
    assert bob.evaluate("ImageChat.runningOn") == "micropython"

    for page in (alice, bob):
        expect(page.locator("#badge")).to_have_text("1 threads, 1 comments")
        assert heard(page, "ready") == [
            {"name": "ready", "target": "shot", "detail": {"urlId": URL_ID, "threads": 1, "comments": 1}}]
        assert page.locator("image-chat > img#shot").get_attribute("data-tenant") == "acme"
    expect(alice_view.pins).to_have_count(1)

    # Another user adds a thread, then a reply: Alice's badge follows, each change heard once.
    bob_view.drop_marker(300, 150, "Which build was this?", name="Bob")
    expect(alice.locator("#badge")).to_have_text("2 threads, 2 comments")
    marker_id = bob_view.pins.nth(1).get_attribute("data-marker")
    created = {"type": protocol.NEW_IMAGE_CHAT, "change": None, "markerId": marker_id, "seq": 2}
    assert changes(alice) == [{**created, "fromMe": False}]
    # Bob's own change is heard once the server confirmed it, as his.
    expect(bob.locator("#badge")).to_have_text("2 threads, 2 comments")
    assert changes(bob) == [{**created, "fromMe": True}]

    bob_view.open_thread(2)
    bob_view.reply("4.12.1, build 8841", name="Bob")
    expect(alice.locator("#badge")).to_have_text("2 threads, 3 comments")
    added = {"type": protocol.IMAGE_CHAT_UPDATED, "change": protocol.COMMENT_ADDED, "markerId": marker_id, "seq": 3}
    assert changes(alice)[1:] == [{**added, "fromMe": False}]
    assert [event["detail"] for event in heard(alice, "count")] == [
        {"threads": 2, "comments": 2}, {"threads": 2, "comments": 3}]

    # Unmounted: the plain image is back where it was, and its live connection is closed.
    [live] = [socket for socket in alice_sockets if "/live" in socket.url]
    alice.evaluate("ImageChat.unmount(document.getElementById('shot'))")
    expect(alice.locator("image-chat")).to_have_count(0)
    expect(alice.locator("figure > img#shot")).to_have_count(1)
    assert alice.locator("#shot").get_attribute("data-image-chat") is None
    if not live.is_closed():
        live.wait_for_event("close")

    # Mounted again once the runtime runs (its own listeners still on): the conversation as it is now.
    ok(carol.create_marker(URL_ID, "Escalated to engineering", x=0.8, y=0.7))
    alice.evaluate("ImageChat.mount(document.getElementById('shot'), {runtime: 'micropython'})")
    alice_view.expect_status("connected")
    expect(alice.locator("#badge")).to_have_text("3 threads, 4 comments")
    assert [event["detail"] for event in heard(alice, "ready")][1:] == [
        {"urlId": URL_ID, "threads": 3, "comments": 4}]
    assert alice.evaluate("ImageChat.runningOn") == "pyodide"  # one runtime per page
    expect(alice_view.pins).to_have_count(3)
