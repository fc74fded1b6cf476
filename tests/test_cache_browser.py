"""A return visit, in Chromium with its profile on disk as a user's browser keeps it: the runtime
and the widget's files come from the browser's cache, and the server hears no request for them."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import BrowserType, expect

from tests.conftest import ServerProcess
from tests.widget_page import PYTHON_START_TIMEOUT, RUNTIMES, Viewer

pytestmark = pytest.mark.browser

# embed.js's list of the widget's Python modules: each is imported, so each is kept compiled.
EMBED_JS = Path(__file__).resolve().parent.parent / "public" / "embed.js"
WIDGET_MODULES = re.search(r"const WIDGET_MODULES = \[(.*?)\];", EMBED_JS.read_text(), re.S).group(1).count(".py")
REQUEST = re.compile(r'"(?:GET|HEAD) (\S+) HTTP/')
WIDGET_FILES = ("/vendor/", "/widget/", "/widget.css")
# A runtime folder by version (vendor/pyodide/314.0.7/), the widget's by hash (widget/0123456789abcdef/).
VERSIONED = re.compile(r"^/(vendor/[a-z]+/[0-9][^/]*|widget/[0-9a-f]{16})/")
# The widget's files as the page's own Resource Timing saw them: bytes over the network for each.
TRANSFERRED = """() => performance.getEntriesByType('resource')
  .filter((entry) => /\\/(vendor|widget)\\//.test(entry.name))
  .map((entry) => [new URL(entry.name).pathname, entry.transferSize])"""


def requested(server: ServerProcess, since: int) -> list[str]:
    """The paths the server was asked for (its access log) since that offset of its log."""
    with open(server.log_path, "rb") as log:
        log.seek(since)
        return REQUEST.findall(log.read().decode())


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_return_visit_asks_for_no_runtime_or_widget_file(browser_type: BrowserType, browser_type_launch_args: dict,
                                                           server_with, tmp_path: Path, runtime: str):
    server = server_with("--access-log")
    answer = httpx.post(f"{server.url}/api/v1/tenants/demo/markers", headers=server.sign_in(),
                        json={"urlId": "demo-dashboard-v1", "x": 0.3, "y": 0.4, "text": "Already here"})
    assert answer.status_code == 201, answer.text

    def visit() -> tuple[list[tuple[str, int]], str | None]:
        """The widget's files as loaded, and how Pyodide started (None on MicroPython)."""
        nonlocal viewer_state
        context = browser_type.launch_persistent_context(
            tmp_path / "profile", **browser_type_launch_args, base_url=server.url, viewport={"width": 1280, "height": 900})
        try:
            viewer = Viewer(context.new_page(), runtime).open()
            expect(viewer.pins).to_have_count(1)
            loaded = [(path, size) for path, size in viewer.page.evaluate(TRANSFERRED)]
            viewer_state = viewer.page.evaluate(
                "({jspi: window.ImageChat.jspi, suspending: 'Suspending' in WebAssembly,"
                " compiled: window.ImageChat.compiledFiles})")
            if runtime == "pyodide":  # the widget's compiled Python, kept once it runs, for the next visit
                viewer.page.wait_for_function(f"async () => (await ({SNAPSHOTS})('compiled')) > 0")
            return loaded, viewer.page.evaluate("window.ImageChat.startedFrom")
        finally:
            context.close()  # the profile's cache is written to disk

    viewer_state: dict = {}
    start = server.log_path.stat().st_size
    first, started = visit()
    assert started == ("start" if runtime == "pyodide" else None)
    assert first and all(size > 0 for _path, size in first), first  # the first visit fetched them all
    fetched = [path for path in requested(server, start) if path.startswith(WIDGET_FILES)]
    # ... under the URLs embed.js's manifest names: the runtime's version, the widget's hash.
    assert [path for path in fetched if path.startswith("/vendor/") and not VERSIONED.match(path)] == []
    assert any(VERSIONED.match(path) and path.endswith(".wasm") for path in fetched), fetched
    assert any(VERSIONED.match(path) and path.endswith("/main.py") for path in fetched), fetched

    start = server.log_path.stat().st_size
    again, started = visit()
    # All from the cache, no byte over the network; Pyodide from the first visit's memory snapshot
    # (start-pyodide.mjs), which needs fewer of its files than starting afresh.
    assert again and all(size == 0 for _path, size in again), again
    assert {path for path, _size in again} <= {path for path, _size in first}
    assert started == ("snapshot" if runtime == "pyodide" else None)
    if runtime == "pyodide":  # without JSPI (start-pyodide.mjs), and the page's WebAssembly untouched
        assert viewer_state["jspi"] is False and viewer_state["suspending"] is True
        # PyScript's package and the widget's modules not compiled again: loaded as kept.
        assert viewer_state["compiled"] > WIDGET_MODULES, viewer_state  # and PyScript's
    assert [path for path in requested(server, start) if path.startswith(WIDGET_FILES)] == []


def test_a_runtime_snapshot_that_does_not_restore_means_a_normal_start(browser_type: BrowserType,
                                                                        browser_type_launch_args: dict,
                                                                        server, tmp_path: Path):
    """start-pyodide.mjs keeps Pyodide's memory after a first start; a damaged copy is thrown away."""
    context = browser_type.launch_persistent_context(
        tmp_path / "profile", **browser_type_launch_args, base_url=server.url, viewport={"width": 1280, "height": 900})
    try:
        first = Viewer(context.new_page(), "pyodide").open()
        first.page.wait_for_function(f"async () => (await ({SNAPSHOTS})('compiled')) > 0")  # kept, in the background
        first.page.evaluate(f"({SNAPSHOTS})('damage')")
        again = Viewer(context.new_page(), "pyodide").open()  # the widget runs all the same
        assert again.page.evaluate("window.ImageChat.startedFrom") == "start"
        again.page.wait_for_function(f"async () => (await ({SNAPSHOTS})('compiled')) > 0")  # made again
        again.page.evaluate(f"({SNAPSHOTS})('damage compiled')")
        third = Viewer(context.new_page(), "pyodide").open()  # compiled again from the source
        assert third.page.evaluate("[window.ImageChat.startedFrom, window.ImageChat.compiledFiles]") == ["snapshot", 0]
        assert third.page.evaluate("window.ImageChat.runningOn") == "pyodide"
    finally:
        context.close()


def test_a_site_can_keep_the_runtime_snapshot_out_of_its_visitors_storage(new_context, server):
    """data-snapshot="off" on embed.js's tag: Pyodide starts as usual and nothing is stored."""
    page = new_context(server).new_page()
    page.route("**/no-snapshot.html", lambda route: route.fulfill(content_type="text/html", body="""<!doctype html>
        <script type="module" src="/embed.js" data-snapshot="off"></script>
        <img src="/demo/mockup.svg" data-image-chat data-tenant="demo" data-url-id="no-snapshot" width="600">"""))
    page.goto("/no-snapshot.html")
    page.wait_for_function("() => window.ImageChat && window.ImageChat.runningOn === 'pyodide'",
                           timeout=PYTHON_START_TIMEOUT)
    assert page.evaluate("window.ImageChat.startedFrom") == "off"
    assert "imagechat-runtime" not in page.evaluate("async () => (await indexedDB.databases()).map((d) => d.name)")


# start-pyodide.mjs's store: how many compiled files it keeps ('compiled'), or its snapshot
# ('damage') or every compiled file past its header ('damage compiled') replaced by junk.
SNAPSHOTS = """(action) => new Promise((resolve, reject) => {
  const opening = indexedDB.open("imagechat-runtime", 1);
  opening.onerror = () => reject(opening.error);
  opening.onsuccess = () => {
    const store = opening.result.transaction("snapshots", "readwrite").objectStore("snapshots");
    const keys = store.getAllKeys();
    keys.onsuccess = () => {
      const snapshotKey = keys.result.find((key) => !key.endsWith("#bytecode"));
      const compiledKey = keys.result.find((key) => key.endsWith("#bytecode"));
      const done = (result) => { opening.result.close(); resolve(result); };
      if (action === "damage") {
        store.put(new Blob([new Uint8Array(64)]), snapshotKey).onsuccess = () => done(snapshotKey);
        return;
      }
      if (!compiledKey) { done(0); return; }
      const compiled = store.get(compiledKey);
      compiled.onsuccess = () => {
        const files = compiled.result.files;
        if (action === "compiled") { done(Object.keys(files).length); return; }
        for (const path of Object.keys(files)) {  // a valid header, then junk
          files[path] = Uint8Array.from([...files[path].slice(0, 16), ...new Uint8Array(64).fill(7)]);
        }
        store.put(compiled.result, compiledKey).onsuccess = () => done(compiledKey);
      };
    };
  };
})"""
