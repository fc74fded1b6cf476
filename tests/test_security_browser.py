"""The trust boundary as users see it, in Chromium: who gets which buttons, moderators, read-only
mode, sign-on names that try to inject markup, and the widget over https/wss."""

from __future__ import annotations

import ssl

import httpx
import pytest
import trustme
from playwright.sync_api import expect

from imagechat.security.sso import sign_sso
from tests.conftest import wait_until
from tests.test_security import demo_secret
from tests.widget_page import Viewer

pytestmark = pytest.mark.browser


def test_others_get_no_edit_or_delete_and_a_forced_request_is_refused(new_context, fresh_server):
    alice = Viewer(new_context(fresh_server).new_page()).open()
    bob = Viewer(new_context(fresh_server).new_page()).open()
    alice.drop_marker(300, 200, "Alice's thread")
    expect(bob.pins).to_have_count(1)
    bob.open_thread(1)
    bob.reply("Bob's reply", name="Bob")
    expect(bob.comments).to_have_count(2)
    expect(bob.comments.nth(0).get_by_role("button")).to_have_count(0)  # no Edit, no Delete on Alice's
    expect(bob.comments.nth(1).get_by_role("button")).to_have_count(2)  # Edit and Delete on his own
    expect(bob.popover.get_by_role("button", name="Delete marker")).to_have_count(0)

    comment_id = bob.comments.nth(0).get_attribute("data-comment")
    status = bob.page.evaluate("""async (commentId) => {
        const session = JSON.parse(localStorage.getItem('imagechat.session.demo'));
        const answer = await fetch('/api/v1/tenants/demo/comments/' + commentId, {method: 'PATCH',
            headers: {'Authorization': 'Bearer ' + session.token, 'Content-Type': 'application/json'},
            body: JSON.stringify({text: 'Bob rewrites Alice'})});
        return answer.status;
    }""", comment_id)
    assert status == 403
    expect(alice.comments.nth(0).locator(".text")).to_have_text("Alice's thread")


def test_a_moderator_signed_on_by_the_site_deletes_others_threads_and_everyone_sees_it_go(new_context, fresh_server):
    alice = Viewer(new_context(fresh_server).new_page()).open()
    alice.drop_marker(300, 200, "Something to moderate")
    dana = Viewer(new_context(fresh_server).new_page()).open("/demo/sso?as=dana")
    erin = Viewer(new_context(fresh_server).new_page()).open("/demo/sso?as=erin")
    for signed_on in (dana, erin):
        signed_on.open_thread(1)
        expect(signed_on.popover.locator(".identity")).to_contain_text("Commenting as")
        expect(signed_on.popover.locator(".identity input")).to_have_count(0)  # no name to type
    expect(dana.popover.locator(".identity b")).to_have_text("Dana (moderator)")
    expect(erin.popover.get_by_role("button", name="Delete marker")).to_have_count(0)
    dana.comments.first.get_by_role("button", name="Delete").wait_for()
    dana.popover.get_by_role("button", name="Delete marker").click()
    for viewer in (alice, dana, erin):
        expect(viewer.pins).to_have_count(0)


def test_a_readonly_tenant_shows_threads_but_offers_no_way_to_change_them(new_context, fresh_server):
    headers = fresh_server.sign_in("Ada")
    httpx.post(f"{fresh_server.url}/api/v1/tenants/demo/markers", headers=headers,
               json={"urlId": "demo-dashboard-v1", "x": 0.3, "y": 0.3, "text": "Frozen in time"})
    fresh_server.cli("tenant", "update", "demo", "--readonly")
    snapshot = f"{fresh_server.url}/api/v1/tenants/demo/snapshot?urlId=demo-dashboard-v1"
    wait_until(lambda: httpx.get(snapshot).json()["readonly"], timeout=15)  # tenants are cached 5 s
    viewer = Viewer(new_context(fresh_server).new_page()).open()
    expect(viewer.pins).to_have_count(1)
    viewer.open_thread(1)
    expect(viewer.comments.locator(".text")).to_have_text(["Frozen in time"])
    expect(viewer.popover.locator("textarea")).to_have_count(0)
    expect(viewer.popover.get_by_role("button", name="Delete marker")).to_have_count(0)
    viewer.popover.get_by_role("button", name="Close").click()
    viewer.layer.click(position={"x": 700, "y": 500})
    expect(viewer.widget.locator(".callout")).to_have_text("This conversation is view-only.")
    expect(viewer.popover).to_be_hidden()


def test_sign_on_names_with_markup_render_as_text(new_context, fresh_server):
    dialogs: list[str] = []
    name = '<img src=x onerror="window.__xss=1;alert(1)">Eve'
    sso = sign_sso(demo_secret(fresh_server), "eve", name)
    token = httpx.post(f"{fresh_server.url}/api/v1/tenants/demo/sessions", json={"sso": sso},
                       headers={"Origin": fresh_server.url}).json()["token"]
    httpx.post(f"{fresh_server.url}/api/v1/tenants/demo/markers",
               headers={"Authorization": f"Bearer {token}", "Origin": fresh_server.url},
               json={"urlId": "demo-dashboard-v1", "x": 0.4, "y": 0.4, "text": "<script>window.__xss=2</script>"})
    page = new_context(fresh_server).new_page()
    page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    viewer = Viewer(page).open()
    viewer.open_thread(1)
    expect(viewer.comments.first.locator(".author")).to_have_text(name)
    expect(viewer.comments.first.locator(".text")).to_have_text("<script>window.__xss=2</script>")
    assert page.evaluate("window.__xss") is None and dialogs == []
    assert page.evaluate("document.querySelector('image-chat').shadowRoot.querySelectorAll('.popover img').length") == 0


def test_the_widget_works_over_https_and_wss(browser, server_with, tmp_path):
    authority = trustme.CA()
    pem = tmp_path / "server.pem"
    authority.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(pem))
    ca_file = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(ca_file))
    trust = ssl.create_default_context(cafile=str(ca_file))
    server = server_with("--ssl-certfile", str(pem), "--ssl-keyfile", str(pem), scheme="https", verify=trust)
    context = browser.new_context(base_url=server.url, ignore_https_errors=True)
    page = context.new_page()
    sockets: list[str] = []
    page.on("websocket", lambda socket: sockets.append(socket.url))
    viewer = Viewer(page).open()
    viewer.drop_marker(400, 300, "Over TLS")
    expect(viewer.comments).to_have_count(1)
    assert sockets and all(url.startswith("wss://127.0.0.1:") for url in sockets)
    snapshot = lambda: httpx.get(f"{server.url}/api/v1/tenants/demo/snapshot",  # noqa: E731
                                 params={"urlId": "demo-dashboard-v1"}, verify=trust).json()
    wait_until(lambda: [m["comments"][0]["text"] for m in snapshot()["markers"]] == ["Over TLS"])
    with pytest.raises(httpx.TransportError):  # and nothing in clear
        httpx.get(server.url.replace("https", "http") + "/healthz")
    context.close()


def test_a_session_the_server_no_longer_takes_does_not_lock_the_widget_out(new_context, fresh_server):
    """The tenant's secret was rotated (every session revoked): the page still shows and syncs
    the threads, and the user's next comment signs in again by itself."""
    context = new_context(fresh_server)
    alice = Viewer(context.new_page()).open()
    alice.drop_marker(300, 200, "Before the rotation")
    expect(alice.comments.first.get_by_role("button", name="Edit")).to_be_visible()
    fresh_server.cli("tenant", "rotate-secret", "demo")
    token = alice.page.evaluate("JSON.parse(localStorage.getItem('imagechat.session.demo')).token")
    stale = {"Authorization": f"Bearer {token}", "Origin": fresh_server.url}
    wait_until(lambda: httpx.delete(f"{fresh_server.url}/api/v1/tenants/demo/markers/none",
                                    headers=stale).status_code == 401, timeout=15)
    alice.page.reload()
    alice.expect_status("connected", timeout=30_000)
    expect(alice.pins).to_have_count(1)
    alice.drop_marker(700, 400, "After the rotation")
    expect(alice.pins).to_have_count(2)
    wait_until(lambda: len(httpx.get(f"{fresh_server.url}/api/v1/tenants/demo/snapshot",
                                     params={"urlId": "demo-dashboard-v1"}).json()["markers"]) == 2)
