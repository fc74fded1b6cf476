"""Presence in Chromium: users on the demo image see a badge with how many look at it and the
signed-in ones' initials (their names in its tooltip), and see others leave. Both runtimes."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import BrowserContext, expect

from tests.conftest import ServerProcess
from tests.widget_page import RUNTIMES, Viewer

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parent.parent / "test-results" / "screenshots"
SESSION_KEY = "imagechat.session.demo"  # where the widget keeps its session (identity.py)


def signed_in(context: BrowserContext, server: ServerProcess, name: str) -> BrowserContext:
    """The context's pages start signed in as `name`: the session the widget would have stored."""
    answer = httpx.post(f"{server.url}/api/v1/tenants/demo/sessions", json={"name": name},
                        headers={"Origin": server.url})
    assert answer.status_code == 201, answer.text
    context.add_init_script(f"localStorage.setItem({json.dumps(SESSION_KEY)}, {json.dumps(answer.text)})")
    return context


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_users_see_who_else_is_looking(new_context, fresh_server, runtime):
    ada = Viewer(signed_in(new_context(fresh_server), fresh_server, "Ada Lovelace").new_page(), runtime).open()
    ada_badge = ada.widget.locator(".presence")
    expect(ada_badge).to_have_count(0)  # alone: no badge
    guest_page = new_context(fresh_server).new_page()
    guest_sockets = []
    guest_page.on("websocket", lambda socket: guest_sockets.append(socket))
    guest = Viewer(guest_page, runtime).open()
    guest_badge = guest.widget.locator(".presence")
    for badge in (ada_badge, guest_badge):
        expect(badge).to_have_text("2 here · AL")
        expect(badge).to_have_attribute("title", "Ada Lovelace and 1 more looking at this image")
    guest.drop_marker(300, 200, "Signed in by this first comment", name="Gus")
    for badge in (ada_badge, guest_badge):  # named at once, on the same connection (an `identify` frame)
        expect(badge).to_have_text("2 here · AL, GU")
    assert len([socket for socket in guest_sockets if "/live" in socket.url]) == 1
    bo = Viewer(signed_in(new_context(fresh_server), fresh_server, "Bo").new_page(), runtime).open()
    for badge in (ada_badge, guest_badge, bo.widget.locator(".presence")):
        expect(badge).to_have_text("3 here · AL, BO, GU")
    bo.page.context.close()  # the tab goes: the others see it within a presence interval
    expect(ada_badge).to_have_text("2 here · AL, GU")
    guest.page.close()
    expect(ada_badge).to_be_hidden()


def test_screenshot_of_the_badge(new_context, fresh_server):
    ada = Viewer(signed_in(new_context(fresh_server), fresh_server, "Ada Lovelace").new_page()).open()
    for name in ("Bo Li", "Chen"):
        Viewer(signed_in(new_context(fresh_server), fresh_server, name).new_page(), "micropython").open()
    Viewer(new_context(fresh_server).new_page(), "micropython").open()
    expect(ada.widget.locator(".presence")).to_have_text("4 here · AL, BL, CH")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    box = ada.widget.bounding_box()
    assert box is not None
    corner = {"x": box["x"] + box["width"] - 520, "y": box["y"], "width": 520, "height": 200}  # the badge's
    ada.page.screenshot(path=str(SCREENSHOTS / "presence.png"), clip=corner)
