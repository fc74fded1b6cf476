"""Resolving and reopening a thread, against a real server on SQLite and PostgreSQL: who may, what
the answer, the live event and the snapshot say, and what a refusal leaves (nothing changed)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from imagechat import protocol
from imagechat.security.sso import sign_sso
from tests.conftest import ServerProcess, new_id, new_url_id
from tests.live import live, recv_event, subscribe
from tests.rest import Rest, ok
from tests.test_concurrency import demo_secret


@pytest.fixture(scope="module")
def server(unlimited_server: ServerProcess) -> ServerProcess:
    return unlimited_server


@pytest.fixture
def rest(server: ServerProcess) -> Rest:
    with Rest(server, "Alice") as client:
        yield client


def resolve(rest: Rest, marker_id: str, resolved: Any, headers: dict[str, str] | None = None,
            **extra: Any) -> httpx.Response:
    return rest.client.put(f"/markers/{marker_id}/resolved", json={"resolved": resolved, **extra},
                           headers=rest.headers if headers is None else headers)


def thread(rest: Rest) -> tuple[str, str]:
    """Alice's new thread on an image of its own: (url id, marker id)."""
    url_id, marker_id = new_url_id(), new_id("m")
    ok(rest.create_marker(url_id, "Is this aligned?", id=marker_id))
    return url_id, marker_id


def snapshot_marker(rest: Rest, url_id: str) -> dict[str, Any]:
    [marker] = ok(rest.snapshot(url_id))["markers"]
    return marker


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"] == code and response.json()["message"], response.json()


def test_the_author_resolves_and_reopens_and_the_snapshot_follows(rest: Rest) -> None:
    url_id, marker_id = thread(rest)
    assert "resolvedAt" not in snapshot_marker(rest, url_id)  # open threads carry nothing
    broadcast_id = str(uuid.uuid4())
    event = ok(resolve(rest, marker_id, True, broadcastId=broadcast_id))
    assert set(event) == {"type", "seq", "broadcastId", "markerId", "change", "resolvedAt", "resolvedBy"}
    assert (event["type"], event["seq"], event["broadcastId"], event["markerId"], event["change"], event["resolvedBy"]) == (
        protocol.IMAGE_CHAT_UPDATED, 2, broadcast_id, marker_id, protocol.THREAD_RESOLVED, "Alice")
    marker = snapshot_marker(rest, url_id)
    assert (marker["resolvedAt"], marker["resolvedBy"]) == (event["resolvedAt"], "Alice")
    assert ok(rest.snapshot(url_id))["seq"] == 2

    reopened = ok(resolve(rest, marker_id, False))
    assert reopened == {"type": protocol.IMAGE_CHAT_UPDATED, "seq": 3, "broadcastId": None,
                        "markerId": marker_id, "change": protocol.THREAD_REOPENED}
    marker = snapshot_marker(rest, url_id)
    assert "resolvedAt" not in marker and "resolvedBy" not in marker


def test_a_moderator_resolves_someone_elses_thread(server: ServerProcess, rest: Rest) -> None:
    url_id, marker_id = thread(rest)
    moderator = rest.sign_in(sso=sign_sso(demo_secret(server), "mod-1", "Mo", roles=["moderator"]))
    event = ok(resolve(rest, marker_id, True, headers=moderator))
    assert event["resolvedBy"] == snapshot_marker(rest, url_id)["resolvedBy"]
    assert event["resolvedBy"].startswith("Mo")
    assert ok(resolve(rest, marker_id, False, headers=moderator))["change"] == protocol.THREAD_REOPENED


def test_another_user_may_neither_resolve_nor_reopen(server: ServerProcess, rest: Rest) -> None:
    url_id, marker_id = thread(rest)
    bob = rest.sign_in("Bob")
    ok(rest.reply(marker_id, "a reply from Bob", headers=bob))  # taking part is not owning
    before = server.rows()
    assert_error(resolve(rest, marker_id, True, headers=bob), 403, protocol.FORBIDDEN)
    assert server.rows() == before  # no event, no seq taken
    ok(resolve(rest, marker_id, True))
    before = server.rows()
    assert_error(resolve(rest, marker_id, False, headers=bob), 403, protocol.FORBIDDEN)
    assert server.rows() == before
    assert snapshot_marker(rest, url_id)["resolvedBy"] == "Alice"


def test_unknown_marker_is_404_and_bad_bodies_are_400_naming_the_field(server: ServerProcess, rest: Rest) -> None:
    _, marker_id = thread(rest)
    before = server.rows()
    assert_error(resolve(rest, new_id("nobody"), True), 404, protocol.MARKER_NOT_FOUND)
    for bad in (None, 1, "true", [True]):
        answer = resolve(rest, marker_id, bad)
        assert_error(answer, 400, "invalid_field")
        assert answer.json()["message"].startswith("resolved: ")
    answer = rest.client.put(f"/markers/{marker_id}/resolved", content=b"[true]", headers=rest.headers)
    assert_error(answer, 400, "invalid_json")
    no_token = {"Origin": rest.server.url}
    assert_error(rest.client.put(f"/markers/{marker_id}/resolved", json={"resolved": True}, headers=no_token),
                 401, "missing_token")
    assert server.rows() == before


def test_viewers_receive_the_resolve_event_live_as_answered(server: ServerProcess, rest: Rest) -> None:
    url_id, marker_id = thread(rest)
    with live(server) as ws:
        subscribe(ws, url_id)
        answer = resolve(rest, marker_id, True, broadcastId=str(uuid.uuid4()))
        assert recv_event(ws) == answer.json()
        reopened = resolve(rest, marker_id, False)
        assert recv_event(ws) == reopened.json()
    wire = answer.content
    assert wire == protocol.dumps(json.loads(wire)).encode()  # the answer is the event as sent
    print(f"resolve event: {len(wire)} bytes, reopen event: {len(reopened.content)} bytes")


def test_a_resolved_thread_stays_resolved_through_replies(rest: Rest) -> None:
    url_id, marker_id = thread(rest)
    ok(resolve(rest, marker_id, True))
    ok(rest.reply(marker_id, "one more thing"))
    marker = snapshot_marker(rest, url_id)
    assert marker["resolvedBy"] == "Alice" and marker["commentCount"] == 2
