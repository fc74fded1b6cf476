"""The demo's three pages (a mockup review, a support ticket, a class), linked from each other, and
the threads `imagechat serve --seed-demo` opens them with."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from imagechat.demo import SEED_THREADS
from tests.conftest import ServerProcess
from tests.widget_page import PYTHON_START_TIMEOUT, Viewer

SCREENSHOTS = Path(__file__).resolve().parent.parent / "test-results" / "screenshots"
PAGES = {"/demo/": "demo-dashboard-v1", "/demo/support.html": "demo-support-v1", "/demo/class.html": "demo-class-v1"}


def snapshot(server: ServerProcess, url_id: str) -> dict:
    answer = httpx.get(f"{server.url}/api/v1/tenants/demo/snapshot", params={"urlId": url_id})
    assert answer.status_code == 200, answer.text
    return answer.json()


def threads(server: ServerProcess, url_id: str) -> list[tuple[str, int]]:
    return [(m["comments"][0]["text"], m["commentCount"]) for m in snapshot(server, url_id)["markers"]]


@pytest.fixture
def seeded_server(tmp_path):
    (tmp_path / "seeded").mkdir()
    process = ServerProcess(tmp_path / "seeded" / "imagechat.db", None, "--seed-demo").start()
    yield process
    process.stop()


def test_seed_demo_opens_each_demo_image_once_with_its_threads(seeded_server, fresh_server):
    assert set(PAGES.values()) == set(SEED_THREADS)
    for url_id, seeded in SEED_THREADS.items():
        assert threads(seeded_server, url_id) == [(thread[0][2], len(thread)) for _, thread in seeded]
        assert snapshot(fresh_server, url_id)["markers"] == []  # not without the flag
    # A seeded image that was commented on since is left as it is at the next start.
    marker_id = snapshot(seeded_server, "demo-class-v1")["markers"][0]["id"]
    headers = seeded_server.sign_in("Ada")
    deleted = httpx.delete(f"{seeded_server.url}/api/v1/tenants/demo/markers/{marker_id}", headers=headers)
    assert deleted.status_code == 403  # anonymous users delete only their own: a moderator's job
    answer = httpx.post(f"{seeded_server.url}/api/v1/tenants/demo/markers/{marker_id}/comments",
                        json={"text": "Same question here"}, headers=headers)
    assert answer.status_code == 201, answer.text
    before = {url_id: threads(seeded_server, url_id) for url_id in SEED_THREADS}
    seeded_server.stop()
    seeded_server.start()
    assert {url_id: threads(seeded_server, url_id) for url_id in SEED_THREADS} == before


@pytest.mark.browser
def test_each_demo_page_links_the_others_and_shows_its_threads_at_once(new_context, seeded_server):
    page = new_context(seeded_server).new_page()
    viewer = Viewer(page)
    page.goto("/demo/")
    for path, url_id in PAGES.items():
        link = page.get_by_role("navigation", name="Demo pages").locator(f'a[href="{path}"]')
        link.click()
        expect(link).to_have_attribute("aria-current", "page")
        assert page.locator("img[data-image-chat]").get_attribute("data-url-id") == url_id
        viewer.expect_status("connected", timeout=PYTHON_START_TIMEOUT)
        expect(viewer.pins).to_have_count(len(SEED_THREADS[url_id]))
        viewer.open_thread(1)
        expect(viewer.comments).to_have_count(len(SEED_THREADS[url_id][0][1]))
        page.screenshot(path=str(SCREENSHOTS / f"demo-{url_id}.png"))
