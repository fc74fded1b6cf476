"""Junk against every REST endpoint and the WebSocket: never a 500, never a crash, and a refused
request never changes a stored row."""

from __future__ import annotations

import json
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.sync.client import connect

from tests.conftest import ServerProcess

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
        ("PATCH", f"/comments/{comment_id}"),
    ]


@FUZZ
@given(body=shaped_bodies | json_values, which=st.integers(0, 3))
def test_json_junk_to_every_endpoint(target, body, which):
    server, headers, marker_id, comment_id = target
    method, path = endpoints(marker_id, comment_id)[which]
    check(server, lambda: httpx.request(method, f"{server.url}/api/v1/tenants/demo{path}", headers=headers,
                                        content=json.dumps(body)))


@FUZZ
@given(body=raw_bodies, which=st.integers(0, 3))
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
