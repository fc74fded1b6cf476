"""How long a new marker takes to show in another browser (context) and in another tab.

Starts `imagechat serve` on a temporary SQLite file, opens the demo page as user A (two tabs) and
user B in Debian's Chromium, then drops RUNS markers from A's first tab. For each, it prints when
the pin appeared in A's second tab (BroadcastChannel) and in B (WebSocket through the server),
measured with the browsers' own clocks (one machine: one clock). Prints medians; asserts nothing.

    .venv/bin/python benchmarks/sync_latency.py [RUNS]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.conftest import CHROMIUM, CHROMIUM_ARGS, ServerProcess  # noqa: E402
from tests.widget_page import PYTHON_START_TIMEOUT, Viewer  # noqa: E402

# Records when the number of pins grows to n: window.__pinTimes[n] = Date.now().
PIN_TIMES = """() => {
  const root = document.querySelector('image-chat').shadowRoot;
  window.__pinTimes = {};
  new MutationObserver(() => {
    const n = root.querySelectorAll('.pin:not(.draft)').length;
    if (!(n in window.__pinTimes)) window.__pinTimes[n] = Date.now();
  }).observe(root, {childList: true, subtree: true});
}"""

SUBMIT = """() => {
  const button = document.querySelector('image-chat').shadowRoot
    .querySelector('button[data-action=submit-draft]');
  const sent = Date.now();
  button.click();
  return sent;
}"""


def main(runs: int) -> None:
    with tempfile.TemporaryDirectory() as folder, sync_playwright() as playwright:
        server = ServerProcess(Path(folder) / "bench.db").start()
        try:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            user_a = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 900})
            user_b = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 900})
            tab1 = Viewer(user_a.new_page()).open()
            tab2 = Viewer(user_a.new_page()).open()
            other = Viewer(user_b.new_page()).open()
            for viewer in (tab2, other):
                viewer.page.evaluate(PIN_TIMES)
            tab_ms, device_ms = [], []
            for run in range(1, runs + 1):
                tab1.layer.click(position={"x": 60 + (run % 10) * 100, "y": 120 + (run // 10) * 120})
                name = tab1.popover.locator("input.name")
                if name.count():
                    name.fill("Bench")
                tab1.popover.locator("textarea.message").fill(f"Latency run {run}")
                sent = tab1.page.evaluate(SUBMIT)
                for viewer, samples in ((tab2, tab_ms), (other, device_ms)):
                    viewer.page.wait_for_function(f"() => window.__pinTimes[{run}]", timeout=PYTHON_START_TIMEOUT)
                    samples.append(viewer.page.evaluate(f"window.__pinTimes[{run}]") - sent)
                tab1.popover.get_by_role("button", name="Close").click()
            browser.close()
        finally:
            server.stop()
    for label, samples in (("another tab (BroadcastChannel)", tab_ms), ("another browser (WebSocket)", device_ms)):
        print(f"{label:32} median {statistics.median(samples):6.1f} ms   "
              f"min {min(samples):4d}   max {max(samples):4d}   n={len(samples)}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
