"""The trust boundary against a real server: tenants, origins, tokens, sign-on, authorization,
read-only mode and limits. Every refusal is checked to leave what is stored unchanged."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from uuid import uuid4

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from imagechat.security.sso import sign_sso
from tests.conftest import wait_until
from tests.live import subscribe_answer
from tests.rest import Rest

OTHER_ORIGIN = "https://other.example"
SERVER_KEY = "test-signing-key-known-to-the-tests"


@pytest.fixture
def server(server_with):
    """A server whose session-signing key the tests know, so that they can forge and age tokens."""
    return server_with(env={"IMAGECHAT_SECRET_KEY": SERVER_KEY})


@pytest.fixture
def other_tenant(server) -> dict[str, str]:
    output = server.cli("tenant", "create", "Other Site", "--id", "other", "--origin", OTHER_ORIGIN)
    secret = output.split("api secret: ")[1].strip()
    return {"id": "other", "secret": secret}


def api(server, tenant: str = "demo") -> str:
    return f"{server.url}/api/v1/tenants/{tenant}"


def create_marker(server, headers, url_id="img-1", text="hello", tenant="demo") -> httpx.Response:
    with Rest(server, None, tenant) as rest:
        return rest.create_marker(url_id, text, headers=headers)


def made_token(claims: dict, key: str = SERVER_KEY) -> str:
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    signature = base64.urlsafe_b64encode(hmac.new(key.encode(), body.encode(), hashlib.sha256).digest())
    return f"v1.{body}.{signature.rstrip(b'=').decode()}"


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"] == code, response.text
    assert response.json()["message"]


# -- tenants --------------------------------------------------------------------------------------


def test_another_tenant_can_neither_change_nor_watch_this_one(server, other_tenant):
    ada = server.sign_in("Ada")
    marker = create_marker(server, ada).json()["marker"]
    before = server.rows()
    outsider = httpx.post(f"{api(server, 'other')}/sessions", json={"name": "Mallory"},
                          headers={"Origin": OTHER_ORIGIN}).json()["token"]
    as_other = {"Authorization": f"Bearer {outsider}", "Origin": OTHER_ORIGIN}
    as_other_here = {"Authorization": f"Bearer {outsider}", "Origin": server.url}
    comment_id = marker["comments"][0]["id"]
    # Through the other tenant's own paths, this tenant's ids do not exist.
    assert_error(httpx.post(f"{api(server, 'other')}/markers/{marker['id']}/comments", headers=as_other,
                            json={"text": "x"}), 404, "marker_not_found")
    assert_error(httpx.patch(f"{api(server, 'other')}/comments/{comment_id}", headers=as_other,
                             json={"text": "x"}), 404, "comment_not_found")
    assert_error(httpx.delete(f"{api(server, 'other')}/comments/{comment_id}", headers=as_other),
                 404, "comment_not_found")
    assert_error(httpx.delete(f"{api(server, 'other')}/markers/{marker['id']}", headers=as_other),
                 404, "marker_not_found")
    snapshot = httpx.get(f"{api(server, 'other')}/snapshot", params={"urlId": "img-1"}).json()
    assert snapshot["markers"] == []
    # Through this tenant's paths, the other tenant's token is worth nothing...
    assert_error(create_marker(server, as_other_here), 401, "wrong_tenant")
    assert_error(httpx.patch(f"{api(server)}/comments/{comment_id}", headers=as_other_here, json={"text": "x"}),
                 401, "wrong_tenant")
    assert_error(httpx.delete(f"{api(server)}/markers/{marker['id']}", headers=as_other_here), 401, "wrong_tenant")
    # ...and the other tenant's site is not an allowed origin.
    assert_error(create_marker(server, {**ada, "Origin": OTHER_ORIGIN}), 403, "origin_not_allowed")
    assert server.rows() == before


def test_a_subscriber_of_another_tenant_never_receives_this_tenants_events(server, other_tenant):
    ada = server.sign_in("Ada")
    other_url = server.ws_url.replace("/tenants/demo/", "/tenants/other/")
    with connect(server.ws_url, origin=server.url) as here, connect(other_url, origin=OTHER_ORIGIN) as there:
        subscribe_answer(here, "shared-name")
        subscribe_answer(there, "shared-name")  # the same urlId, in another tenant
        create_marker(server, ada, url_id="shared-name")
        assert json.loads(here.recv(timeout=5))["type"] == "new-image-chat"
        there.send(json.dumps({"type": "ping"}))
        assert json.loads(there.recv(timeout=5)) == {"type": "pong"}  # nothing was queued before it


def test_an_unknown_tenant_is_a_404_everywhere(server):
    assert_error(httpx.get(f"{api(server, 'nope')}/snapshot", params={"urlId": "a"}), 404, "tenant_not_found")
    refused = httpx.post(f"{api(server, 'nope')}/sessions", json={"name": "A"}, headers={"Origin": OTHER_ORIGIN})
    assert_error(refused, 404, "tenant_not_found")
    assert refused.headers["access-control-allow-origin"] == OTHER_ORIGIN  # the widget can read why


def test_tenant_commands(server):
    created = server.cli("tenant", "create", "Acme Design", "--origin", "https://acme.example/")
    assert created.startswith("acme-design\tAcme Design\torigins: https://acme.example\n")
    old_secret = created.split("api secret: ")[1].strip()
    rotated = server.cli("tenant", "rotate-secret", "acme-design")
    assert rotated.split("api secret: ")[1].strip() != old_secret
    assert "acme-design" in server.cli("tenant", "list")
    server.cli("tenant", "delete", "acme-design")
    assert "acme-design" not in server.cli("tenant", "list")


# -- origins --------------------------------------------------------------------------------------


def test_a_forbidden_origin_cannot_change_anything(server):
    ada = server.sign_in("Ada")
    before = server.rows()
    for origin in (OTHER_ORIGIN, "null", None):
        headers = {key: value for key, value in {**ada, "Origin": origin}.items() if value is not None}
        assert_error(create_marker(server, headers), 403, "origin_not_allowed")
    assert server.rows() == before
    assert create_marker(server, ada).status_code == 201  # the allowed origin can
    with connect(server.ws_url, origin=server.url) as ws:
        assert subscribe_answer(ws, "img-1")["type"] == "subscribed"


def test_a_refused_websocket_closes_with_a_code_the_browser_can_read(server):
    """Browsers hide a refused handshake's HTTP answer: the refusal comes as a close code and reason."""
    for url, origin, code, reason in [
        (server.ws_url, OTHER_ORIGIN, 4403, "origin_not_allowed"),
        (server.ws_url, "null", 4403, "origin_not_allowed"),
        (server.ws_url.replace("/demo/", "/nope/"), server.url, 4404, "tenant_not_found"),
    ]:
        with connect(url, origin=origin) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=5)
        assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (code, reason)


def test_cors_answers_only_allowed_origins(server):
    snapshot = f"{api(server)}/snapshot"
    allowed = httpx.get(snapshot, params={"urlId": "a"}, headers={"Origin": server.url})
    assert allowed.headers["access-control-allow-origin"] == server.url
    # A foreign site's browser gets a refusal it can read (so the widget can say why), and no data.
    foreign = httpx.get(snapshot, params={"urlId": "a"}, headers={"Origin": OTHER_ORIGIN})
    assert_error(foreign, 403, "origin_not_allowed")
    assert foreign.headers["access-control-allow-origin"] == OTHER_ORIGIN and foreign.headers["vary"] == "Origin"
    assert httpx.get(snapshot, params={"urlId": "a"}).status_code == 200  # server-side readers send no Origin
    preflight = {"Origin": OTHER_ORIGIN, "Access-Control-Request-Method": "POST"}
    assert_error(httpx.options(f"{api(server)}/markers", headers=preflight), 403, "origin_not_allowed")
    ok = httpx.options(f"{api(server)}/markers", headers={**preflight, "Origin": server.url})
    assert ok.status_code == 204 and "Authorization" in ok.headers["access-control-allow-headers"]
    # The widget's files themselves are public: any site may load them.
    assert httpx.get(f"{server.url}/embed.js", headers={"Origin": OTHER_ORIGIN}).headers[
        "access-control-allow-origin"] == "*"


# -- tokens ---------------------------------------------------------------------------------------


def test_forged_tampered_expired_and_foreign_tokens_are_refused(server, other_tenant):
    ada = server.sign_in("Ada")
    token = ada["Authorization"].removeprefix("Bearer ")
    version, body, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    tampered_body = base64.urlsafe_b64encode(json.dumps({**claims, "r": ["admin"]}).encode()).rstrip(b"=").decode()
    cases = {
        "missing_token": None,
        "invalid_token": [f"{version}.{tampered_body}.{signature}", f"{token}x", "v1.e30.AAAA", "garbage",
                          made_token({**claims, "r": ["admin"]}, key="not-the-server-key")],
        "expired_token": [made_token({**claims, "e": int(time.time()) - 1})],
        "wrong_tenant": [made_token({**claims, "t": "other"})],
    }
    before = server.rows()
    assert_error(create_marker(server, {"Origin": server.url}), 401, "missing_token")
    for code, tokens in cases.items():
        for bad in tokens or ():
            assert_error(create_marker(server, {"Origin": server.url, "Authorization": f"Bearer {bad}"}), 401, code)
    with connect(server.ws_url, origin=server.url) as ws:
        ws.send(json.dumps({"type": "subscribe", "urlId": "a", "token": f"{token}x"}))
        assert json.loads(ws.recv(timeout=5))["error"] == "invalid_token"
        assert subscribe_answer(ws, "a")["type"] == "subscribed"  # still usable
    assert server.rows() == before


def test_an_anonymous_user_keeps_their_author_id_when_changing_name(server):
    first = server.sign_in("Ada")
    renamed = httpx.post(f"{api(server)}/sessions", json={"name": "Ada L."}, headers=first).json()
    assert renamed["author"] == {"id": server.author_id(first), "name": "Ada L."}
    assert server.author_id(server.sign_in("Ada")) != server.author_id(first)  # a new visitor, a new id


def sso_session(server, sso: str) -> httpx.Response:
    return httpx.post(f"{api(server)}/sessions", json={"sso": sso}, headers={"Origin": server.url})


def demo_secret(server) -> str:
    import sqlite3

    with sqlite3.connect(server.db_path) as db:
        return db.execute("SELECT secret FROM tenants WHERE id = 'demo'").fetchone()[0]


def test_single_sign_on_is_verified(server, other_tenant):
    secret = demo_secret(server)
    good = sso_session(server, sign_sso(secret, "u42", "Dana", roles=["moderator", "superuser"]))
    assert good.status_code == 201
    assert good.json()["author"] == {"id": "sso:u42", "name": "Dana"}
    assert good.json()["roles"] == ["moderator"]  # unknown roles are dropped
    payload, signature = sign_sso(secret, "u42", "Dana").split(".")
    admin = base64.urlsafe_b64encode(json.dumps({"id": "u42", "name": "Dana", "roles": ["admin"],
                                                 "ts": int(time.time())}).encode()).rstrip(b"=").decode()
    for bad, code in [
        (f"{payload}.{'0' * 64}", "invalid_sso"),                              # forged signature
        (f"{admin}.{signature}", "invalid_sso"),                               # tampered payload
        (sign_sso(other_tenant["secret"], "u42", "Dana"), "invalid_sso"),      # another tenant's secret
        (sign_sso(secret, "u42", "Dana", timestamp=time.time() - 3600), "expired_sso"),
        (sign_sso(secret, "u42", "Dana", timestamp=time.time() + 3600), "invalid_sso"),
        ("no-dot-at-all", "invalid_sso"),
    ]:
        assert_error(sso_session(server, bad), 401, code)
    assert_error(sso_session(server, sign_sso(secret, "u42", "")), 400, "invalid_field")


def signed(secret: str, document: str) -> str:
    payload = base64.urlsafe_b64encode(document.encode()).rstrip(b"=").decode()
    return f"{payload}.{hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()}"


def test_odd_but_signed_sign_on_payloads_are_400s(server_with):
    server = server_with("--user-changes-per-minute", "6000")  # a dozen sign-ins in a row
    secret, now = demo_secret(server), int(time.time())
    for document, code, field in [
        ('{"id": "u1", "name": "Dana", "ts": NaN}', "invalid_sso", ""),
        ('{"id": "u1", "name": "Dana", "ts": -Infinity}', "invalid_sso", ""),
        ('{"id": "u1", "name": "Dana", "ts": 1e400}', "invalid_field", "sso.ts"),
        ('{"id": "u1", "name": "Dana", "ts": 1%s}' % ("0" * 400), "invalid_field", "sso.ts"),
        ('{"id": "u1", "name": "Dana", "ts": true}', "invalid_field", "sso.ts"),
        ('{"id": "\\ud800", "name": "Dana", "ts": %d}' % now, "invalid_field", "sso.id"),
        ('{"id": "a\\u0000b", "name": "Dana", "ts": %d}' % now, "invalid_field", "sso.id"),
        ('{"id": "u1", "name": "Dana", "ts": %d, "roles": "admin"}' % now, "invalid_field", "sso.roles"),
        ('{"id": "u1", "name": "Dana", "ts": %d, "avatar": 5}' % now, "invalid_field", "sso.avatar"),
        ('["u1", "Dana", %d]' % now, "invalid_sso", ""),
    ]:
        answer = sso_session(server, signed(secret, document))
        assert_error(answer, 400, code)
        assert answer.json()["message"].startswith(field), answer.text
    assert sso_session(server, signed(secret, '{"id": 7, "name": "Dana", "ts": %d}' % now)).status_code == 201


# -- authorization --------------------------------------------------------------------------------


def test_only_authors_change_their_things_and_moderators_may_delete(server):
    ada, bob = server.sign_in("Ada"), server.sign_in("Bob")
    marker = create_marker(server, ada, url_id="moderated").json()["marker"]
    comment_id = marker["comments"][0]["id"]
    reply = httpx.post(f"{api(server)}/markers/{marker['id']}/comments", headers=bob, json={"text": "mine"}).json()
    before = server.rows()
    assert_error(httpx.patch(f"{api(server)}/comments/{comment_id}", headers=bob, json={"text": "x"}), 403, "forbidden")
    assert_error(httpx.delete(f"{api(server)}/comments/{comment_id}", headers=bob), 403, "forbidden")
    assert_error(httpx.delete(f"{api(server)}/markers/{marker['id']}", headers=bob), 403, "forbidden")
    assert server.rows() == before

    token = sso_session(server, sign_sso(demo_secret(server), "mod", "Mo", roles=["moderator"])).json()["token"]
    moderator = {"Authorization": f"Bearer {token}", "Origin": server.url}
    assert_error(httpx.patch(f"{api(server)}/comments/{comment_id}", headers=moderator, json={"text": "x"}),
                 403, "forbidden")  # moderators delete, they do not put words in others' mouths
    with connect(server.ws_url, origin=server.url) as ws:
        subscribe_answer(ws, "moderated")
        assert httpx.delete(f"{api(server)}/comments/{reply['comment']['id']}", headers=moderator).status_code == 200
        assert httpx.delete(f"{api(server)}/markers/{marker['id']}", headers=moderator).status_code == 200
        assert [json.loads(ws.recv(timeout=5))["type"] for _ in range(2)] == ["image-chat-updated", "deleted-image-chat"]


def test_a_readonly_tenant_can_be_viewed_but_not_changed(server):
    ada = server.sign_in("Ada")
    create_marker(server, ada, url_id="frozen")
    server.cli("tenant", "update", "demo", "--readonly")
    snapshot = lambda: httpx.get(f"{api(server)}/snapshot", params={"urlId": "frozen"}).json()  # noqa: E731
    wait_until(lambda: snapshot()["readonly"], timeout=15)  # tenants are cached for 5 s (documented)
    assert len(snapshot()["markers"]) == 1
    before = server.rows()
    assert_error(create_marker(server, server.sign_in("Bob"), url_id="frozen"), 403, "readonly")
    assert server.rows() == before


# -- limits ---------------------------------------------------------------------------------------


def test_too_many_changes_get_429_and_others_are_still_served(server_with):
    server = server_with("--user-changes-per-minute", "6")
    ada, bob = server.sign_in("Ada"), server.sign_in("Bob")
    answers = [create_marker(server, ada, text=f"n{n}") for n in range(8)]
    limited = [answer for answer in answers if answer.status_code == 429]
    assert limited, [answer.status_code for answer in answers]
    assert_error(limited[0], 429, "rate_limited")
    assert int(limited[0].headers["retry-after"]) >= 1
    stored = len(server.rows()["markers"])
    assert stored == len(answers) - len(limited)
    assert create_marker(server, bob).status_code == 201  # another user is not held up


def test_markers_per_image_are_capped(server_with):
    server = server_with("--max-markers-per-image", "3")
    ada = server.sign_in("Ada")
    for _ in range(3):
        assert create_marker(server, ada, url_id="full").status_code == 201
    before = server.rows()
    assert_error(create_marker(server, ada, url_id="full"), 409, "image_full")
    assert server.rows() == before
    assert create_marker(server, ada, url_id="another").status_code == 201


def test_the_marker_cap_counts_the_markers_an_image_has_not_the_ones_it_had(server_with):
    server = server_with("--max-markers-per-image", "3")
    ada = server.sign_in("Ada")
    made = [create_marker(server, ada, url_id="busy").json() for _ in range(3)]
    with Rest(server, None) as rest:
        deleted = rest.delete_marker(made[0]["marker"]["id"], headers=ada)
    assert deleted.status_code == 200, deleted.text
    assert create_marker(server, ada, url_id="busy").status_code == 201  # 2 markers, after 4 changes
    assert_error(create_marker(server, ada, url_id="busy"), 409, "image_full")


def test_live_connections_per_address_are_capped(server_with):
    server = server_with("--max-connections-per-ip", "2")
    with connect(server.ws_url, origin=server.url), connect(server.ws_url, origin=server.url):
        with pytest.raises(InvalidStatus) as refused:
            connect(server.ws_url, origin=server.url)
        assert refused.value.response.status_code == 429
    with connect(server.ws_url, origin=server.url) as ws:  # freed when they closed
        assert subscribe_answer(ws, f"img-{uuid4().hex}")["type"] == "subscribed"


def test_a_flood_of_websocket_frames_gets_rate_limited_error_frames_and_no_work(server):
    from imagechat import limits

    with connect(server.ws_url, origin=server.url) as ws:
        for _ in range(limits.WS_FRAMES_BURST + 20):
            ws.send(json.dumps({"type": "ping"}))
        answers = [json.loads(ws.recv(timeout=5)) for _ in range(limits.WS_FRAMES_BURST + 20)]
        assert answers[0] == {"type": "pong"}
        limited = [answer for answer in answers if answer.get("error") == "rate_limited"]
        assert len(limited) >= 15, answers[-3:]


def test_threads_are_capped(server):
    from imagechat import protocol

    ada = server.sign_in("Ada")
    marker = create_marker(server, ada, url_id="long-thread").json()["marker"]
    database_rows = [{"id": f"bulk-comment-{n:05d}", "marker_id": marker["id"]} for n in range(protocol.MAX_COMMENTS_PER_THREAD)]
    import sqlite3

    with sqlite3.connect(server.db_path) as db:  # fill the thread directly: 500 requests would be slow
        db.executemany("INSERT INTO comments (tenant_id, id, marker_id, author_id, author_name, text, created_at, "
                       "updated_at) VALUES ('demo', :id, :marker_id, 'bulk', 'Bulk', 'x', 0, 0)", database_rows)
    before = server.rows()
    answer = httpx.post(f"{api(server)}/markers/{marker['id']}/comments", headers=ada, json={"text": "one more"})
    assert_error(answer, 409, "thread_full")
    assert server.rows() == before


def test_rotating_the_secret_ends_every_session_of_the_tenant(server):
    ada = server.sign_in("Ada")
    assert create_marker(server, ada).status_code == 201
    server.cli("tenant", "rotate-secret", "demo")
    wait_until(lambda: create_marker(server, ada).status_code == 401, timeout=15)  # tenants cached 5 s
    assert_error(create_marker(server, ada), 401, "expired_token")
    assert create_marker(server, server.sign_in("Ada")).status_code == 201  # a new sign-in works


def test_text_that_is_not_unicode_in_tokens_and_sign_on_is_refused_not_a_crash(server):
    lone_surrogate = httpx.post(f"{api(server)}/sessions", content='{"sso": "\\ud800.abc"}',
                                headers={"Origin": server.url, "Content-Type": "application/json"})
    assert_error(lone_surrogate, 401, "invalid_sso")
    assert_error(sso_session(server, "eyJ9.\u00e9"), 401, "invalid_sso")
    with connect(server.ws_url, origin=server.url) as ws:
        ws.send('{"type": "subscribe", "urlId": "a", "token": "v1.\\ud800.x"}')
        assert json.loads(ws.recv(timeout=5))["error"] == "invalid_token"


def test_metrics_are_served_for_operators_and_not_to_other_sites(server):
    answer = httpx.get(f"{server.url}/metrics", headers={"Origin": OTHER_ORIGIN})
    assert answer.status_code == 200 and "imagechat_pubsub_messages" in answer.text
    assert "access-control-allow-origin" not in answer.headers
