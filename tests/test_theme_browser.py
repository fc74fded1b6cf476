"""Themes and branding, in Chromium: the widget follows the system's colour scheme or the image's
data-theme, a site brands it through the documented custom properties, and markers stand out on
dark, light and busy images (measured on screenshots, and kept as pictures to look at)."""

from __future__ import annotations

import base64
import math
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.rest import Rest, ok
from tests.widget_page import PYTHON_START_TIMEOUT

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parent.parent / "test-results" / "screenshots"
MARKER = "#d12c55"  # the default --imagechat-marker

# Test images (not shipped): a night scene, and a light, busy one with a white, a black and a
# marker-coloured patch: the three colours a marker's own colours could melt into.
DARK_SVG = """<svg xmlns="http://www.w3.org/2000/svg" width="600" height="375" viewBox="0 0 600 375">
<rect width="600" height="375" fill="#0b0e1a"/><rect y="250" width="600" height="125" fill="#141a2e"/>
<circle cx="470" cy="80" r="36" fill="#e9e4c8"/>
<g fill="#fff">""" + "".join(f'<circle cx="{(i * 97) % 600}" cy="{(i * 53) % 220}" r="1.5"/>' for i in range(40)) + """</g>
<path d="M0 300 L120 210 L230 290 L360 190 L480 280 L600 230 V375 H0Z" fill="#05070d"/></svg>"""
BUSY_SVG = """<svg xmlns="http://www.w3.org/2000/svg" width="600" height="375" viewBox="0 0 600 375">
<rect width="600" height="375" fill="#f4f1ea"/>
<g>""" + "".join(
    f'<rect x="{(i * 37) % 560}" y="{(i * 61) % 340}" width="{30 + i % 5 * 12}" height="{20 + i % 4 * 9}" '
    f'fill="{["#ffd166", "#06d6a0", "#118ab2", "#ef476f", "#8ecae6", "#ffb703", "#fb8500", "#adb5bd"][i % 8]}"/>'
    for i in range(70)) + f"""</g>
<rect x="20" y="20" width="90" height="90" fill="#fff"/><rect x="490" y="20" width="90" height="90" fill="#000"/>
<rect x="20" y="265" width="90" height="90" fill="{MARKER}"/></svg>"""

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>Themes</title>
<style>body {{ margin: 16px; background: {background}; }} img {{ margin: 0 8px 8px 0; }} {style}</style>
<script type="module" src="{server}/embed.js" data-runtime="micropython"></script></head><body>
<img id="night" src="dark.svg" alt="A night scene" data-image-chat data-tenant="themes" data-url-id="theme-night" width="600" height="375"{night}>
<img id="busy" src="busy.svg" alt="A busy light image" data-image-chat data-tenant="themes" data-url-id="theme-busy" width="600" height="375"{busy}>
</body></html>"""


@pytest.fixture
def site(tmp_path, fresh_server):
    """A site on another origin (tenant `themes`) with the two test images; `site(page, ...)` writes
    its page (a background, a stylesheet, attributes of each image), opens it and waits until both
    widgets run."""
    (tmp_path / "dark.svg").write_text(DARK_SVG)
    (tmp_path / "busy.svg").write_text(BUSY_SVG)
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(SimpleHTTPRequestHandler, directory=str(tmp_path)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    origin = f"http://127.0.0.1:{server.server_address[1]}"
    fresh_server.cli("tenant", "create", "Themes", "--id", "themes", "--origin", origin, "--origin", fresh_server.url)

    def open_page(page: Page, background: str = "#fff", style: str = "", night: str = "", busy: str = "") -> None:
        html = PAGE.format(server=fresh_server.url, background=background, style=style, night=night, busy=busy)
        (tmp_path / "page.html").write_text(html)
        page.goto(f"{origin}/page.html")
        expect(page.locator("image-chat .status[data-state=connected]")).to_have_count(2, timeout=PYTHON_START_TIMEOUT)

    yield open_page
    server.shutdown()


def widget(page: Page, image: str):
    return page.locator("image-chat").filter(has=page.locator(f"#{image}"))


def surface(page: Page, image: str) -> str:
    """The background of the image's status pill (light or dark glass)."""
    return widget(page, image).locator(".status").evaluate("e => getComputedStyle(e).backgroundColor")


LIGHT_GLASS, DARK_GLASS = "rgba(255, 255, 255, 0.94)", "rgba(30, 33, 43, 0.94)"


def test_the_widget_follows_the_system_scheme_unless_the_image_names_a_theme(browser, site):
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.emulate_media(color_scheme="light")
    site(page, busy=' data-theme="dark"')
    expect(widget(page, "busy")).to_have_attribute("data-theme", "dark")  # copied onto the host element
    assert (surface(page, "night"), surface(page, "busy")) == (LIGHT_GLASS, DARK_GLASS)

    widget(page, "busy").locator(".layer").click(position={"x": 300, "y": 150})
    popover = widget(page, "busy").locator(".popover")
    expect(popover.locator("textarea.message")).to_be_visible()
    colours = popover.evaluate("e => [getComputedStyle(e).backgroundColor, getComputedStyle(e).color]")
    assert colours == ["rgb(30, 33, 43)", "rgb(232, 234, 240)"]

    page.emulate_media(color_scheme="dark")
    assert (surface(page, "night"), surface(page, "busy")) == (DARK_GLASS, DARK_GLASS)
    page.locator("#busy").evaluate("img => img.setAttribute('data-theme', 'light')")  # the site's own switch
    expect(widget(page, "busy")).to_have_attribute("data-theme", "light")
    assert surface(page, "busy") == LIGHT_GLASS
    assert popover.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(255, 255, 255)"
    page.locator("#busy").evaluate("img => img.removeAttribute('data-theme')")
    expect(widget(page, "busy")).not_to_have_attribute("data-theme", "light")
    assert surface(page, "busy") == DARK_GLASS


def test_a_site_brands_the_widget_with_the_custom_properties(browser, fresh_server, site):
    ok(Rest(fresh_server, tenant="themes").create_marker("theme-busy", "Branded", x=0.5, y=0.5))
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    site(page, style="""image-chat {
      --imagechat-accent: rgb(0, 110, 80); --imagechat-on-accent: rgb(255, 255, 250);
      --imagechat-marker: rgb(20, 90, 200); --imagechat-marker-size: 40px;
      --imagechat-font: "DejaVu Serif", serif; }""")
    pin = widget(page, "busy").locator(".pin")
    expect(pin).to_have_count(1)
    box = pin.bounding_box()
    assert (box["width"], box["height"]) == (40, 40)
    assert pin.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(20, 90, 200)"
    pin.click()
    popover = widget(page, "busy").locator(".popover")
    button = popover.get_by_role("button", name="Reply")
    expect(button).to_be_visible()
    assert button.evaluate("e => [getComputedStyle(e).backgroundColor, getComputedStyle(e).color]") == [
        "rgb(0, 110, 80)", "rgb(255, 255, 250)"]
    assert popover.evaluate("e => getComputedStyle(e).fontFamily").startswith('"DejaVu Serif"')


# Reads a PNG screenshot's pixels as relative luminances (WCAG), row by row.
LUMINANCES = """async (png) => {
  const bitmap = await createImageBitmap(await (await fetch("data:image/png;base64," + png)).blob());
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const context = canvas.getContext("2d");
  context.drawImage(bitmap, 0, 0);
  const data = context.getImageData(0, 0, bitmap.width, bitmap.height).data;
  const linear = (c) => (c /= 255) <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  const lum = [];
  for (let i = 0; i < data.length; i += 4) {
    lum.push(0.2126 * linear(data[i]) + 0.7152 * linear(data[i + 1]) + 0.0722 * linear(data[i + 2]));
  }
  return { width: bitmap.width, lum };
}"""
PAD = 6


def edge_contrast(page: Page, pin) -> float:
    """How much a pin's edge (its white ring, the dark ring around it) changes the image there, in
    its weakest direction: the largest luminance difference along each of 24 rays, the smallest."""
    box = pin.bounding_box()
    clip = {"x": box["x"] - PAD, "y": box["y"] - PAD, "width": box["width"] + 2 * PAD, "height": box["height"] + 2 * PAD}
    root = "document.querySelectorAll('image-chat')"

    def luminances() -> dict:
        png = base64.b64encode(page.screenshot(clip=clip, animations="disabled")).decode()
        return page.evaluate(LUMINANCES, png)

    shown = luminances()
    page.evaluate(f"""() => {root}.forEach((host) => {{
      const style = document.createElement('style'); style.className = 'hide-pins';
      style.textContent = '.pin {{ visibility: hidden; }}'; host.shadowRoot.append(style); }})""")
    hidden = luminances()
    page.evaluate(f"() => {root}.forEach((host) => host.shadowRoot.querySelector('.hide-pins').remove())")
    width, radius = shown["width"], box["width"] / 2
    centre = PAD + radius
    weakest = 1.0
    for step in range(24):
        angle = 2 * math.pi * step / 24
        strongest = 0.0
        for tenth in range(-20, 16, 5):  # from 2 px inside the edge to 1.5 px outside
            r = radius + tenth / 10
            i = int(centre + r * math.sin(angle)) * width + int(centre + r * math.cos(angle))
            strongest = max(strongest, abs(shown["lum"][i] - hidden["lum"][i]))
        weakest = min(weakest, strongest)
    return weakest


@pytest.mark.parametrize("scheme", ["dark", "light"])
def test_markers_stand_out_on_dark_light_and_busy_images(browser, fresh_server, site, scheme):
    rest = Rest(fresh_server, tenant="themes")
    spots = {  # on the busy image: its white, black and marker-coloured patches, and the busy middle
        "theme-busy": [(65 / 600, 65 / 375), (535 / 600, 65 / 375), (65 / 600, 310 / 375), (0.5, 0.45)],
        "theme-night": [(0.2, 0.3), (470 / 600, 80 / 375), (0.5, 0.9)],  # dark sky, the moon, the ground
    }
    for url_id, points in spots.items():
        for n, (x, y) in enumerate(points):
            ok(rest.create_marker(url_id, f"Spot {n + 1}: is the marker easy to see here?", x=x, y=y))
    first = ok(rest.create_marker("theme-busy", "And on its busiest part?", x=0.3, y=0.6))
    rest.reply(first["marker"]["id"], "Yes, the outline keeps it readable.")
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.emulate_media(color_scheme=scheme)
    site(page, background="#15171d" if scheme == "dark" else "#fff")
    pins = page.locator("image-chat .pin")
    expect(pins).to_have_count(8)
    page.mouse.move(0, 0)
    contrast = [round(edge_contrast(page, pins.nth(i)), 2) for i in range(8)]
    assert min(contrast) >= 0.3, contrast

    widget(page, "busy").locator(".pin").last.click()
    expect(widget(page, "busy").locator(".popover .comment")).to_have_count(2)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    # theme-dark.png is the README's public/demo/dark.png (copied by hand when the look changes).
    page.screenshot(path=str(SCREENSHOTS / f"theme-{scheme}.png"), clip={"x": 0, "y": 0, "width": 1260, "height": 600})
