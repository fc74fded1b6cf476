"""Concurrent changes on one conversation, against a real server on each database: none fails with
a 5xx, and what the server shows afterwards is exactly what its event log rebuilds."""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import time
from typing import Any

import httpx
import pytest

from imagechat.security.sso import sign_sso
from imagechat import protocol
from tests.conftest import NO_RATE_LIMITS, ServerProcess, new_url_id
from tests.rest import Rest
from tests.services import run

CHANGES = 50


@pytest.fixture
def server(server_with, database) -> ServerProcess:
    return server_with(*NO_RATE_LIMITS, database_url=database())


def demo_secret(server: ServerProcess) -> str:
    [demo] = [row for row in server.rows()["tenants"] if row[0] == "demo"]
    return demo[4]  # columns: id, name, created_at, origins, secret, readonly


def full_state(rest: Rest, url_id: str) -> dict[str, dict[str, Any]]:
    """Every marker with its whole thread: the snapshot, completed from the thread endpoint when the
    snapshot carries only each thread's first comment."""
    snapshot = rest.snapshot(url_id).json()
    state = {}
    for marker in snapshot["markers"]:
        comments = marker["comments"]
        if marker.get("commentCount", len(comments)) > len(comments):
            comments = thread(rest, marker["id"])
        state[marker["id"]] = {**{k: v for k, v in marker.items() if k != "commentCount"}, "comments": comments}
    return state


def thread(rest: Rest, marker_id: str) -> list[dict[str, Any]]:
    comments: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {} if cursor is None else {"after": cursor}
        page = rest.thread(marker_id, **params).json()
        comments += page["comments"]
        cursor = page["next"]
        if cursor is None:
            return comments


def replay(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The state the event log describes, each event applied to a thing that must exist."""
    state: dict[str, dict[str, Any]] = {}
    for event in events:
        if event["type"] == "new-image-chat":
            state[event["marker"]["id"]] = protocol.expand_new_marker(event["marker"])
        elif event["type"] == "deleted-image-chat":
            del state[event["markerId"]]
        else:
            comments = state[event["markerId"]]["comments"]
            if event["change"] == "comment-added":
                comments.append(event["comment"])
            else:
                [index] = [i for i, c in enumerate(comments)
                           if c["id"] == event.get("commentId", event.get("comment", {}).get("id"))]
                if event["change"] == "comment-edited":
                    comments[index] = event["comment"]
                else:
                    del comments[index]
    return state


def in_order(state: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Threads sorted as the server sorts them (two replies committing in the other order than
    their clocks read is fine)."""
    return {key: {**marker, "comments": sorted(marker["comments"], key=lambda c: (c["createdAt"], c["id"]))}
            for key, marker in state.items()}


Request = tuple[str, str, dict[str, Any]]  # method, path, httpx options


def send_concurrently(server: ServerProcess, requests: list[Request]) -> list[tuple[int, float, str]]:
    """Send all at once, each on its own connection; each answer's status, seconds and body."""
    async def send_all() -> list[tuple[int, float, str]]:
        async with httpx.AsyncClient(base_url=server.url, timeout=60,
                                     limits=httpx.Limits(max_connections=len(requests))) as client:
            async def send(method: str, path: str, options: dict[str, Any]) -> tuple[int, float, str]:
                started = time.monotonic()
                answer = await client.request(method, path, **options)
                return answer.status_code, time.monotonic() - started, answer.text

            return await asyncio.gather(*(send(*request) for request in requests))

    return run(send_all())


def logged_events(server: ServerProcess) -> list[dict[str, Any]]:
    """The event log of the server's only image, in seq order."""
    return [json.loads(row[4]) for row in sorted(server.rows()["events"])]


def test_concurrent_mixed_changes_never_fail_and_match_the_event_log(server: ServerProcess) -> None:
    rest = Rest(server, None, timeout=60)
    secret = demo_secret(server)
    authors = [rest.sign_in(name) for name in ("Ann", "Ben", "Cy")]
    moderators = [rest.sign_in(sso=sign_sso(secret, f"mod{n}", f"Mo {n}", roles=["moderator"])) for n in range(2)]
    url_id = new_url_id()
    prefix = "/api/v1/tenants/demo"
    # Three markers, each with a thread of five comments by three authors.
    markers, comments = [], []  # comments: (id, author headers)
    for n in range(3):
        created = rest.create_marker(url_id, f"marker {n}", headers=authors[n], x=0.1 * n).json()
        markers.append(created["marker"]["id"])
        comments.append((created["marker"]["comments"][0]["id"], authors[n]))
        for k in range(4):
            reply = rest.reply(markers[n], f"reply {k}", headers=authors[k % 3]).json()
            comments.append((reply["comment"]["id"], authors[k % 3]))

    # Edits and replies race each other, deletes of their comments and of their markers (the
    # first marker, the busiest, is never deleted whole; the two others are, each four times).
    rng = random.Random(8)
    requests: list[Request] = []
    for n in range(CHANGES):
        kind = ("edit", "reply", "edit", "reply", "delete-comment", "delete-marker")[n % 6]
        comment_id, author = rng.choice(comments)
        if kind == "edit":
            requests.append(("PATCH", f"{prefix}/comments/{comment_id}", {"headers": author, "json": {"text": f"edit {n}"}}))
        elif kind == "reply":
            requests.append(("POST", f"{prefix}/markers/{rng.choice(markers)}/comments",
                             {"headers": rng.choice(authors), "json": {"text": f"late reply {n}"}}))
        elif kind == "delete-comment":
            requests.append(("DELETE", f"{prefix}/comments/{comment_id}", {"headers": rng.choice(moderators)}))
        else:
            requests.append(("DELETE", f"{prefix}/markers/{markers[1 + n // 6 % 2]}", {"headers": rng.choice(moderators)}))

    answers = send_concurrently(server, requests)
    statuses = [status for status, _, _ in answers]
    failures = [text for status, _, text in answers if status >= 500]
    print(f"\n{server.database_url.split(':')[0]}: {len(failures)} answers 5xx of {CHANGES}, "
          f"median latency {statistics.median(t for _, t, _ in answers) * 1000:.0f} ms, statuses "
          f"{sorted((s, statuses.count(s)) for s in set(statuses))}")
    assert failures == []
    assert set(statuses) <= {200, 201, 404}, answers

    events = logged_events(server)
    assert [event["seq"] for event in events] == list(range(1, len(events) + 1))
    assert in_order(full_state(rest, url_id)) == in_order(replay(events))


def test_concurrent_deletes_of_one_marker_succeed_once_and_log_one_event(server: ServerProcess) -> None:
    rest = Rest(server, "Ann", timeout=60)
    url_id = new_url_id()
    markers = [rest.create_marker(url_id, f"marker {n}").json()["marker"]["id"] for n in range(10)]
    ann = rest.headers
    answers = send_concurrently(server, [("DELETE", f"/api/v1/tenants/demo/markers/{marker_id}", {"headers": ann})
                                         for marker_id in markers for _ in range(2)])
    assert [sorted(status for status, _, _ in answers[n:n + 2]) for n in range(0, 20, 2)] == [[200, 404]] * 10
    assert all(json.loads(text)["error"] == "marker_not_found" for status, _, text in answers if status == 404)
    deletes = [event["markerId"] for event in logged_events(server) if event["type"] == "deleted-image-chat"]
    assert sorted(deletes) == sorted(markers)


def test_an_edit_racing_the_delete_of_its_comment_logs_nothing_when_it_loses(server: ServerProcess) -> None:
    rest = Rest(server, "Ann", timeout=60)
    ann = rest.headers
    prefix = "/api/v1/tenants/demo"
    marker = rest.create_marker(new_url_id(), "stays").json()["marker"]
    replies = [rest.reply(marker["id"], f"reply {n}").json()["comment"]["id"] for n in range(10)]
    requests: list[Request] = []
    for comment_id in replies:
        requests += [("PATCH", f"{prefix}/comments/{comment_id}", {"headers": ann, "json": {"text": "edited"}}),
                     ("DELETE", f"{prefix}/comments/{comment_id}", {"headers": ann})]
    answers = send_concurrently(server, requests)
    edits, deletes = answers[0::2], answers[1::2]
    assert {status for status, _, _ in deletes} == {200}
    assert {status for status, _, _ in edits} <= {200, 404}
    events = logged_events(server)
    edited = [event["comment"]["id"] for event in events if event.get("change") == "comment-edited"]
    assert len(edited) == sum(status == 200 for status, _, _ in edits)
    for comment_id in replies:  # an edit, if logged, comes before the delete, never after
        changes = [event["change"] for event in events if comment_id in (event.get("commentId"),
                                                                          event.get("comment", {}).get("id"))]
        assert changes in (["comment-added", "comment-deleted"], ["comment-added", "comment-edited", "comment-deleted"])
