"""The usage dashboard, in Chromium: a site owner signs in with the tenant's API secret and sees
the counters, the chart and the busiest images; another tenant's secret sees nothing."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from tests.test_security import demo_secret
from tests.widget_page import Viewer

pytestmark = pytest.mark.browser
SCREENSHOTS = Path(__file__).resolve().parent.parent / "test-results" / "screenshots"


def test_the_owner_sees_usage_and_another_tenant_does_not(new_context, fresh_server):
    other = fresh_server.cli("tenant", "create", "Other Site", "--id", "other", "--origin", "https://other.example")
    other_secret = other.split("api secret: ")[1].strip()
    viewer = Viewer(new_context(fresh_server).new_page()).open()
    for n, (x, y) in enumerate([(300, 200), (600, 350), (900, 500)]):
        viewer.drop_marker(x, y, f"Usage {n}")
        viewer.popover.get_by_role("button", name="Close").click()
    expect(viewer.pins).to_have_count(3)

    page = new_context(fresh_server).new_page()
    page.goto("/dashboard/?tenant=demo")
    page.locator("input[name=secret]").fill(other_secret)
    page.get_by_role("button", name="Show usage").click()
    expect(page.locator(".signin-error")).to_contain_text("does not match")
    expect(page.locator(".usage-chart")).to_have_count(0)

    page.locator("input[name=secret]").fill(demo_secret(fresh_server))
    page.get_by_role("button", name="Show usage").click()
    expect(page.locator("[data-metric=markersCreated]")).to_have_attribute("data-value", "3")
    expect(page.locator("[data-metric=connections]")).to_have_attribute("data-value", "1")
    messages = int(page.locator("[data-metric=pubSubMessageCount]").get_attribute("data-value"))
    assert messages >= 4  # the subscription's answer and three events, at least
    assert int(page.locator("[data-metric=pubSubBandwidth]").get_attribute("data-value")) > 3 * 300
    expect(page.locator(".usage-chart canvas").first).to_be_visible()  # uPlot draws on a canvas
    assert int(page.locator(".usage-chart").get_attribute("data-messages")) == messages  # every message is charted
    expect(page.locator("table.busiest")).to_contain_text("demo-dashboard-v1")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "dashboard.png"), full_page=True)

    refused = httpx.get(f"{fresh_server.url}/api/v1/tenants/demo/usage", headers={"Authorization": f"Secret {other_secret}"})
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_secret"
