"""Junk against every REST endpoint and the WebSocket: never a 500, never a crash, and a refused
request never changes a stored row."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.sync.client import connect

from tests.conftest import NO_RATE_LIMITS, ServerProcess

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=12,
)
# Bodies shaped like the real ones, with any values, so that validation (not only parsing) is hit.
field_names = st.sampled_from(["urlId", "x", "y", "text", "id", "commentId", "broadcastId", "name", "sso"])
shaped_bodies = st.dictionaries(field_names, json_values, max_size=7)
raw_bodies = st.binary(max_size=300)
path_parts = st.text(min_size=1, max_size=30).map(lambda text: quote(text, safe=""))


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    server = ServerProcess(
        tmp_path_factory.mktemp("fuzz") / "fuzz.db", None,
        "--user-changes-per-minute", "1000000", "--ip-requests-per-minute", "1000000",
    ).start()
    headers = server.sign_in("Fuzzer")
    marker = httpx.post(f"{server.url}/api/v1/tenants/demo/markers", headers=headers,
                        json={"urlId": "fuzz", "x": 0.5, "y": 0.5, "text": "target"}).json()["marker"]
    yield server, headers, marker["id"], marker["comments"][0]["id"]
    assert server.process.poll() is None, "the server died"
    assert "Traceback" not in server.log_path.read_text()
    server.stop()


def check(server: ServerProcess, send) -> None:
    before = server.rows()
    response = send()
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.json()["error"]
        assert server.rows() == before


def endpoints(marker_id: str, comment_id: str) -> list[tuple[str, str]]:
    return [
        ("POST", "/sessions"), ("POST", "/markers"), ("POST", f"/markers/{marker_id}/comments"),
        ("PATCH", f"/comments/{comment_id}"), ("PUT", f"/markers/{marker_id}/resolved"),
    ]


@FUZZ
@given(body=shaped_bodies | json_values, which=st.integers(0, 4))
def test_json_junk_to_every_endpoint(target, body, which):
    server, headers, marker_id, comment_id = target
    method, path = endpoints(marker_id, comment_id)[which]
    check(server, lambda: httpx.request(method, f"{server.url}/api/v1/tenants/demo{path}", headers=headers,
                                        content=json.dumps(body)))


@FUZZ
@given(body=raw_bodies, which=st.integers(0, 4))
def test_raw_bytes_to_every_endpoint(target, body, which):
    server, headers, marker_id, comment_id = target
    method, path = endpoints(marker_id, comment_id)[which]
    check(server, lambda: httpx.request(method, f"{server.url}/api/v1/tenants/demo{path}", headers=headers,
                                        content=body))


@FUZZ
@given(tenant=path_parts, item=path_parts, query=st.text(max_size=40), method=st.sampled_from(["GET", "POST", "PATCH", "DELETE"]))
def test_junk_paths_and_queries(target, tenant, item, query, method):
    server, headers, _, _ = target
    for path in (f"/api/v1/tenants/{tenant}/markers/{item}", f"/api/v1/tenants/demo/comments/{item}",
                 f"/api/v1/tenants/demo/markers/{item}/comments"):
        check(server, lambda: httpx.request(method, f"{server.url}{path}", headers=headers,
                                            params={"urlId": query, "broadcastId": query}, json={"text": "t"}
                                            if method in ("POST", "PATCH") else None))
    check(server, lambda: httpx.get(f"{server.url}/api/v1/tenants/{tenant}/snapshot", params={"urlId": query}))


@FUZZ
@given(frames=st.lists(st.one_of(
    json_values.map(json.dumps),
    st.dictionaries(st.sampled_from(["type", "urlId", "since", "epoch", "token"]), json_values, max_size=5)
    .map(lambda frame: json.dumps({"type": "subscribe", **frame})),
    st.text(max_size=200),
    st.binary(max_size=200),
), min_size=1, max_size=6))
def test_junk_websocket_frames_never_break_the_connection(target, frames):
    server, _, _, _ = target
    before = server.rows()
    with connect(server.ws_url, origin=server.url) as ws:
        for frame in frames:
            ws.send(frame)
        ws.send(json.dumps({"type": "ping"}))
        while (answer := json.loads(ws.recv(timeout=5)))["type"] != "pong":
            assert answer["type"] in ("error", "subscribed", "heartbeat", "new-image-chat",
                                      "image-chat-updated", "deleted-image-chat", "reload"), answer
    assert server.rows() == before


# -- single sign-on: correctly signed payloads with any field values ------------------------------

NOW = time.time()
texts = st.text(max_size=60) | st.text(st.characters(codec="utf-8") | st.sampled_from("\x00\ud800\u2028\x7f"),
                                       max_size=60)
numbers = (st.floats(allow_nan=True, allow_infinity=True) | st.integers(min_value=-10**500, max_value=10**500)
           | st.floats(min_value=NOW - 900, max_value=NOW + 120))
any_value = st.none() | st.booleans() | numbers | texts | st.lists(texts | st.integers(), max_size=3)
sso_documents = st.fixed_dictionaries({}, optional={
    "id": texts | st.integers() | any_value,
    "name": texts | any_value,
    "ts": st.just(int(NOW)) | numbers | any_value,
    "roles": st.lists(st.sampled_from(["admin", "moderator", "viewer"]) | texts, max_size=3) | any_value,
    "avatar": texts | any_value,
})


def signed_sso(secret: str, document: dict) -> str:
    # allow_nan: a site's JSON library might well write NaN or Infinity; ensure_ascii escapes lone surrogates.
    payload = base64.urlsafe_b64encode(json.dumps(document, allow_nan=True).encode()).rstrip(b"=").decode()
    return f"{payload}.{hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()}"


@pytest.fixture
def sso_target(server_with, database):
    server = server_with(*NO_RATE_LIMITS, database_url=database())
    secret = server.cli("tenant", "create", "Signed Site", "--id", "signed", "--origin", server.url)
    yield server, secret.split("api secret: ")[1].strip()
    assert "Traceback" not in server.log_path.read_text()


@FUZZ
@given(document=sso_documents)
def test_any_signed_sign_on_payload_is_a_session_or_a_clear_refusal(sso_target, document):
    server, secret = sso_target
    api = f"{server.url}/api/v1/tenants/signed"
    answer = httpx.post(f"{api}/sessions", json={"sso": signed_sso(secret, document)}, headers={"Origin": server.url})
    assert answer.status_code in (201, 400, 401), answer.text
    if answer.status_code != 201:
        assert answer.json()["error"] in ("invalid_sso", "expired_sso", "invalid_field"), answer.text
        return
    # The identity it vouches for is stored with the first change (NUL, say, breaks PostgreSQL there).
    headers = {"Authorization": f"Bearer {answer.json()['token']}", "Origin": server.url}
    marker = httpx.post(f"{api}/markers", headers=headers, json={"urlId": "sso", "x": 0.5, "y": 0.5, "text": "hi"})
    assert marker.status_code == 201, marker.text
