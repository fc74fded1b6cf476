"""An accessibility audit with axe-core (npm, a dev dependency of public/: never served nor shipped)
on the widget in each of its states and on the dashboard, in the light and the dark theme: no
serious or critical violation, and colour contrast passes."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.rest import Rest, ok
from tests.test_security import demo_secret
from tests.widget_page import Viewer

pytestmark = pytest.mark.browser

AXE = Path(__file__).resolve().parent.parent / "public" / "node_modules" / "axe-core" / "axe.min.js"
# WCAG 2.2 A and AA (colour contrast among them); axe goes into open shadow roots by itself.
RULES = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]}}

# How a page gets each theme: the system's preference, or the image's data-theme over it.
THEMES = {
    "light": ("light", None),
    "dark": ("dark", None),
    "data-theme dark on a light system": ("light", "dark"),
    "data-theme light on a dark system": ("dark", "light"),
}


def audit(page: Page, selector: str | None = None) -> list[str]:
    """The serious and critical violations axe finds in `selector` (the whole page without), and
    any colour contrast failure whatever its impact, one line each."""
    if not page.evaluate("typeof window.axe === 'object'"):
        # From the page's own origin, as its Content Security Policy allows (the dashboard's does not
        # allow inline scripts).
        page.route("**/axe-under-test.js", lambda route: route.fulfill(path=str(AXE), content_type="text/javascript"))
        page.add_script_tag(url="/axe-under-test.js")
    context = f"document.querySelector({selector!r})" if selector else "document"
    result = page.evaluate(f"async () => JSON.parse(JSON.stringify(await axe.run({context}, {RULES!r})))")
    return [
        f"{v['id']} ({v['impact']}): {node['target']} {node.get('failureSummary', '')}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical") or v["id"] == "color-contrast"
        for node in v["nodes"]
    ]


@pytest.mark.parametrize("theme", THEMES)
def test_the_widget_passes_axe_in_every_state(new_context, fresh_server, theme):
    scheme, data_theme = THEMES[theme]
    context = new_context(fresh_server)
    page = context.new_page()
    page.emulate_media(color_scheme=scheme)
    viewer = Viewer(page, "micropython").open()
    if data_theme:
        page.locator("img[data-image-chat]").evaluate(f"img => img.setAttribute('data-theme', {data_theme!r})")
        expect(viewer.widget).to_have_attribute("data-theme", data_theme)
    found: dict[str, list[str]] = {}

    viewer.drop_marker(300, 200, "The legend overlaps the chart")  # its thread stays open
    expect(viewer.comments).to_have_count(1)
    found["thread open"] = audit(page, "image-chat")

    viewer.popover.get_by_role("button", name="Close").click()
    expect(viewer.popover).to_be_hidden()
    found["closed"] = audit(page, "image-chat")

    viewer.widget.get_by_role("button", name="Threads").click()
    expect(viewer.popover.locator(".title")).to_have_text("Threads")
    found["thread list"] = audit(page, "image-chat")

    viewer.layer.click(position={"x": 700, "y": 400})
    expect(viewer.popover.locator("textarea.message")).to_be_visible()
    viewer.popover.locator("textarea.message").fill("A new thread")
    found["composer"] = audit(page, "image-chat")

    context.set_offline(True)
    viewer.expect_status("offline")
    viewer.popover.get_by_role("button", name="Comment").click()
    expect(viewer.popover.locator(".error")).to_be_visible()
    found["offline"] = audit(page, "image-chat")

    assert {state: lines for state, lines in found.items() if lines} == {}


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_dashboard_passes_axe(new_context, fresh_server, scheme):
    ok(Rest(fresh_server).create_marker("a11y-busiest", "A row for the busiest images"))
    page = new_context(fresh_server).new_page()
    page.emulate_media(color_scheme=scheme)
    page.goto("/dashboard/?tenant=demo")
    found = {"sign-in": audit(page)}
    page.locator("input[name=secret]").fill("not the secret")
    page.get_by_role("button", name="Show usage").click()
    expect(page.locator(".signin-error")).to_be_visible()
    found["refused"] = audit(page)
    page.locator("input[name=secret]").fill(demo_secret(fresh_server))
    page.get_by_role("button", name="Show usage").click()
    expect(page.locator(".usage-chart canvas").first).to_be_visible()
    expect(page.locator("table.busiest")).to_contain_text("a11y-busiest")
    found["usage"] = audit(page)
    assert {state: lines for state, lines in found.items() if lines} == {}
