"""How long the demo page takes until its existing markers show, cold and warm.

Starts `imagechat serve` on a temporary SQLite file, creates 3 markers on the demo image through
the REST API, then opens the demo page in Debian's Chromium RUNS times:
- cold: each run in a new browser context (empty cache, as a first visit);
- warm: one context, the page reloaded (runtime files from the browser's cache).
Each run is timed with the page's own clock, from the start of the navigation
(`performance.now()` is 0 there) to the first animation frame in which all 3 pins are in the
widget. Prints min / median / max; asserts nothing.

    .venv/bin/python benchmarks/startup.py [RUNS]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.conftest import CHROMIUM, CHROMIUM_ARGS, ServerProcess  # noqa: E402
from tests.widget_page import PYTHON_START_TIMEOUT  # noqa: E402

MARKERS = 3
URL_ID = "demo-dashboard-v1"  # the demo page's image

# Installed before any page script: checks every animation frame for the pins.
WATCH_PINS = """(() => {
  const check = () => {
    const widget = document.querySelector('image-chat');
    const pins = widget && widget.shadowRoot ? widget.shadowRoot.querySelectorAll('.pin:not(.draft)').length : 0;
    if (pins >= %d) window.__markersShownAt = performance.now();
    else requestAnimationFrame(check);
  };
  requestAnimationFrame(check);
})();""" % MARKERS


def time_until_markers(page) -> float:
    page.wait_for_function("window.__markersShownAt !== undefined", timeout=PYTHON_START_TIMEOUT)
    return page.evaluate("window.__markersShownAt") / 1000


def summary(label: str, seconds: list[float]) -> str:
    return (f"{label:5} median {statistics.median(seconds):.2f} s   min {min(seconds):.2f}   "
            f"max {max(seconds):.2f}   n={len(seconds)}   ({', '.join(f'{s:.2f}' for s in seconds)})")


def main(runs: int) -> None:
    with tempfile.TemporaryDirectory() as folder, sync_playwright() as playwright:
        server = ServerProcess(Path(folder) / "bench.db").start()
        try:
            headers = server.sign_in("Bench")
            for n in range(MARKERS):
                answer = httpx.post(f"{server.url}/api/v1/tenants/demo/markers", headers=headers,
                                    json={"urlId": URL_ID, "x": 0.2 + 0.3 * n, "y": 0.4, "text": f"Marker {n + 1}"})
                assert answer.status_code == 201, answer.text
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            cold = []
            for _ in range(runs):
                context = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 900})
                context.add_init_script(WATCH_PINS)
                page = context.new_page()
                page.goto("/demo/")
                cold.append(time_until_markers(page))
                context.close()
            warm = []
            context = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 900})
            context.add_init_script(WATCH_PINS)
            page = context.new_page()
            page.goto("/demo/")
            time_until_markers(page)  # fills the cache
            for _ in range(runs):
                page.reload()
                warm.append(time_until_markers(page))
            context.close()
            browser.close()
        finally:
            server.stop()
    print(f"From navigation to {MARKERS} existing markers shown (demo page, Chromium):")
    print(summary("cold", cold))
    print(summary("warm", warm))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
