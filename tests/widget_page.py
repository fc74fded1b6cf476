"""A user's page on the demo image, driven through Playwright: the widget's parts by role and class."""

from __future__ import annotations

from playwright.sync_api import Page, expect

PYTHON_START_TIMEOUT = 30_000  # a cold Pyodide start takes about 3 s here; leave room on slow CI
# The widget's interpreters (embed.js's data-runtime; the demo page takes it as ?runtime=).
RUNTIMES = ["pyodide", "micropython"]

# Counts the pins in the widget's shadow root on every DOM change, keeping the highest count,
# so that a duplicate shown even for one frame is caught.
PIN_WATCH = """() => {
  const root = document.querySelector('image-chat').shadowRoot;
  window.__maxPins = 0;
  const count = () => root.querySelectorAll('.pin:not(.draft)').length;
  new MutationObserver(() => { window.__maxPins = Math.max(window.__maxPins, count()); })
    .observe(root, {childList: true, subtree: true, attributes: true});
}"""


class Viewer:
    """One user's page on the demo image, its widget run by `runtime`."""

    def __init__(self, page: Page, runtime: str = "pyodide") -> None:
        self.page = page
        self.runtime = runtime
        self.widget = page.locator("image-chat")
        self.layer = self.widget.locator(".layer")
        self.pins = self.widget.locator(".pin:not(.draft)")
        self.popover = self.widget.locator(".popover")
        self.comments = self.popover.locator(".comment")

    def open(self, path: str = "/demo/") -> "Viewer":
        if self.runtime != "pyodide":
            path += ("&" if "?" in path else "?") + "runtime=" + self.runtime
        self.page.goto(path)
        self.expect_status("connected", timeout=PYTHON_START_TIMEOUT)
        assert self.page.evaluate("window.ImageChat.runningOn") == self.runtime
        return self

    def expect_status(self, state: str, timeout: float = 5_000) -> None:
        expect(self.widget.locator(".status")).to_have_attribute("data-state", state, timeout=timeout)

    def watch_pins(self) -> None:
        self.page.evaluate(PIN_WATCH)

    def max_pins_seen(self) -> int:
        return self.page.evaluate("window.__maxPins")

    def drop_marker(self, x: int, y: int, text: str, name: str = "Ada") -> None:
        self.layer.click(position={"x": x, "y": y})
        name_field = self.popover.locator("input.name")
        if name_field.count():
            name_field.fill(name)
        self.popover.locator("textarea.message").fill(text)
        self.popover.get_by_role("button", name="Comment").click()

    def open_thread(self, number: int) -> None:
        pin = self.pins.nth(number - 1)
        if "open" not in (pin.get_attribute("class") or "").split():  # a click on an open pin closes it
            pin.click()
        expect(self.popover.locator(".title")).to_have_text(f"Thread #{number}")

    def reply(self, text: str, name: str = "Bob") -> None:
        name_field = self.popover.locator("input.name")
        if name_field.count():
            name_field.fill(name)
        self.popover.locator("textarea.message").fill(text)
        self.popover.get_by_role("button", name="Reply").click()
