"""How fast the widget starts on a site's page, and what it costs on the wire, per runtime.

Starts `imagechat serve` on a temporary SQLite file and a plain web server for a small "site" page
on another origin (as a real embedding: one `<script src=".../embed.js" data-runtime=...>` and one
marked image), creates 3 markers on that image through the REST API, then opens the page in
Debian's Chromium RUNS times per runtime (pyodide, micropython):

- cold: each run in a new browser context (an empty cache, as a first visit);
- warm: a browser profile on disk, filled by one visit first (which stays 5 s, as a reader would, so that
  what the page keeps in the background is kept); then RUNS visits in the same
  browser, each in a new tab, and RUNS visits each with Chromium started again on that profile
  (a return visit after the browser was closed).

For each run: the time from the start of the navigation (the page's `performance.now()` is 0
there) to the first animation frame in which an existing marker is drawn in the widget; the bytes
received (Chromium's own count of what came over the network, headers included, compressed as on
the wire: CDP `Network.loadingFinished` encodedDataLength); and the requests that went to the
network (not answered by the browser's cache), all of them and those for runtime or widget files
(/vendor/, /widget/, /embed.js, /widget.css). Prints medians (and min-max for times); asserts nothing.

    .venv/bin/python benchmarks/widget_start.py [RUNS] [RUNTIME...]

RUNTIME is pyodide, micropython, or pyodide:nosnapshot (Pyodide with data-snapshot="off").
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import threading
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from playwright.sync_api import BrowserContext, Page, Playwright, sync_playwright
from playwright.sync_api import Error as PlaywrightError

CHECKOUT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(CHECKOUT), str(CHECKOUT / "widget")]  # tests.conftest imports the widget's modules
from tests.conftest import CHROMIUM, CHROMIUM_ARGS, ServerProcess  # noqa: E402
from tests.widget_page import PYTHON_START_TIMEOUT  # noqa: E402

MARKERS = 3
URL_ID = "bench-image"
RUNTIMES = ["pyodide", "micropython"]
FIRST_VISIT_SECONDS = 5
VIEWPORT = {"width": 1280, "height": 900}
WIDGET_PATHS = ("/vendor/", "/widget/", "/embed.js", "/widget.css")

SITE_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><link rel="icon" href="data:,">
<script type="module" src="{server}/embed.js" data-runtime="{runtime}"{attributes}></script>
</head><body>
<img src="{server}/demo/mockup.svg" data-image-chat data-tenant="bench" data-url-id="{url_id}" width="1200" height="750">
</body></html>
"""

# Installed before any page script: checks every animation frame for a drawn marker.
WATCH_PINS = """(() => {
  const check = () => {
    const widget = document.querySelector('image-chat');
    const pins = widget && widget.shadowRoot ? widget.shadowRoot.querySelectorAll('.pin:not(.draft)').length : 0;
    if (pins >= 1) window.__markerShownAt = performance.now();
    else requestAnimationFrame(check);
  };
  requestAnimationFrame(check);
})();"""


@dataclass
class Load:
    seconds: float
    bytes: int  # received over the network, compressed, headers included
    requests: int  # that went to the network
    widget_requests: int  # of those, for runtime or widget files


class Wire:
    """What one page received over the network, from Chromium's own events (CDP)."""

    def __init__(self, page: Page) -> None:
        self.urls: dict[str, str] = {}
        self.cached: set[str] = set()
        self.finished: dict[str, int] = {}
        session = page.context.new_cdp_session(page)
        session.on("Network.requestWillBeSent", lambda event: self.urls.__setitem__(event["requestId"],
                                                                                    event["request"]["url"]))
        session.on("Network.requestServedFromCache", lambda event: self.cached.add(event["requestId"]))
        session.on("Network.responseReceived", self._response)
        session.on("Network.loadingFinished", lambda event: self.finished.__setitem__(
            event["requestId"], int(event["encodedDataLength"])))
        session.send("Network.enable")

    def _response(self, event: dict) -> None:
        response = event["response"]
        if response.get("fromDiskCache") or response.get("fromPrefetchCache") or response.get("fromServiceWorker"):
            self.cached.add(event["requestId"])

    def network_urls(self) -> list[str]:
        return [url for request, url in self.urls.items() if request not in self.cached
                and urlsplit(url).scheme in {"http", "https"}]

    def summary(self, seconds: float) -> Load:
        urls = self.network_urls()
        widget = [url for url in urls if urlsplit(url).path.startswith(WIDGET_PATHS)]
        return Load(seconds, sum(self.finished.values()), len(urls), len(widget))


def open_page(context: BrowserContext, url: str, stay_seconds: float = 0) -> Load:
    page = context.new_page()
    page.add_init_script(WATCH_PINS)
    wire = Wire(page)
    page.goto(url)
    page.wait_for_function("window.__markerShownAt !== undefined", timeout=PYTHON_START_TIMEOUT)
    seconds = page.evaluate("window.__markerShownAt") / 1000
    page.wait_for_timeout(stay_seconds * 1000)
    page.close()
    return wire.summary(seconds)


def cold_loads(playwright: Playwright, url: str, runs: int) -> list[Load]:
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    try:
        loads = []
        for _ in range(runs):
            context = browser.new_context(viewport=VIEWPORT)
            loads.append(open_page(context, url))
            context.close()
        return loads
    finally:
        browser.close()


def warm_loads(playwright: Playwright, url: str, runs: int) -> tuple[list[Load], list[Load]]:
    """Return visits on a profile on disk, filled by one visit: in the same browser (a new tab each
    time), then with the browser started again for each visit."""
    with tempfile.TemporaryDirectory() as profile:
        def browser() -> BrowserContext:
            return playwright.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, args=CHROMIUM_ARGS, viewport=VIEWPORT)

        context = browser()
        # The first visit fills the profile's cache, and stays a few seconds as a reader would: what
        # the page keeps in the background (Pyodide's snapshot, the compiled widget) is kept.
        open_page(context, url, stay_seconds=FIRST_VISIT_SECONDS)
        same_browser = [open_page(context, url) for _ in range(runs)]
        context.close()
        restarted = []
        for _ in range(runs):
            context = browser()
            restarted.append(open_page(context, url))
            context.close()
        return same_browser, restarted


def create_markers(server: ServerProcess, site_origin: str) -> None:
    server.cli("tenant", "create", "Bench", "--id", "bench", "--origin", site_origin, "--origin", server.url)
    headers = server.sign_in("Bench", tenant="bench")
    for n in range(MARKERS):
        answer = httpx.post(f"{server.url}/api/v1/tenants/bench/markers", headers=headers,
                            json={"urlId": URL_ID, "x": 0.2 + 0.3 * n, "y": 0.4, "text": f"Marker {n + 1}"})
        assert answer.status_code == 201, answer.text


def size(bytes_: float) -> str:
    return f"{bytes_ / 1e6:.2f} MB" if bytes_ >= 1e6 else f"{bytes_ / 1e3:.1f} kB"


def row(runtime: str, kind: str, loads: list[Load]) -> str:
    seconds = [load.seconds for load in loads]
    return (f"| {runtime} | {kind} | {statistics.median(seconds):.2f} s ({min(seconds):.2f}-{max(seconds):.2f}) "
            f"| {size(statistics.median(load.bytes for load in loads))} "
            f"| {statistics.median(load.requests for load in loads):.0f} "
            f"| {statistics.median(load.widget_requests for load in loads):.0f} |")


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (the base class's name)
        pass


def main(runs: int, runtimes: list[str]) -> None:
    print(f"From navigation to the first of {MARKERS} existing markers drawn; median of {runs} runs "
          "(min-max); bytes and requests that went to the network (medians):")
    print("| runtime | load | first marker | bytes received | requests | runtime/widget requests |")
    print("|---|---|---|---|---|---|", flush=True)
    with tempfile.TemporaryDirectory() as folder, sync_playwright() as playwright:
        server = ServerProcess(Path(folder) / "bench.db").start()
        site_dir = Path(folder) / "site"
        site_dir.mkdir()
        site = ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory=str(site_dir)))
        threading.Thread(target=site.serve_forever, daemon=True).start()
        site_origin = f"http://127.0.0.1:{site.server_address[1]}"
        try:
            create_markers(server, site_origin)
            for runtime in runtimes:
                # "pyodide:nosnapshot": Pyodide with data-snapshot="off" (no memory snapshot kept)
                name, _, option = runtime.partition(":")
                attributes = ' data-snapshot="off"' if option == "nosnapshot" else ""
                page = runtime.replace(":", "-")
                (site_dir / f"{page}.html").write_text(
                    SITE_PAGE.format(server=server.url, runtime=name, url_id=URL_ID, attributes=attributes))
                url = f"{site_origin}/{page}.html"
                try:
                    print(row(runtime, "cold", cold_loads(playwright, url, runs)), flush=True)
                    same_browser, restarted = warm_loads(playwright, url, runs)
                    print(row(runtime, "warm, same browser", same_browser), flush=True)
                    print(row(runtime, "warm, browser restarted", restarted), flush=True)
                except PlaywrightError as error:  # e.g. a runtime this server cannot serve
                    print(f"| {runtime} | | did not start: {str(error).splitlines()[0]} | | | |", flush=True)
        finally:
            site.shutdown()
            server.stop()


if __name__ == "__main__":
    arguments = sys.argv[1:]
    main(int(arguments[0]) if arguments else 5, arguments[1:] or RUNTIMES)
