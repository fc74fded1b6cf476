"""The REST API under /api/v1 and the same-origin static files, against a real server process.

The tests share this module's `server` (one per database kind; each test on its own image and ids),
but the few that need an empty database or change the demo tenant, which get a `fresh_server`.
Every rejected request runs against a conversation seeded for its test (`seeded`) and asserts that
no stored row changed: nothing else writes to the module's server while a test runs (each
pytest-xdist worker starts its own and runs its tests one at a time).

Users sign in (POST .../sessions) and send `Authorization: Bearer <token>` with the server's own
origin (the demo site's) on every change. Both servers here run without practical rate limits:
these tests send hundreds of requests from one address (rate limits are tested in test_security).
"""

from __future__ import annotations

import base64
import json
import re
import time
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from imagechat import protocol
from tests.conftest import ServerProcess, new_id, new_url_id, wait_until
from tests.rest import Rest

MAX_BODY_BYTES = 16 * 1024
MAX_TEXT_CHARS = 2000
MAX_NAME_CHARS = 60
XSS = "<img src=x onerror=alert(1)>"
ANON_ID = re.compile(r"anon-[A-Za-z0-9_-]{16}")
FOREIGN_ORIGIN = "http://evil.example"
@pytest.fixture(scope="module")
def server(unlimited_server: ServerProcess) -> ServerProcess:
    return unlimited_server


@pytest.fixture
def fresh_server(unlimited_fresh_server: ServerProcess) -> ServerProcess:
    return unlimited_fresh_server


class Api(Rest):
    """The shared REST client (`Rest`) with what the API validation tests need besides: two users,
    a raw-field `create`, session sign-in answers, and a snapshot read with no urlId at all.

    `alice` and `bob` are the headers of two signed-in users (two sessions, two authors); changes
    are sent as Alice unless other headers are given. Snapshots are read with no token and no Origin.
    """

    def __init__(self, server: ServerProcess, tenant: str = "demo", users: "Api | None" = None) -> None:
        super().__init__(server, name=None, tenant=tenant)
        if users is not None:
            self.alice, self.alice_author = users.alice, users.alice_author
            self.bob, self.bob_author = users.bob, users.bob_author
        else:
            self.alice, self.alice_author = self.session("Alice")
            self.bob, self.bob_author = self.session("Bob")
        self.headers = self.alice

    def with_tenant(self, tenant: str) -> "Api":
        """The same users (signed in on demo) calling another tenant's paths."""
        return Api(self.server, tenant, users=self)

    def post_session(self, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
        """POST .../sessions from the server's own origin, unless other headers are given."""
        headers = {"Origin": self.server.url} if headers is None else headers
        return self.client.post("/sessions", json=body, headers=headers)

    def session(self, name: str) -> tuple[dict[str, str], dict[str, str]]:
        """A new signed-in user: the headers to send changes with, and the author the server made."""
        answer = ok(self.post_session({"name": name}), 201)
        return {"Authorization": f"Bearer {answer['token']}", "Origin": self.server.url}, answer["author"]

    def snapshot(self, url_id: str | None, **params: Any) -> httpx.Response:
        """As `Rest.snapshot`; with `url_id=None`, no urlId parameter at all."""
        if url_id is None:
            return self.client.get("/snapshot", params=params)
        return super().snapshot(url_id, **params)

    def comments(self, marker_id: str) -> list[dict[str, Any]]:
        """A marker's whole thread, read page by page."""
        found: list[dict[str, Any]] = []
        params: dict[str, Any] = {}
        while True:
            page = ok(self.thread(marker_id, **params), 200)
            found += page["comments"]
            if page["next"] is None:
                return found
            params = {"after": page["next"]}

    def create(self, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None, **fields: Any) -> httpx.Response:
        """POST .../markers with exactly these fields (`create_marker` fills in a valid marker)."""
        return self.client.post("/markers", json={**(body or {}), **fields}, headers=self._as(headers))


def token_claims(headers: dict[str, str]) -> dict[str, Any]:
    """The claims of a session token (plain base64 JSON between the version and the signature)."""
    body = headers["Authorization"].removeprefix("Bearer ").split(".")[1]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


def with_token(headers: dict[str, str], token: str) -> dict[str, str]:
    return {**headers, "Authorization": f"Bearer {token}"}


def marker_body(url_id: str, text: str = "first", **extra: Any) -> dict[str, Any]:
    return {"urlId": url_id, "x": 0.25, "y": 0.75, "text": text, **extra}


def ok(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    return response.json()


def assert_error(response: httpx.Response, status: int, code: str, field: str | None = None) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error", "message"}, body
    assert body["error"] == code, body
    assert isinstance(body["message"], str) and body["message"], body
    if field is not None:
        assert body["message"].startswith(f"{field}: "), body


@pytest.fixture
def api(server: ServerProcess) -> Api:
    return Api(server)


@dataclass
class Seeded:
    """A conversation of the test's own on the module's server: Alice's marker, her comment and
    Bob's reply."""

    server: ServerProcess
    api: Api
    url_id: str
    marker_id: str
    comment_id: str
    reply_id: str

    def rejects(self, send: Any, status: int, code: str, field: str | None = None) -> None:
        """`send()` is answered with the error, and nothing stored changed."""
        before = self.server.rows()
        assert_error(send(), status, code, field)
        assert self.server.rows() == before


@pytest.fixture
def seeded(server: ServerProcess) -> Seeded:
    api = Api(server)
    url_id, marker_id, comment_id, reply_id = new_url_id(), new_id("m"), new_id("c"), new_id("r")
    ok(api.create(marker_body(url_id, "Alice's comment", id=marker_id, commentId=comment_id)), 201)
    ok(api.reply(marker_id, headers=api.bob, text="Bob's reply", id=reply_id), 201)
    return Seeded(server, api, url_id, marker_id, comment_id, reply_id)


# -- success paths ------------------------------------------------------------------------------


def test_snapshot_of_a_never_commented_image_is_an_empty_conversation(api: Api) -> None:
    url_id = new_url_id()
    assert ok(api.snapshot(url_id), 200) == {"urlId": url_id, "seq": 0, "epoch": None, "readonly": False, "markers": []}


def test_reading_a_snapshot_stores_nothing(fresh_server: ServerProcess) -> None:
    before = fresh_server.rows()
    ok(Api(fresh_server).snapshot(new_url_id()), 200)
    assert fresh_server.rows() == before


def test_create_marker_answers_201_with_its_event_using_client_ids(api: Api) -> None:
    url_id, marker_id, comment_id = new_url_id(), new_id("m"), new_id("c")
    body = ok(api.create(marker_body(url_id, "Look here", id=marker_id, commentId=comment_id)), 201)
    assert set(body) == {"type", "seq", "broadcastId", "epoch", "marker"}
    assert (body["type"], body["seq"], body["broadcastId"]) == ("new-image-chat", 1, None)
    assert body["epoch"] == ok(api.snapshot(url_id), 200)["epoch"]
    marker = body["marker"]
    assert set(marker) == {"id", "x", "y", "author", "createdAt", "comments"}
    assert marker["id"] == marker_id
    assert (marker["x"], marker["y"]) == (0.25, 0.75)
    assert marker["author"] == api.alice_author == {"id": api.server.author_id(api.alice), "name": "Alice"}
    assert isinstance(marker["createdAt"], int)
    # The first comment says only what the marker does not: its author and times are the marker's.
    assert marker["comments"] == [{"id": comment_id, "text": "Look here"}]
    assert protocol.expand_new_marker(marker)["comments"] == [{
        "id": comment_id,
        "author": api.alice_author,
        "text": "Look here",
        "createdAt": marker["createdAt"],
        "updatedAt": marker["createdAt"],
    }]


def test_create_marker_without_client_ids_gets_server_ids(api: Api) -> None:
    marker = ok(api.create(marker_body(new_url_id())), 201)["marker"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{8,64}", marker["id"])
    assert re.fullmatch(r"[A-Za-z0-9_-]{8,64}", marker["comments"][0]["id"])
    assert marker["id"] != marker["comments"][0]["id"]


def test_snapshot_shows_the_created_marker_and_an_epoch(api: Api) -> None:
    url_id = new_url_id()
    created = ok(api.create(marker_body(url_id)), 201)
    snapshot = ok(api.snapshot(url_id), 200)
    assert set(snapshot) == {"urlId", "seq", "epoch", "readonly", "markers"}
    assert snapshot["readonly"] is False
    assert snapshot["urlId"] == url_id
    assert snapshot["seq"] == created["seq"] == 1
    assert re.fullmatch(r"[\w-]{12}", snapshot["epoch"])
    assert snapshot["markers"] == [{**protocol.expand_new_marker(created["marker"]), "commentCount": 1}]


def test_reply_answers_201_with_its_event(api: Api) -> None:
    url_id = new_url_id()
    marker_id = ok(api.create(marker_body(url_id)), 201)["marker"]["id"]
    reply_id = new_id("r")
    body = ok(api.reply(marker_id, headers=api.bob, text="A reply", id=reply_id), 201)
    assert set(body) == {"type", "seq", "broadcastId", "markerId", "change", "comment"}
    assert (body["type"], body["seq"]) == ("image-chat-updated", 2)
    assert body["markerId"] == marker_id
    assert body["change"] == "comment-added"
    assert body["comment"]["id"] == reply_id
    assert body["comment"]["author"] == api.bob_author
    assert api.bob_author["id"] != api.alice_author["id"]
    assert body["comment"]["text"] == "A reply"
    assert body["comment"]["createdAt"] == body["comment"]["updatedAt"]
    comments = api.comments(marker_id)
    assert [c["id"] for c in comments][1:] == [reply_id]
    assert comments[1] == body["comment"]


def test_edit_answers_200_with_its_event(api: Api) -> None:
    url_id = new_url_id()
    marker = protocol.expand_new_marker(ok(api.create(marker_body(url_id, "before")), 201)["marker"])
    comment = marker["comments"][0]
    body = ok(api.edit(comment["id"], text="after"), 200)
    assert set(body) == {"type", "seq", "broadcastId", "markerId", "change", "comment"}
    assert (body["type"], body["seq"]) == ("image-chat-updated", 2)
    assert body["markerId"] == marker["id"]
    assert body["change"] == "comment-edited"
    assert body["comment"]["id"] == comment["id"]
    assert body["comment"]["text"] == "after"
    assert body["comment"]["createdAt"] == comment["createdAt"]
    assert body["comment"]["updatedAt"] >= comment["createdAt"]
    assert ok(api.snapshot(url_id), 200)["markers"][0]["comments"] == [body["comment"]]


def test_deleting_a_reply_answers_200_with_comment_deleted(api: Api) -> None:
    url_id = new_url_id()
    marker = protocol.expand_new_marker(ok(api.create(marker_body(url_id)), 201)["marker"])
    reply = ok(api.reply(marker["id"], headers=api.bob, text="to delete"), 201)["comment"]
    body = ok(api.delete_comment(reply["id"], headers=api.bob), 200)
    assert body == {"type": "image-chat-updated", "seq": 3, "broadcastId": None, "markerId": marker["id"],
                    "change": "comment-deleted", "commentId": reply["id"]}
    assert ok(api.snapshot(url_id), 200)["markers"] == [{**marker, "commentCount": 1}]


def test_deleting_a_threads_last_comment_deletes_the_marker(api: Api) -> None:
    url_id = new_url_id()
    marker = ok(api.create(marker_body(url_id)), 201)["marker"]
    body = ok(api.delete_comment(marker["comments"][0]["id"]), 200)
    assert body == {"type": "deleted-image-chat", "seq": 2, "broadcastId": None, "markerId": marker["id"]}
    snapshot = ok(api.snapshot(url_id), 200)
    assert (snapshot["seq"], snapshot["markers"]) == (2, [])
    assert_error(api.reply(marker["id"], text="too late"), 404, "marker_not_found")


def test_delete_marker_answers_200_and_removes_its_whole_thread(api: Api) -> None:
    url_id = new_url_id()
    marker = ok(api.create(marker_body(url_id)), 201)["marker"]
    reply = ok(api.reply(marker["id"], headers=api.bob, text="reply"), 201)["comment"]
    body = ok(api.delete_marker(marker["id"]), 200)
    assert body == {"type": "deleted-image-chat", "seq": 3, "broadcastId": None, "markerId": marker["id"]}
    assert ok(api.snapshot(url_id), 200)["markers"] == []
    assert_error(api.edit(reply["id"], headers=api.bob, text="gone?"), 404, "comment_not_found")


def test_marker_author_may_delete_a_thread_holding_others_replies(api: Api) -> None:
    url_id = new_url_id()
    marker = ok(api.create(marker_body(url_id)), 201)["marker"]
    ok(api.reply(marker["id"], headers=api.bob, text="Bob's"), 201)
    ok(api.delete_marker(marker["id"]), 200)


def test_mutations_accept_a_broadcast_id(api: Api) -> None:
    url_id = new_url_id()
    marker = ok(api.create(marker_body(url_id), broadcastId=new_id("b")), 201)["marker"]
    reply = ok(api.reply(marker["id"], text="r", broadcastId=new_id("b")), 201)["comment"]
    ok(api.edit(reply["id"], text="r2", broadcastId=new_id("b")), 200)
    ok(api.delete_comment(reply["id"], broadcastId=new_id("b")), 200)
    ok(api.delete_marker(marker["id"], broadcastId=new_id("b")), 200)


def test_seq_increases_by_exactly_one_per_change_and_the_snapshot_follows(api: Api) -> None:
    url_id = new_url_id()
    seqs = []
    created = ok(api.create(marker_body(url_id)), 201)
    seqs.append(created["seq"])
    marker_id = created["marker"]["id"]
    epoch = ok(api.snapshot(url_id), 200)["epoch"]
    reply = ok(api.reply(marker_id, headers=api.bob, text="reply"), 201)
    seqs.append(reply["seq"])
    seqs.append(ok(api.edit(reply["comment"]["id"], headers=api.bob, text="edited"), 200)["seq"])
    assert api.comments(marker_id)[1]["text"] == "edited"
    seqs.append(ok(api.delete_comment(reply["comment"]["id"], headers=api.bob), 200)["seq"])
    assert ok(api.snapshot(url_id), 200)["markers"][0]["commentCount"] == 1
    second = ok(api.create(marker_body(url_id, "second")), 201)
    seqs.append(second["seq"])
    seqs.append(ok(api.delete_marker(marker_id), 200)["seq"])
    assert seqs == [1, 2, 3, 4, 5, 6]
    snapshot = ok(api.snapshot(url_id), 200)
    assert snapshot["seq"] == 6
    assert snapshot["epoch"] == epoch
    assert snapshot["markers"] == [{**protocol.expand_new_marker(second["marker"]), "commentCount": 1}]


def test_images_are_separate_conversations_with_their_own_seq(api: Api) -> None:
    first, second = new_url_id(), new_url_id()
    ok(api.create(marker_body(first)), 201)
    ok(api.create(marker_body(first)), 201)
    assert ok(api.create(marker_body(second)), 201)["seq"] == 1
    assert len(ok(api.snapshot(first), 200)["markers"]) == 2
    assert len(ok(api.snapshot(second), 200)["markers"]) == 1


def test_non_ascii_author_name_round_trips(api: Api) -> None:
    url_id = new_url_id()
    zoe, zoe_author = api.session("Zoë 李")
    assert zoe_author["name"] == "Zoë 李"
    marker = protocol.expand_new_marker(ok(api.create(marker_body(url_id), headers=zoe), 201)["marker"])
    assert marker["author"]["name"] == "Zoë 李"
    assert marker["comments"][0]["author"]["name"] == "Zoë 李"
    reply = ok(api.reply(marker["id"], headers=zoe, text="再见"), 201)["comment"]
    assert reply["author"] == zoe_author
    stored = ok(api.snapshot(url_id), 200)["markers"][0]
    assert stored["author"]["name"] == "Zoë 李"
    thread = api.comments(marker["id"])
    assert [c["author"]["name"] for c in thread] == ["Zoë 李", "Zoë 李"]
    assert thread[1]["text"] == "再见"


def test_author_name_whitespace_is_collapsed(api: Api) -> None:
    ann, ann_author = api.session("  Ann \t  Lee ")
    assert ann_author["name"] == "Ann Lee"
    marker = ok(api.create(marker_body(new_url_id()), headers=ann), 201)["marker"]
    assert marker["author"]["name"] == "Ann Lee"


def test_a_name_of_exactly_the_maximum_length_is_accepted(api: Api) -> None:
    name = "ñ" * MAX_NAME_CHARS
    assert api.session(name)[1]["name"] == name


@pytest.mark.parametrize(("x", "y"), [(0, 0), (1, 1), (0.0, 1.0), (0.5, 0.123456789)])
def test_coordinates_on_the_bounds_are_accepted(api: Api, x: float, y: float) -> None:
    marker = ok(api.create(urlId=new_url_id(), x=x, y=y, text="edge"), 201)["marker"]
    assert (marker["x"], marker["y"]) == (protocol.round_position(x), protocol.round_position(y))


def test_text_of_exactly_the_maximum_length_is_accepted(api: Api) -> None:
    text = "é" * MAX_TEXT_CHARS
    marker = ok(api.create(marker_body(new_url_id(), text)), 201)["marker"]
    assert marker["comments"][0]["text"] == text


def test_text_is_stripped_and_control_characters_removed(api: Api) -> None:
    url_id = new_url_id()
    raw = " \n\t hel\x00lo\x07 \u200bwor\x1bld\x7f\r\nline two\tend \n "
    marker = ok(api.create(marker_body(url_id, raw)), 201)["marker"]
    assert marker["comments"][0]["text"] == "hello world\nline two\tend"
    assert ok(api.snapshot(url_id), 200)["markers"][0]["comments"][0]["text"] == "hello world\nline two\tend"


def test_reply_and_edit_text_are_normalised_too(api: Api) -> None:
    url_id = new_url_id()
    marker_id = ok(api.create(marker_body(url_id)), 201)["marker"]["id"]
    reply = ok(api.reply(marker_id, text="  re\x00ply \n"), 201)["comment"]
    assert reply["text"] == "reply"
    assert ok(api.edit(reply["id"], text="\t\x01edited\u2028  "), 200)["comment"]["text"] == "edited"


def test_html_is_stored_verbatim_as_text(api: Api) -> None:
    url_id = new_url_id()
    marker = ok(api.create(marker_body(url_id, XSS)), 201)["marker"]
    assert marker["comments"][0]["text"] == XSS
    reply = ok(api.reply(marker["id"], text=f"  {XSS}  "), 201)["comment"]
    assert reply["text"] == XSS
    ok(api.edit(reply["id"], text=XSS + "<script>x</script>"), 200)
    texts = [c["text"] for c in api.comments(marker["id"])]
    assert texts == [XSS, XSS + "<script>x</script>"]


def test_any_author_may_reply_in_a_thread(api: Api) -> None:
    marker_id = ok(api.create(marker_body(new_url_id())), 201)["marker"]["id"]
    ok(api.reply(marker_id, headers=api.bob, text="Bob was here"), 201)


def test_an_images_first_change_carries_its_epoch_in_the_answer_and_the_event(fresh_server: ServerProcess) -> None:
    """A viewer that opened the image before it existed learns the epoch from the first event."""
    api = Api(fresh_server)
    url_id = new_url_id()
    first = ok(api.create(marker_body(url_id)), 201)
    second = ok(api.create(marker_body(url_id)), 201)
    epoch = ok(api.snapshot(url_id), 200)["epoch"]
    assert first["epoch"] == epoch and "epoch" not in second
    payloads = [json.loads(row[4]) for row in sorted(fresh_server.rows()["events"])]
    assert [(event["seq"], event.get("epoch")) for event in payloads] == [(1, epoch), (2, None)]


# -- bounded snapshots, thread pages, revalidation ----------------------------------------------


def test_a_snapshot_carries_each_threads_first_comment_and_its_count(api: Api) -> None:
    url_id = new_url_id()
    marker = protocol.expand_new_marker(ok(api.create(marker_body(url_id, "first")), 201)["marker"])
    for text in ("second", "third"):
        ok(api.reply(marker["id"], headers=api.bob, text=text), 201)
    [shown] = ok(api.snapshot(url_id), 200)["markers"]
    assert shown == {**marker, "commentCount": 3}
    assert [c["text"] for c in shown["comments"]] == ["first"]


def test_a_thread_is_read_in_pages_of_at_most_100_oldest_first(api: Api) -> None:
    url_id = new_url_id()
    created = ok(api.create(marker_body(url_id, "comment 0")), 201)
    marker_id = created["marker"]["id"]
    for n in range(1, 250):
        ok(api.reply(marker_id, text=f"comment {n}"), 201)
    pages, params = [], {}
    while True:
        page = ok(api.thread(marker_id, **params), 200)
        assert set(page) == {"markerId", "seq", "comments", "next"}
        assert (page["markerId"], page["seq"]) == (marker_id, 250)
        pages.append(page)
        if page["next"] is None:
            break
        assert page["next"] == page["comments"][-1]["id"]
        params = {"after": page["next"]}
    assert [len(page["comments"]) for page in pages] == [100, 100, 50]
    texts = [c["text"] for page in pages for c in page["comments"]]
    assert texts == [f"comment {n}" for n in range(250)]
    small = ok(api.thread(marker_id, limit=7, after=pages[0]["comments"][2]["id"]), 200)
    assert [c["text"] for c in small["comments"]] == [f"comment {n}" for n in range(3, 10)]
    assert ok(api.snapshot(url_id), 200)["markers"][0]["commentCount"] == 250


def test_a_thread_page_is_as_new_as_its_seq(api: Api) -> None:
    marker = protocol.expand_new_marker(ok(api.create(marker_body(new_url_id())), 201)["marker"])
    reply = ok(api.reply(marker["id"], text="later"), 201)
    page = ok(api.thread(marker["id"]), 200)
    assert page == {"markerId": marker["id"], "seq": reply["seq"], "comments": [marker["comments"][0], reply["comment"]],
                    "next": None}


def test_thread_of_an_unknown_marker_or_cursor_is_404_and_bad_limits_are_400(seeded: Seeded, subtests: Any) -> None:
    api = seeded.api
    seeded.rejects(lambda: api.thread(new_id("m")), 404, "marker_not_found")
    seeded.rejects(lambda: api.thread(seeded.marker_id, after=new_id("c")), 404, "comment_not_found")
    seeded.rejects(lambda: api.with_tenant("nope").thread(seeded.marker_id), 404, "tenant_not_found")
    for limit in ["0", "101", "-1", "ten", ""]:
        with subtests.test(limit=limit):
            seeded.rejects(lambda: api.thread(seeded.marker_id, limit=limit), 400, "invalid_field", "limit")
    seeded.rejects(lambda: api.thread(seeded.marker_id, after="bad id"), 400, "invalid_field", "after")


def test_a_snapshot_is_revalidated_with_its_etag(api: Api) -> None:
    url_id = new_url_id()
    empty = api.snapshot(url_id)
    assert empty.headers["cache-control"] == "no-cache"
    assert api.client.get("/snapshot", params={"urlId": url_id},
                          headers={"If-None-Match": empty.headers["etag"]}).status_code == 304
    marker = ok(api.create(marker_body(url_id)), 201)["marker"]
    first = api.snapshot(url_id)
    assert first.headers["etag"] != empty.headers["etag"]

    def revalidate(tag: str) -> httpx.Response:
        return api.client.get("/snapshot", params={"urlId": url_id}, headers={"If-None-Match": tag})

    unchanged = revalidate(first.headers["etag"])
    assert (unchanged.status_code, unchanged.content) == (304, b"")
    assert unchanged.headers["etag"] == first.headers["etag"]
    assert revalidate(f'"other", {first.headers["etag"]}').status_code == 304
    ok(api.reply(marker["id"], text="news"), 201)
    changed = revalidate(first.headers["etag"])
    assert changed.status_code == 200
    assert changed.json()["markers"][0]["commentCount"] == 2
    assert changed.headers["etag"] not in (first.headers["etag"], empty.headers["etag"])


def test_a_read_only_switch_changes_the_snapshots_etag(fresh_server: ServerProcess) -> None:
    api = Api(fresh_server)
    url_id = new_url_id()
    ok(api.create(marker_body(url_id)), 201)
    writable = api.snapshot(url_id).headers["etag"]
    fresh_server.cli("tenant", "update", "demo", "--readonly")
    wait_until(lambda: api.snapshot(url_id).json()["readonly"] is True, 30)  # tenants are cached a while
    assert api.snapshot(url_id).headers["etag"] != writable
    refreshed = api.client.get("/snapshot", params={"urlId": url_id}, headers={"If-None-Match": writable})
    assert refreshed.status_code == 200 and refreshed.json()["readonly"] is True


# -- ids are scoped to their tenant ---------------------------------------------------------------


def other_tenant(server: ServerProcess) -> "Api":
    """A new second tenant on the server, used from the server's own origin by its own users."""
    tenant = new_id("other")
    server.cli("tenant", "create", "Other Site", "--id", tenant, "--origin", "self")
    return Api(server, tenant)


def test_the_same_ids_work_independently_in_two_tenants(seeded: Seeded) -> None:
    other = other_tenant(seeded.server)
    body = marker_body(seeded.url_id, "theirs", id=seeded.marker_id, commentId=seeded.comment_id)
    created = ok(other.create(body), 201)["marker"]
    assert (created["id"], created["comments"][0]["id"]) == (seeded.marker_id, seeded.comment_id)
    ok(other.reply(seeded.marker_id, text="their reply", id=seeded.reply_id), 201)
    ok(other.edit(seeded.comment_id, text="theirs, edited"), 200)
    ok(other.delete_comment(seeded.reply_id), 200)
    ours = ok(seeded.api.snapshot(seeded.url_id), 200)["markers"][0]
    assert (ours["comments"][0]["text"], ours["commentCount"]) == ("Alice's comment", 2)
    assert [c["text"] for c in seeded.api.comments(seeded.marker_id)] == ["Alice's comment", "Bob's reply"]
    assert [c["text"] for c in other.comments(seeded.marker_id)] == ["theirs, edited"]
    ok(other.delete_marker(seeded.marker_id), 200)
    assert ok(seeded.api.snapshot(seeded.url_id), 200)["markers"][0]["id"] == seeded.marker_id


def test_another_tenants_ids_are_invisible(seeded: Seeded) -> None:
    other = other_tenant(seeded.server)
    seeded.rejects(lambda: other.reply(seeded.marker_id, text="x"), 404, "marker_not_found")
    seeded.rejects(lambda: other.edit(seeded.comment_id, text="x"), 404, "comment_not_found")
    seeded.rejects(lambda: other.delete_comment(seeded.comment_id), 404, "comment_not_found")
    seeded.rejects(lambda: other.delete_marker(seeded.marker_id), 404, "marker_not_found")
    seeded.rejects(lambda: other.thread(seeded.marker_id), 404, "marker_not_found")


# -- errors: unknown tenant, marker, comment ----------------------------------------------------


def test_unknown_tenant_on_snapshot_is_404(seeded: Seeded) -> None:
    seeded.rejects(lambda: seeded.api.with_tenant("nope").snapshot(seeded.url_id), 404, "tenant_not_found")


def test_unknown_tenant_on_create_marker_is_404(seeded: Seeded) -> None:
    nope = seeded.api.with_tenant("nope")
    seeded.rejects(lambda: nope.create(marker_body(new_url_id())), 404, "tenant_not_found")


def test_unknown_tenant_on_reply_is_404(seeded: Seeded) -> None:
    nope = seeded.api.with_tenant("nope")
    seeded.rejects(lambda: nope.reply(seeded.marker_id, text="x"), 404, "tenant_not_found")


def test_unknown_tenant_on_edit_is_404(seeded: Seeded) -> None:
    nope = seeded.api.with_tenant("nope")
    seeded.rejects(lambda: nope.edit(seeded.comment_id, text="x"), 404, "tenant_not_found")


def test_unknown_tenant_on_delete_comment_is_404(seeded: Seeded) -> None:
    nope = seeded.api.with_tenant("nope")
    seeded.rejects(lambda: nope.delete_comment(seeded.comment_id), 404, "tenant_not_found")


def test_unknown_tenant_on_delete_marker_is_404(seeded: Seeded) -> None:
    nope = seeded.api.with_tenant("nope")
    seeded.rejects(lambda: nope.delete_marker(seeded.marker_id), 404, "tenant_not_found")


def test_reply_to_unknown_marker_is_404(seeded: Seeded) -> None:
    seeded.rejects(lambda: seeded.api.reply(new_id("m"), text="x"), 404, "marker_not_found")


def test_delete_unknown_marker_is_404(seeded: Seeded) -> None:
    seeded.rejects(lambda: seeded.api.delete_marker(new_id("m")), 404, "marker_not_found")


def test_delete_marker_given_a_comment_id_is_404(seeded: Seeded) -> None:
    seeded.rejects(lambda: seeded.api.delete_marker(seeded.comment_id), 404, "marker_not_found")


def test_edit_unknown_comment_is_404(seeded: Seeded) -> None:
    seeded.rejects(lambda: seeded.api.edit(new_id("c"), text="x"), 404, "comment_not_found")


def test_delete_unknown_comment_is_404(seeded: Seeded) -> None:
    seeded.rejects(lambda: seeded.api.delete_comment(new_id("c")), 404, "comment_not_found")


def test_edit_given_a_marker_id_is_404(seeded: Seeded) -> None:
    seeded.rejects(lambda: seeded.api.edit(seeded.marker_id, text="x"), 404, "comment_not_found")


# -- errors: invalid fields ---------------------------------------------------------------------
# Families of bad values share one fresh server: each request is still checked on its own
# (answer, and every stored row unchanged), as one subtest per value.

BAD_FRACTIONS = [-0.01, -1, 1.00001, 2, 1e300, "0.5", "NaN", "nan", "Infinity", "", True, False, None, [0.5], {"v": 0.5}]


@pytest.mark.parametrize("field", ["x", "y"])
def test_bad_coordinate_is_400_naming_the_field(seeded: Seeded, subtests: Any, field: str) -> None:
    for value in BAD_FRACTIONS:
        with subtests.test(value=value):
            body = marker_body(new_url_id(), **{field: value})
            seeded.rejects(lambda: seeded.api.create(body), 400, "invalid_field", field)


@pytest.mark.parametrize("field", ["x", "y"])
def test_missing_coordinate_is_400_naming_the_field(seeded: Seeded, field: str) -> None:
    body = marker_body(new_url_id())
    del body[field]
    seeded.rejects(lambda: seeded.api.create(body), 400, "invalid_field", field)


def post_raw_marker(seeded: Seeded, raw: str | bytes) -> httpx.Response:
    return seeded.api.raw("POST", f"{seeded.api.prefix}/markers", content=raw, headers=seeded.api.alice)


def test_non_finite_json_number_coordinate_is_400(seeded: Seeded, subtests: Any) -> None:
    """Python's JSON parser accepts these non-standard literals; the server must still refuse them."""
    for literal in ["NaN", "Infinity", "-Infinity", "1e400", "-1e400"]:
        with subtests.test(literal=literal):
            raw = f'{{"urlId": "{new_url_id()}", "x": {literal}, "y": 0.5, "text": "hi"}}'
            seeded.rejects(lambda: post_raw_marker(seeded, raw), 400, "invalid_field", "x")


def test_huge_integer_coordinate_is_400_not_500(seeded: Seeded, subtests: Any) -> None:
    """An integer too large for a float must not crash the range check."""
    for literal in ["1" + "0" * 400, "-1" + "0" * 400]:
        with subtests.test(literal=literal[:5] + "..."):
            raw = f'{{"urlId": "{new_url_id()}", "x": {literal}, "y": 0.5, "text": "hi"}}'
            seeded.rejects(lambda: post_raw_marker(seeded, raw), 400, "invalid_field", "x")


BAD_TEXTS = ["", "   ", " \n\t\r\n ", "\x00\x07\x1b", "\u200b\u200e\u2028", "a" * (MAX_TEXT_CHARS + 1), 42, None, ["hi"]]


def test_bad_marker_text_is_400(seeded: Seeded, subtests: Any) -> None:
    for text in BAD_TEXTS:
        with subtests.test(text=repr(text)[:20]):
            seeded.rejects(lambda: seeded.api.create(marker_body(new_url_id(), text)), 400, "invalid_field", "text")


def test_missing_marker_text_is_400(seeded: Seeded) -> None:
    body = marker_body(new_url_id())
    del body["text"]
    seeded.rejects(lambda: seeded.api.create(body), 400, "invalid_field", "text")


BAD_SHORT_TEXTS = {"empty": "", "blank": " \n\t ", "oversized": "b" * (MAX_TEXT_CHARS + 1), "missing": None}


def test_bad_reply_text_is_400(seeded: Seeded, subtests: Any) -> None:
    for case, text in BAD_SHORT_TEXTS.items():
        with subtests.test(case):
            seeded.rejects(lambda: seeded.api.reply(seeded.marker_id, text=text), 400, "invalid_field", "text")


def test_bad_edit_text_is_400(seeded: Seeded, subtests: Any) -> None:
    for case, text in BAD_SHORT_TEXTS.items():
        with subtests.test(case):
            seeded.rejects(lambda: seeded.api.edit(seeded.comment_id, text=text), 400, "invalid_field", "text")


def test_text_limit_counts_the_cleaned_text(seeded: Seeded) -> None:
    """2000 characters padded with whitespace are fine; 2001 are not."""
    ok(seeded.api.create(marker_body(new_url_id(), "  " + "d" * MAX_TEXT_CHARS + "  ")), 201)
    seeded.rejects(
        lambda: seeded.api.create(marker_body(new_url_id(), "d" * (MAX_TEXT_CHARS + 1))), 400, "invalid_field", "text"
    )


def test_text_with_a_lone_surrogate_is_400_not_500(seeded: Seeded) -> None:
    raw = f'{{"urlId": "{new_url_id()}", "x": 0.5, "y": 0.5, "text": "hi \\ud800"}}'
    seeded.rejects(lambda: post_raw_marker(seeded, raw), 400, "invalid_field", "text")


def test_url_id_with_a_lone_surrogate_is_400_not_500(seeded: Seeded) -> None:
    raw = '{"urlId": "img-\\ud800", "x": 0.5, "y": 0.5, "text": "hi"}'
    seeded.rejects(lambda: post_raw_marker(seeded, raw), 400, "invalid_field", "urlId")


BAD_URL_IDS = [None, "", "   ", "u" * 513, "img-\x00", "img-\x1b", "img-\u200b", 42, ["a"]]


def test_bad_url_id_on_create_is_400(seeded: Seeded, subtests: Any) -> None:
    for url_id in BAD_URL_IDS:
        with subtests.test(url_id=repr(url_id)[:20]):
            body = {**marker_body("placeholder"), "urlId": url_id}
            seeded.rejects(lambda: seeded.api.create(body), 400, "invalid_field", "urlId")


def test_bad_url_id_on_snapshot_is_400(seeded: Seeded, subtests: Any) -> None:
    for url_id in [None, "", "   ", "u" * 513, "img-\x01"]:
        with subtests.test(url_id=repr(url_id)[:20]):
            seeded.rejects(lambda: seeded.api.snapshot(url_id), 400, "invalid_field", "urlId")


def test_url_id_with_a_line_break_is_400(seeded: Seeded) -> None:
    body = marker_body("img\nsecond-line")
    seeded.rejects(lambda: seeded.api.create(body), 400, "invalid_field", "urlId")


# -- errors: bodies -----------------------------------------------------------------------------

MALFORMED = [b"", b"{", b'{"urlId": ', b"not json", b"{'single': 'quotes'}", b"\xff\xfe{}", b"[]", b'[{"x": 1}]', b"null", b"42", b'"text"']


def test_malformed_or_non_object_body_on_create_is_400_invalid_json(seeded: Seeded, subtests: Any) -> None:
    for raw in MALFORMED:
        with subtests.test(raw=raw):
            seeded.rejects(lambda: post_raw_marker(seeded, raw), 400, "invalid_json")


def test_malformed_or_array_body_on_reply_and_edit_is_400_invalid_json(seeded: Seeded, subtests: Any) -> None:
    reply_path = f"{seeded.api.prefix}/markers/{seeded.marker_id}/comments"
    edit_path = f"{seeded.api.prefix}/comments/{seeded.comment_id}"
    for method, path in [("POST", reply_path), ("PATCH", edit_path)]:
        for raw in [b"{", b"", b'["text"]']:
            with subtests.test(method=method, raw=raw):
                seeded.rejects(lambda: seeded.api.raw(method, path, content=raw, headers=seeded.api.alice), 400, "invalid_json")


def test_deeply_nested_json_body_is_400_not_500(seeded: Seeded) -> None:
    seeded.rejects(lambda: post_raw_marker(seeded, b"[" * 5000 + b"]" * 5000), 400, "invalid_json")


def oversized_body(url_id: str) -> bytes:
    body = json.dumps(marker_body(url_id, "x" * (MAX_BODY_BYTES + 1))).encode()
    assert len(body) > MAX_BODY_BYTES
    return body


def test_body_over_16_kib_is_413(seeded: Seeded) -> None:
    seeded.rejects(lambda: post_raw_marker(seeded, oversized_body(new_url_id())), 413, "body_too_large")


def test_chunked_body_over_16_kib_without_content_length_is_413(seeded: Seeded) -> None:
    raw = oversized_body(new_url_id())

    def chunks():  # a generator: httpx sends it chunked, with no Content-Length
        for start in range(0, len(raw), 1000):
            yield raw[start:start + 1000]

    def send() -> httpx.Response:
        response = seeded.api.raw("POST", f"{seeded.api.prefix}/markers", content=chunks(), headers=seeded.api.alice)
        assert "content-length" not in response.request.headers
        return response

    seeded.rejects(send, 413, "body_too_large")


def test_body_over_16_kib_on_reply_and_edit_is_413(seeded: Seeded) -> None:
    raw = json.dumps({"text": "y" * (MAX_BODY_BYTES + 1)}).encode()
    reply_path = f"{seeded.api.prefix}/markers/{seeded.marker_id}/comments"
    seeded.rejects(lambda: seeded.api.raw("POST", reply_path, content=raw, headers=seeded.api.alice), 413, "body_too_large")
    edit_path = f"{seeded.api.prefix}/comments/{seeded.comment_id}"
    seeded.rejects(lambda: seeded.api.raw("PATCH", edit_path, content=raw, headers=seeded.api.alice), 413, "body_too_large")


def test_body_of_exactly_16_kib_is_not_too_large(seeded: Seeded) -> None:
    body = json.dumps(marker_body(new_url_id(), "z"))
    raw = (body[:-1] + " " * (MAX_BODY_BYTES - len(body)) + "}").encode()
    assert len(raw) == MAX_BODY_BYTES
    ok(post_raw_marker(seeded, raw), 201)


# -- sign-in: POST .../sessions -----------------------------------------------------------------


def test_signing_in_answers_a_token_for_a_new_anonymous_author(seeded: Seeded) -> None:
    before = seeded.server.rows()
    response = seeded.api.post_session({"name": "Grace"})
    body = ok(response, 201)
    assert set(body) == {"token", "expiresAt", "author", "roles"}
    assert body["token"].startswith("v1.")
    assert isinstance(body["expiresAt"], int) and body["expiresAt"] > time.time() + 3600
    assert set(body["author"]) == {"id", "name"}
    assert ANON_ID.fullmatch(body["author"]["id"]), body["author"]
    assert body["author"]["name"] == "Grace"
    assert body["roles"] == []
    assert seeded.server.rows() == before  # a session is a signed token: nothing is stored
    grace = {"Authorization": f"Bearer {body['token']}", "Origin": seeded.server.url}
    assert seeded.server.author_id(grace) == body["author"]["id"]
    marker = protocol.expand_new_marker(ok(seeded.api.create(marker_body(new_url_id()), headers=grace), 201)["marker"])
    assert marker["author"] == marker["comments"][0]["author"] == body["author"]


def test_each_sign_in_is_a_new_author_even_with_the_same_name(api: Api) -> None:
    _, first = api.session("Alice")
    _, second = api.session("Alice")
    assert first["name"] == second["name"] == api.alice_author["name"] == "Alice"
    assert len({first["id"], second["id"], api.alice_author["id"]}) == 3


BAD_NAMES: dict[str, Any] = {
    "missing": ..., "null": None, "empty": "", "blank": " \t\n ", "control": "\x00\x07\u200b",
    "too-long": "n" * (MAX_NAME_CHARS + 1), "number": 42, "list": ["Alice"], "object": {"name": "Alice"},
}


def test_bad_name_on_sign_in_is_400(seeded: Seeded, subtests: Any) -> None:
    for case, name in BAD_NAMES.items():
        with subtests.test(case):
            body = {} if name is ... else {"name": name}
            seeded.rejects(lambda: seeded.api.post_session(body), 400, "invalid_field", "name")


def test_malformed_body_on_sign_in_is_400_invalid_json(seeded: Seeded, subtests: Any) -> None:
    path = f"{seeded.api.prefix}/sessions"
    for raw in [b"", b"{", b"[]", b"null", b'"Alice"']:
        with subtests.test(raw=raw):
            send = lambda: seeded.api.raw("POST", path, content=raw, headers={"Origin": seeded.server.url})  # noqa: E731
            seeded.rejects(send, 400, "invalid_json")


def refused_origins(server: ServerProcess) -> dict[str, dict[str, str]]:
    """Origin headers the demo tenant (allowing only the server's own origin) refuses."""
    return {
        "missing": {},
        "foreign": {"Origin": FOREIGN_ORIGIN},
        "opaque": {"Origin": "null"},
        "same-port-other-host": {"Origin": server.url.replace("127.0.0.1", "localhost")},
    }


def test_sign_in_without_an_allowed_origin_is_403(seeded: Seeded, subtests: Any) -> None:
    for case, headers in refused_origins(seeded.server).items():
        with subtests.test(case):
            seeded.rejects(lambda: seeded.api.post_session({"name": "Eve"}, headers=headers), 403, "origin_not_allowed")


def test_sign_in_on_an_unknown_tenant_is_404(seeded: Seeded) -> None:
    nope = seeded.api.with_tenant("nope")
    seeded.rejects(lambda: nope.post_session({"name": "Alice"}), 404, "tenant_not_found")


# -- errors: tokens, origins and permissions ----------------------------------------------------


def mutations(seeded: Seeded) -> dict[str, Any]:
    """Each mutation, valid but for the request headers it is given."""
    api = seeded.api
    return {
        "create": lambda h: api.create(marker_body(new_url_id()), headers=h),
        "reply": lambda h: api.reply(seeded.marker_id, headers=h, text="x"),
        "edit": lambda h: api.edit(seeded.comment_id, headers=h, text="x"),
        "delete_comment": lambda h: api.delete_comment(seeded.comment_id, headers=h),
        "delete_marker": lambda h: api.delete_marker(seeded.marker_id, headers=h),
    }


def test_missing_token_is_401(seeded: Seeded, subtests: Any) -> None:
    origin = {"Origin": seeded.server.url}
    token = seeded.api.alice["Authorization"].removeprefix("Bearer ")
    cases = {
        "no-header": origin,
        "other-scheme": {**origin, "Authorization": "Basic YWxpY2U6c2VjcmV0"},
        "no-scheme": {**origin, "Authorization": token},
    }
    for name, send in mutations(seeded).items():
        for case, headers in cases.items():
            with subtests.test(mutation=name, case=case):
                seeded.rejects(lambda: send(headers), 401, "missing_token")


def test_garbage_token_is_401(seeded: Seeded, subtests: Any) -> None:
    alice, bob = seeded.api.alice, seeded.api.bob
    version, _alice_claims, alice_signature = alice["Authorization"].removeprefix("Bearer ").split(".")
    _, bob_claims, _ = bob["Authorization"].removeprefix("Bearer ").split(".")
    tokens = {
        "garbage": "garbage",
        "empty-claims": "v1.e30.AAAA",
        "extra-character": alice["Authorization"].removeprefix("Bearer ") + "x",
        # Bob's claims under Alice's signature: whoever holds Alice's token cannot become Bob.
        "swapped-claims": f"{version}.{bob_claims}.{alice_signature}",
    }
    for name, send in mutations(seeded).items():
        for case, token in tokens.items():
            with subtests.test(mutation=name, case=case):
                seeded.rejects(lambda: send(with_token(alice, token)), 401, "invalid_token")


def test_a_token_with_a_non_ascii_signature_is_401_not_500(seeded: Seeded) -> None:
    token = seeded.api.alice["Authorization"].removeprefix("Bearer ")
    forged = token.rsplit(".", 1)[0] + ".\xe9"  # header values are Latin-1 on the wire
    headers = [(b"Authorization", f"Bearer {forged}".encode("latin-1")), (b"Origin", seeded.server.url.encode())]
    seeded.rejects(lambda: seeded.api.edit(seeded.comment_id, headers=headers, text="x"), 401, "invalid_token")


def test_changes_without_an_allowed_origin_are_403(seeded: Seeded, subtests: Any) -> None:
    authorization = {"Authorization": seeded.api.alice["Authorization"]}
    for name, send in mutations(seeded).items():
        for case, origin in refused_origins(seeded.server).items():
            with subtests.test(mutation=name, case=case):
                seeded.rejects(lambda: send({**authorization, **origin}), 403, "origin_not_allowed")


def test_the_author_comes_from_the_token_not_the_body(api: Api) -> None:
    impostor = {"author": {"id": api.bob_author["id"], "name": "Bob"}, "authorId": api.bob_author["id"], "name": "Bob"}
    marker = protocol.expand_new_marker(ok(api.create(marker_body(new_url_id(), **impostor)), 201)["marker"])
    assert marker["author"] == marker["comments"][0]["author"] == api.alice_author
    assert ok(api.reply(marker["id"], text="r", **impostor), 201)["comment"]["author"] == api.alice_author


def test_editing_someone_elses_comment_is_403(seeded: Seeded) -> None:
    seeded.rejects(lambda: seeded.api.edit(seeded.comment_id, headers=seeded.api.bob, text="hijack"), 403, "forbidden")


def test_deleting_someone_elses_comment_is_403(seeded: Seeded) -> None:
    seeded.rejects(lambda: seeded.api.delete_comment(seeded.reply_id, headers=seeded.api.alice), 403, "forbidden")


def test_deleting_someone_elses_marker_is_403(seeded: Seeded) -> None:
    seeded.rejects(lambda: seeded.api.delete_marker(seeded.marker_id, headers=seeded.api.bob), 403, "forbidden")


def test_signing_in_again_with_the_same_name_is_another_author(seeded: Seeded) -> None:
    """A name is only a label: a new session named "Alice" may not touch Alice's things."""
    other_alice, _ = seeded.api.session("Alice")
    seeded.rejects(lambda: seeded.api.edit(seeded.comment_id, headers=other_alice, text="hijack"), 403, "forbidden")
    seeded.rejects(lambda: seeded.api.delete_comment(seeded.comment_id, headers=other_alice), 403, "forbidden")
    seeded.rejects(lambda: seeded.api.delete_marker(seeded.marker_id, headers=other_alice), 403, "forbidden")


def test_same_author_id_with_another_name_is_still_the_author(seeded: Seeded) -> None:
    """Signing in again with a still valid anonymous token (to change one's name) keeps the author id."""
    answer = ok(seeded.api.post_session({"name": "Alice Renamed"}, headers=seeded.api.alice), 201)
    assert answer["author"] == {"id": seeded.api.alice_author["id"], "name": "Alice Renamed"}
    renamed = with_token(seeded.api.alice, answer["token"])
    assert token_claims(renamed)["n"] == "Alice Renamed"
    comment = ok(seeded.api.edit(seeded.comment_id, headers=renamed, text="mine"), 200)["comment"]
    assert comment["text"] == "mine"
    assert comment["author"]["id"] == seeded.api.alice_author["id"]


# -- errors: client-chosen ids and broadcast ids ------------------------------------------------


def test_reusing_a_marker_id_is_409(seeded: Seeded) -> None:
    body = marker_body(new_url_id(), id=seeded.marker_id)
    seeded.rejects(lambda: seeded.api.create(body), 409, "id_taken")


def test_reusing_a_marker_id_on_the_same_image_is_409(seeded: Seeded) -> None:
    body = marker_body(seeded.url_id, id=seeded.marker_id)
    seeded.rejects(lambda: seeded.api.create(body), 409, "id_taken")


def test_reusing_a_comment_id_for_a_new_marker_is_409(seeded: Seeded) -> None:
    body = marker_body(new_url_id(), id=new_id("m"), commentId=seeded.reply_id)
    seeded.rejects(lambda: seeded.api.create(body), 409, "id_taken")


def test_reusing_a_comment_id_for_a_reply_is_409(seeded: Seeded) -> None:
    seeded.rejects(lambda: seeded.api.reply(seeded.marker_id, text="again", id=seeded.comment_id), 409, "id_taken")


def test_same_id_for_marker_and_its_first_comment_is_allowed(seeded: Seeded) -> None:
    """Markers and comments are separate id spaces."""
    same = new_id("s")
    marker = ok(seeded.api.create(marker_body(new_url_id(), id=same, commentId=same)), 201)["marker"]
    assert marker["id"] == marker["comments"][0]["id"] == same


BAD_IDS = ["short", "x" * 65, "bad id here", "ünïcödé-id", 12345678, "", ["a-list-id"]]


def test_bad_client_id_is_400_naming_the_field(seeded: Seeded, subtests: Any) -> None:
    for field in ["id", "commentId"]:
        for value in BAD_IDS:
            with subtests.test(field=field, value=value):
                body = marker_body(new_url_id(), **{field: value})
                seeded.rejects(lambda: seeded.api.create(body), 400, "invalid_field", field)


def test_bad_reply_id_is_400(seeded: Seeded) -> None:
    seeded.rejects(lambda: seeded.api.reply(seeded.marker_id, text="x", id="bad"), 400, "invalid_field", "id")


def test_bad_broadcast_id_in_a_body_is_400(seeded: Seeded, subtests: Any) -> None:
    api = seeded.api
    sends = {
        "create": lambda value: api.create(marker_body(new_url_id(), broadcastId=value)),
        "reply": lambda value: api.reply(seeded.marker_id, text="x", broadcastId=value),
        "edit": lambda value: api.edit(seeded.comment_id, text="x", broadcastId=value),
    }
    for name, send in sends.items():
        for value in ["short", "b" * 65, "with space!", 12345678, "", ["broadcast"]]:
            with subtests.test(mutation=name, value=value):
                seeded.rejects(lambda: send(value), 400, "invalid_field", "broadcastId")


def test_bad_broadcast_id_in_a_delete_query_is_400(seeded: Seeded, subtests: Any) -> None:
    api = seeded.api
    for value in ["", "short", "has space 1", "x" * 65]:
        with subtests.test(value=value):
            seeded.rejects(
                lambda: api.delete_comment(seeded.reply_id, headers=api.bob, broadcastId=value), 400, "invalid_field", "broadcastId"
            )
            seeded.rejects(lambda: api.delete_marker(seeded.marker_id, broadcastId=value), 400, "invalid_field", "broadcastId")


# -- errors: routing ----------------------------------------------------------------------------


UNKNOWN_API_PATHS = [
    "/api/v1/nope", "/api/v1/tenants/demo/unknown", "/api/v1/tenants/demo/markers/m-1234567/nope",
    "/api/nope", "/api/v2/tenants/demo/snapshot?urlId=a",
]


def test_unknown_api_route_is_404_json(seeded: Seeded, subtests: Any) -> None:
    for path in UNKNOWN_API_PATHS:
        with subtests.test(path=path):
            seeded.rejects(lambda: seeded.api.raw("GET", path, headers=seeded.api.alice), 404, "not_found")


def test_posting_to_an_unknown_api_v1_route_is_404_json(seeded: Seeded, subtests: Any) -> None:
    for path in [p for p in UNKNOWN_API_PATHS if p.startswith("/api/v1/")]:
        with subtests.test(path=path):
            send = lambda: seeded.api.raw("POST", path, headers=seeded.api.alice, json={})  # noqa: E731
            seeded.rejects(send, 404, "not_found")


def test_posting_to_an_unknown_api_route_outside_v1_is_404_json(seeded: Seeded) -> None:
    seeded.rejects(lambda: seeded.api.raw("POST", "/api/nope", headers=seeded.api.alice, json={}), 404, "not_found")


WRONG_METHODS = [
    ("PUT", "/sessions"),
    ("DELETE", "/sessions"),
    ("PUT", "/markers"),
    ("DELETE", "/snapshot?urlId=a"),
    ("POST", "/snapshot?urlId=a"),
    ("PUT", "/comments/{comment}"),
    ("POST", "/comments/{comment}"),
    ("PATCH", "/markers/{marker}"),
    ("DELETE", "/markers/{marker}/comments"),
]


def test_wrong_method_is_405_json(seeded: Seeded, subtests: Any) -> None:
    for method, path in WRONG_METHODS:
        with subtests.test(method=method, path=path):
            path = seeded.api.prefix + path.format(comment=seeded.comment_id, marker=seeded.marker_id)
            send = lambda: seeded.api.raw(method, path, headers=seeded.api.alice, json=marker_body(new_url_id()))  # noqa: E731
            seeded.rejects(send, 405, "method_not_allowed")


@pytest.mark.parametrize(
    "path", ["/sessions", "/markers", "/markers/{marker}", "/comments/{comment}"]
)
def test_get_on_a_mutation_route_is_405_json(seeded: Seeded, path: str) -> None:
    path = seeded.api.prefix + path.format(comment=seeded.comment_id, marker=seeded.marker_id)
    seeded.rejects(lambda: seeded.api.raw("GET", path, headers=seeded.api.alice), 405, "method_not_allowed")


def test_outside_api_an_unknown_path_is_a_plain_404(api: Api) -> None:
    response = api.raw("GET", "/no-such-page")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/plain")


# -- OpenAPI and static files -------------------------------------------------------------------


def test_openapi_document_lists_every_tenant_path(api: Api) -> None:
    document = ok(api.raw("GET", "/api/v1/openapi.json"), 200)
    assert document["openapi"].startswith("3.")
    assert document["info"]["title"]
    paths = {path: set(methods) for path, methods in document["paths"].items() if path.startswith("/api/v1/tenants/")}
    assert paths == {
        "/api/v1/tenants/{tenant}/sessions": {"post"},
        "/api/v1/tenants/{tenant}/snapshot": {"get"},
        "/api/v1/tenants/{tenant}/usage": {"get"},
        "/api/v1/tenants/{tenant}/markers": {"post"},
        "/api/v1/tenants/{tenant}/markers/{marker}": {"delete"},
        "/api/v1/tenants/{tenant}/markers/{marker}/comments": {"post", "get"},
        "/api/v1/tenants/{tenant}/markers/{marker}/resolved": {"put"},
        "/api/v1/tenants/{tenant}/comments/{comment}": {"patch", "delete"},
    }
    for methods in document["paths"].values():
        for operation in methods.values():
            assert operation["summary"] and operation["responses"]


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/embed.js", "text/javascript"),
        ("/widget.css", "text/css"),
        ("/widget/main.py", None),
        ("/vendor/pyodide/pyodide.mjs", "javascript"),
        ("/vendor/pyodide/pyodide.asm.wasm", "application/wasm"),
        ("/vendor/pyscript/core.js", "javascript"),
        ("/demo/", "text/html"),
    ],
)
def test_static_asset_is_served_same_origin(api: Api, path: str, content_type: str | None) -> None:
    response = api.raw("GET", path)
    assert response.status_code == 200, f"{path}: {response.status_code} (is public/node_modules installed?)"
    assert response.content
    if content_type is not None:
        assert content_type in response.headers["content-type"]


def test_demo_page_holds_an_image_chat_image(api: Api) -> None:
    response = api.raw("GET", "/demo/")
    assert response.status_code == 200
    assert "data-image-chat" in response.text


def test_root_redirects_to_the_demo(api: Api) -> None:
    response = api.raw("GET", "/")
    assert response.status_code in (302, 307)
    assert response.headers["location"].endswith("/demo/")
