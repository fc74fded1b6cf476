"""The WebSocket endpoint /api/v1/tenants/{tenant}/live against a real server process.

A socket's frames arrive in order, so a `pong` received after a `ping` proves that nothing else was
queued on that socket before it: that is how "receives nothing" is asserted, without sleeping.

Sockets connect from the server's own origin (the demo tenant allows only that one); changes are
made over REST by signed-in users. Both servers here run without practical rate limits: these tests
make many changes from one address (rate limits are tested in test_security).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.conftest import ServerProcess, new_id, new_url_id
from tests.live import TIMEOUT, live, recv_event, recv_text, send_subscribe, subscribe
from tests.rest import Rest, ok

MAX_FRAME_BYTES = 4 * 1024
FOREIGN_ORIGIN = "http://evil.example"


@pytest.fixture(scope="module")
def server(unlimited_server: ServerProcess) -> ServerProcess:
    return unlimited_server


@pytest.fixture
def fresh_server(unlimited_fresh_server: ServerProcess) -> ServerProcess:
    return unlimited_fresh_server


def refusal(url: str, origin: str | None) -> tuple[int, str]:
    """How the server refused a WebSocket: accepted, then closed at once with (code, reason) -
    the only answer a browser can read."""
    with connect(url, origin=origin, open_timeout=TIMEOUT, close_timeout=TIMEOUT) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=TIMEOUT)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


def assert_next_is_pong(ws: ClientConnection) -> None:
    """Nothing was queued before this pong: the socket received nothing else, and is usable."""
    ws.send('{"type":"ping"}')
    assert recv_event(ws) == {"type": "pong"}


def assert_error_frame(ws: ClientConnection, code: str) -> dict[str, Any]:
    frame = recv_event(ws)
    assert set(frame) == {"type", "error", "message"}, frame
    assert frame["type"] == "error"
    assert frame["error"] == code, frame
    assert isinstance(frame["message"], str) and frame["message"]
    return frame


def stored_events(server: ServerProcess) -> list[tuple[int, str, str | None, str]]:
    """(seq, type, broadcast_id, payload) of every stored event, in seq order (one image per fresh server)."""
    rows = sorted(server.rows()["events"], key=lambda row: (row[0], row[1]))  # image_id, seq, type, ...
    assert len({row[0] for row in rows}) <= 1
    return [tuple(row[1:5]) for row in rows]


@pytest.fixture
def rest(server: ServerProcess) -> Rest:
    return Rest(server)


# -- subscribe and ping -------------------------------------------------------------------------


def test_ping_answers_pong(server: ServerProcess) -> None:
    with live(server) as ws:
        ws.send('{"type":"ping"}')
        assert recv_text(ws) == '{"type":"pong"}'


def test_ping_answers_pong_after_subscribing(server: ServerProcess) -> None:
    with live(server) as ws:
        subscribe(ws, new_url_id())
        assert_next_is_pong(ws)


def test_subscribing_to_a_never_commented_image_answers_seq_0(server: ServerProcess) -> None:
    with live(server) as ws:
        assert subscribe(ws, new_url_id())["seq"] == 0


def test_subscribing_answers_the_images_current_seq(server: ServerProcess, rest: Rest) -> None:
    url_id = new_url_id()
    marker_id = ok(rest.create_marker(url_id))["marker"]["id"]
    ok(rest.reply(marker_id, "two"))
    with live(server) as ws:
        assert subscribe(ws, url_id)["seq"] == 2


def test_a_first_subscribe_answers_the_images_epoch_and_asks_for_a_snapshot(server: ServerProcess, rest: Rest) -> None:
    url_id = new_url_id()
    with live(server) as ws:
        answer = subscribe(ws, url_id)
    assert (answer["seq"], answer["epoch"], answer["resume"], answer["reason"]) == (0, None, False, "new")
    assert answer["heartbeat"] > 0
    ok(rest.create_marker(url_id))
    epoch = rest.snapshot(url_id).json()["epoch"]
    with live(server) as ws:
        answer = subscribe(ws, url_id)
    assert (answer["seq"], answer["epoch"], answer["resume"]) == (1, epoch, False)


def test_subscribed_frame_is_compact_json(server: ServerProcess) -> None:
    with live(server) as ws:
        send_subscribe(ws, new_url_id())
        frame = recv_text(ws)
    assert frame == json.dumps(json.loads(frame), separators=(",", ":"), ensure_ascii=False)


# -- events -------------------------------------------------------------------------------------


def test_rest_changes_arrive_in_seq_order_with_their_broadcast_id_and_match_the_event_log(
    fresh_server: ServerProcess,
) -> None:
    rest, url_id = Rest(fresh_server), new_url_id()
    bob = rest.sign_in("Bob")
    bids = [new_id("bcast") for _ in range(6)]
    with live(fresh_server) as ws:
        assert subscribe(ws, url_id)["seq"] == 0
        frames: list[str] = []

        def next_event() -> dict[str, Any]:
            frames.append(recv_text(ws))
            return json.loads(frames[-1])

        created = ok(rest.create_marker(url_id, "hello", broadcastId=bids[0]))
        marker = created["marker"]
        event = next_event()
        # The image's first event carries its epoch (for viewers that opened it before it existed).
        assert event == created == {"type": "new-image-chat", "seq": 1, "broadcastId": bids[0],
                                    "epoch": created["epoch"], "marker": marker}

        reply = ok(rest.reply(marker["id"], "a reply", headers=bob, broadcastId=bids[1]))
        event = next_event()
        assert event == reply and event["broadcastId"] == bids[1]  # the REST answer is the event
        assert (event["seq"], event["change"], event["comment"]["text"]) == (2, "comment-added", "a reply")

        edited = ok(rest.edit(reply["comment"]["id"], "edited", headers=bob, broadcastId=bids[2]))
        event = next_event()
        assert event == edited and event["broadcastId"] == bids[2]
        assert (event["seq"], event["change"], event["comment"]["text"]) == (3, "comment-edited", "edited")

        deleted = ok(rest.delete_comment(reply["comment"]["id"], headers=bob, broadcastId=bids[3]))
        event = next_event()
        assert event == deleted and event["broadcastId"] == bids[3]
        assert (event["seq"], event["change"], event["commentId"]) == (4, "comment-deleted", reply["comment"]["id"])

        ok(rest.delete_marker(marker["id"], broadcastId=bids[4]))
        event = next_event()
        assert event == {"type": "deleted-image-chat", "seq": 5, "broadcastId": bids[4], "markerId": marker["id"]}

        assert_next_is_pong(ws)

    assert stored_events(fresh_server) == [
        (1, "new-image-chat", bids[0], frames[0]),
        (2, "image-chat-updated", bids[1], frames[1]),
        (3, "image-chat-updated", bids[2], frames[2]),
        (4, "image-chat-updated", bids[3], frames[3]),
        (5, "deleted-image-chat", bids[4], frames[4]),
    ]


def test_deleting_a_threads_last_comment_broadcasts_deleted_image_chat(fresh_server: ServerProcess) -> None:
    rest, url_id, bid = Rest(fresh_server), new_url_id(), new_id("bcast")
    marker = ok(rest.create_marker(url_id))["marker"]
    with live(fresh_server) as ws:
        assert subscribe(ws, url_id)["seq"] == 1
        answer = ok(rest.delete_comment(marker["comments"][0]["id"], broadcastId=bid))
        frame = recv_text(ws)
    # The REST answer is the live event itself: its author applies it by the same path.
    assert answer == json.loads(frame) == {"type": "deleted-image-chat", "seq": 2, "broadcastId": bid, "markerId": marker["id"]}
    assert stored_events(fresh_server)[-1] == (2, "deleted-image-chat", bid, frame)


def test_an_event_without_broadcast_id_carries_null(fresh_server: ServerProcess) -> None:
    rest, url_id = Rest(fresh_server), new_url_id()
    with live(fresh_server) as ws:
        subscribe(ws, url_id)
        ok(rest.create_marker(url_id))
        frame = recv_text(ws)
    assert json.loads(frame)["broadcastId"] is None
    assert stored_events(fresh_server) == [(1, "new-image-chat", None, frame)]


def test_non_ascii_and_html_travel_verbatim_as_utf8(fresh_server: ServerProcess) -> None:
    rest, url_id = Rest(fresh_server), new_url_id()
    zoe = fresh_server.sign_in("Zoë 李")
    with live(fresh_server) as ws:
        subscribe(ws, url_id)
        ok(rest.create_marker(url_id, "<img src=x onerror=alert(1)> 再见", headers=zoe))
        frame = recv_text(ws)
    assert f'"author":{{"id":"{fresh_server.author_id(zoe)}","name":"Zoë 李"}}' in frame
    assert '"text":"<img src=x onerror=alert(1)> 再见"' in frame
    assert stored_events(fresh_server)[0][3] == frame


def test_two_subscribers_of_an_image_both_receive_each_event(server: ServerProcess, rest: Rest) -> None:
    url_id = new_url_id()
    with live(server) as first, live(server) as second:
        subscribe(first, url_id)
        subscribe(second, url_id)
        marker_id = ok(rest.create_marker(url_id))["marker"]["id"]
        assert recv_text(first) == recv_text(second)
        ok(rest.reply(marker_id, "both see this"))
        frame = recv_text(first)
        assert json.loads(frame)["comment"]["text"] == "both see this"
        assert recv_text(second) == frame
        assert_next_is_pong(first)
        assert_next_is_pong(second)


def test_a_subscriber_of_another_image_receives_nothing(server: ServerProcess, rest: Rest) -> None:
    watched, other = new_url_id(), new_url_id()
    with live(server) as watcher, live(server) as bystander:
        subscribe(watcher, watched)
        subscribe(bystander, other)
        marker_id = ok(rest.create_marker(watched))["marker"]["id"]
        ok(rest.reply(marker_id, "only for watchers"))
        assert json.loads(recv_text(watcher))["type"] == "new-image-chat"
        assert json.loads(recv_text(watcher))["type"] == "image-chat-updated"
        assert_next_is_pong(bystander)


def test_an_unsubscribed_connection_receives_no_events(server: ServerProcess, rest: Rest) -> None:
    url_id = new_url_id()
    with live(server) as idle, live(server) as watcher:
        subscribe(watcher, url_id)
        ok(rest.create_marker(url_id))
        recv_text(watcher)
        assert_next_is_pong(idle)


def test_a_subscriber_leaving_does_not_stop_events_for_the_others(server: ServerProcess, rest: Rest) -> None:
    url_id = new_url_id()
    with live(server) as staying:
        subscribe(staying, url_id)
        with live(server) as leaving:
            subscribe(leaving, url_id)
        ok(rest.create_marker(url_id))
        assert json.loads(recv_text(staying))["type"] == "new-image-chat"


def test_resubscribing_after_every_viewer_left_still_receives_events(server: ServerProcess, rest: Rest) -> None:
    url_id = new_url_id()
    with live(server) as ws:
        subscribe(ws, url_id)
    with live(server) as ws:
        subscribe(ws, url_id)
        ok(rest.create_marker(url_id))
        assert json.loads(recv_text(ws))["seq"] == 1


def test_new_image_chat_with_a_100_character_comment_is_under_1_kib(fresh_server: ServerProcess) -> None:
    rest, url_id = Rest(fresh_server), new_url_id()
    with live(fresh_server) as ws:
        subscribe(ws, url_id)
        ok(rest.create_marker(url_id, "c" * 100, broadcastId=new_id("bcast"), id=new_id("marker"),
                              commentId=new_id("comment")))
        frame = recv_text(ws)
    size = len(frame.encode("utf-8"))
    print(f"new-image-chat with a 100-character comment: {size} bytes on the wire")
    assert json.loads(frame)["type"] == "new-image-chat"
    assert size < 1024


# -- error frames: the connection stays usable --------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("{not json", "invalid_json"),
        ("", "invalid_json"),
        ("[1, 2]", "invalid_frame"),
        ('"ping"', "invalid_frame"),
        ("42", "invalid_frame"),
        ("null", "invalid_frame"),
        ("{}", "invalid_frame"),
        ('{"type": 7}', "invalid_frame"),
        ('{"type": "dance"}', "unknown_type"),
        ('{"type": "PING"}', "unknown_type"),
    ],
)
def test_bad_frame_answers_an_error_frame_and_the_connection_stays_usable(
    server: ServerProcess, frame: str, code: str
) -> None:
    with live(server) as ws:
        ws.send(frame)
        assert_error_frame(ws, code)
        assert_next_is_pong(ws)


def test_binary_frame_answers_invalid_frame(server: ServerProcess) -> None:
    with live(server) as ws:
        ws.send(b'{"type":"ping"}')
        assert_error_frame(ws, "invalid_frame")
        assert_next_is_pong(ws)


@pytest.mark.parametrize(
    "request_",
    [
        {"type": "subscribe"},
        {"type": "subscribe", "urlId": ""},
        {"type": "subscribe", "urlId": "   "},
        {"type": "subscribe", "urlId": None},
        {"type": "subscribe", "urlId": 42},
        {"type": "subscribe", "urlId": "u" * 513},
        {"type": "subscribe", "urlId": "img-\x00"},
    ],
    ids=["missing", "empty", "blank", "null", "number", "too-long", "control-char"],
)
def test_subscribe_with_a_bad_url_id_answers_invalid_field(server: ServerProcess, request_: dict[str, Any]) -> None:
    with live(server) as ws:
        ws.send(json.dumps(request_))
        assert assert_error_frame(ws, "invalid_field")["message"].startswith("urlId: ")
        assert_next_is_pong(ws)


# -- handshake: the tenant is in the path, the origin must be one it allows -------------------


def test_connecting_to_an_unknown_tenant_is_closed_with_4404(server: ServerProcess) -> None:
    url = server.ws_url.replace("/tenants/demo/live", "/tenants/nope/live")
    assert url != server.ws_url
    assert refusal(url, server.url) == (4404, "tenant_not_found")


def test_connecting_without_an_allowed_origin_is_closed_with_4403(server: ServerProcess, subtests: Any) -> None:
    origins = {
        "missing": None,
        "foreign": FOREIGN_ORIGIN,
        "opaque": "null",
        "same-port-other-host": server.url.replace("127.0.0.1", "localhost"),
    }
    for case, origin in origins.items():
        with subtests.test(case):
            assert refusal(server.ws_url, origin) == (4403, "origin_not_allowed")
    with live(server) as ws:  # the refusals left the server serving
        assert_next_is_pong(ws)


@pytest.mark.parametrize("tenant", ["nope", "", 7, None], ids=["unknown", "empty", "number", "null"])
def test_a_tenant_field_in_subscribe_is_ignored(server: ServerProcess, rest: Rest, tenant: Any) -> None:
    """The tenant is the one in the socket's path; a subscribe frame cannot name another."""
    url_id = new_url_id()
    with live(server) as ws:
        assert subscribe(ws, url_id, tenant=tenant)["seq"] == 0
        marker_id = ok(rest.create_marker(url_id))["marker"]["id"]
        event = json.loads(recv_text(ws))
        assert (event["type"], event["marker"]["id"]) == ("new-image-chat", marker_id)


# -- subscribe: an optional session token -------------------------------------------------------


def test_subscribing_with_a_valid_token_receives_events_as_without_one(server: ServerProcess, rest: Rest) -> None:
    url_id = new_url_id()
    with live(server) as signed_in, live(server) as anonymous:
        answer = subscribe(signed_in, url_id, token=rest.token())
        assert (answer["seq"], answer["resume"], answer["reason"]) == (0, False, "new")
        subscribe(anonymous, url_id)
        ok(rest.create_marker(url_id))
        frame = recv_text(signed_in)
        assert json.loads(frame)["type"] == "new-image-chat"
        assert recv_text(anonymous) == frame


@pytest.mark.parametrize(
    ("token", "code", "field"),
    [
        ("garbage", "invalid_token", None),
        ("v1.e30.AAAA", "invalid_token", None),
        (7, "invalid_field", "token"),
        (["v1.e30.AAAA"], "invalid_field", "token"),
    ],
    ids=["garbage", "forged", "number", "list"],
)
def test_subscribe_with_a_bad_token_answers_an_error_frame(
    server: ServerProcess, token: Any, code: str, field: str | None
) -> None:
    with live(server) as ws:
        send_subscribe(ws, new_url_id(), token=token)
        frame = assert_error_frame(ws, code)
        if field is not None:
            assert frame["message"].startswith(f"{field}: "), frame
        assert_next_is_pong(ws)


def test_subscribe_with_a_tampered_token_answers_invalid_token(server: ServerProcess, rest: Rest) -> None:
    bob = rest.sign_in("Bob")
    version, _, signature = rest.token().split(".")
    _, bob_claims, _ = rest.token(bob).split(".")
    for token in [rest.token() + "x", f"{version}.{bob_claims}.{signature}"]:
        with live(server) as ws:
            send_subscribe(ws, new_url_id(), token=token)
            assert_error_frame(ws, "invalid_token")
            assert_next_is_pong(ws)


def test_subscribe_with_a_non_ascii_token_signature_answers_invalid_token(server: ServerProcess, rest: Rest) -> None:
    forged = rest.token().rsplit(".", 1)[0] + ".é"
    with live(server) as ws:
        send_subscribe(ws, new_url_id(), token=forged)
        assert_error_frame(ws, "invalid_token")
        assert_next_is_pong(ws)


def test_a_failed_subscribe_leaves_the_connection_free_to_subscribe(server: ServerProcess, rest: Rest) -> None:
    url_id = new_url_id()
    with live(server) as ws:
        send_subscribe(ws, "")
        assert_error_frame(ws, "invalid_field")
        send_subscribe(ws, url_id, token="garbage")
        assert_error_frame(ws, "invalid_token")
        assert subscribe(ws, url_id, token=rest.token())["seq"] == 0
        ok(rest.create_marker(url_id))
        assert json.loads(recv_text(ws))["type"] == "new-image-chat"


def test_a_second_subscribe_answers_already_subscribed_and_keeps_the_first(server: ServerProcess, rest: Rest) -> None:
    first, second = new_url_id(), new_url_id()
    with live(server) as ws:
        subscribe(ws, first)
        send_subscribe(ws, second)
        assert_error_frame(ws, "already_subscribed")
        assert_next_is_pong(ws)
        ok(rest.create_marker(second))
        marker_id = ok(rest.create_marker(first))["marker"]["id"]
        event = json.loads(recv_text(ws))
        assert (event["type"], event["marker"]["id"]) == ("new-image-chat", marker_id)
        assert_next_is_pong(ws)


def test_a_second_subscribe_to_the_same_image_answers_already_subscribed(server: ServerProcess) -> None:
    url_id = new_url_id()
    with live(server) as ws:
        subscribe(ws, url_id)
        send_subscribe(ws, url_id)
        assert_error_frame(ws, "already_subscribed")
        assert_next_is_pong(ws)


def test_deeply_nested_frame_answers_an_error_frame(server: ServerProcess) -> None:
    with live(server) as ws:
        ws.send("[" * 2000 + "]" * 2000)
        assert_error_frame(ws, "invalid_json")
        assert_next_is_pong(ws)


def test_subscribe_with_a_lone_surrogate_url_id_answers_an_error_frame(server: ServerProcess) -> None:
    with live(server) as ws:
        ws.send('{"type":"subscribe","urlId":"img-\\ud800"}')
        assert_error_frame(ws, "invalid_field")
        assert_next_is_pong(ws)


# -- frame size ---------------------------------------------------------------------------------


def padded_ping(size: int) -> str:
    frame = json.dumps({"type": "ping", "pad": ""})
    frame = json.dumps({"type": "ping", "pad": "x" * (size - len(frame))})
    assert len(frame.encode()) == size
    return frame


def test_a_frame_of_exactly_4_kib_is_accepted(server: ServerProcess) -> None:
    with live(server) as ws:
        ws.send(padded_ping(MAX_FRAME_BYTES))
        assert recv_event(ws) == {"type": "pong"}


def test_a_frame_over_4_kib_closes_the_connection_with_1009(server: ServerProcess) -> None:
    with live(server) as ws:
        ws.send(padded_ping(MAX_FRAME_BYTES + 1))
        with pytest.raises(ConnectionClosed) as closed:
            recv_text(ws)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1009


def test_after_an_oversized_frame_the_server_keeps_serving_others(server: ServerProcess, rest: Rest) -> None:
    url_id = new_url_id()
    with live(server) as bystander:
        subscribe(bystander, url_id)
        with live(server) as offender:
            offender.send("x" * (MAX_FRAME_BYTES * 4))
            with pytest.raises(ConnectionClosed):
                recv_text(offender)
        assert_next_is_pong(bystander)
        with live(server) as newcomer:
            assert_next_is_pong(newcomer)
            subscribe(newcomer, url_id)
            ok(rest.create_marker(url_id))
            assert recv_text(newcomer) == recv_text(bystander)


# -- compression ----------------------------------------------------------------------------------


def test_compression_is_declined_by_default(server: ServerProcess, rest: Rest) -> None:
    url_id = new_url_id()
    with live(server) as ws:  # the client offers permessage-deflate, as browsers do
        assert ws.protocol.extensions == []
        subscribe(ws, url_id)
        ok(rest.create_marker(url_id, "plain"))
        assert recv_event(ws)["type"] == "new-image-chat"


def test_with_ws_deflate_clients_that_offer_it_get_compressed_frames_and_others_plain_ones(server_with) -> None:
    server = server_with("--ws-deflate")
    url_id = new_url_id()
    with live(server) as compressed, live(server, compression=None) as plain:
        assert [extension.name for extension in compressed.protocol.extensions] == ["permessage-deflate"]
        assert plain.protocol.extensions == []
        subscribe(compressed, url_id)
        subscribe(plain, url_id)
        ok(Rest(server).create_marker(url_id, "the same words, squeezed or not"))
        frame = recv_text(compressed)
        assert json.loads(frame)["type"] == "new-image-chat" and recv_text(plain) == frame
        assert_next_is_pong(compressed)
