"""Resuming after a reconnect, against a real server: replay from the event log, retention,
epochs, and bad resume requests."""

from __future__ import annotations

import json
import sqlite3
from uuid import uuid4

from imagechat import protocol
from tests.live import frames_until_pong, live, recv_event, subscribe, subscribe_answer
from tests.rest import Rest


def make_changes(server, url_id: str, count: int) -> list[int]:
    seqs = []
    with Rest(server, "Ada") as author:
        for n in range(count):
            answer = author.create_marker(url_id, f"change {n}")
            assert answer.status_code == 201, answer.text
            seqs.append(answer.json()["seq"])
    return seqs


def events_until_pong(ws) -> list[dict]:
    """Every event queued before a pong (frames on one socket keep their order), batches opened."""
    events = []
    for frame in map(json.loads, frames_until_pong(ws)):
        events += frame["events"] if frame["type"] == protocol.BATCH else [frame]
    return events


def test_subscribe_without_position_asks_for_a_snapshot(server):
    url_id = f"img-{uuid4().hex}"
    make_changes(server, url_id, 2)
    with live(server) as ws:
        ack = subscribe(ws, url_id)
        assert ack["type"] == "subscribed" and ack["seq"] == 2 and ack["resume"] is False
        assert ack["reason"] == "new" and ack["heartbeat"] > 0 and isinstance(ack["epoch"], str) and ack["epoch"]
        assert events_until_pong(ws) == []


def test_resume_replays_exactly_the_missed_events_in_order(server):
    url_id = f"img-{uuid4().hex}"
    make_changes(server, url_id, 2)
    with live(server) as ws:
        epoch = subscribe(ws, url_id)["epoch"]
    make_changes(server, url_id, 3)  # missed while away
    with live(server) as ws:
        ack = subscribe(ws, url_id, since=2, epoch=epoch)
        assert ack["resume"] is True and ack["seq"] == 5
        assert [frame["seq"] for frame in events_until_pong(ws)] == [3, 4, 5]
        make_changes(server, url_id, 1)  # and live again afterwards
        assert json.loads(ws.recv(timeout=5))["seq"] == 6


def test_resume_when_nothing_was_missed_sends_nothing(server):
    url_id = f"img-{uuid4().hex}"
    make_changes(server, url_id, 1)
    with live(server) as ws:
        epoch = subscribe(ws, url_id)["epoch"]
        ack = None
    with live(server) as ws:
        ack = subscribe(ws, url_id, since=1, epoch=epoch)
        assert ack["resume"] is True and events_until_pong(ws) == []


def test_resume_beyond_the_replay_limit_asks_for_a_snapshot(server_with):
    server = server_with("--replay-limit", "3")
    url_id = f"img-{uuid4().hex}"
    make_changes(server, url_id, 1)
    with live(server) as ws:
        epoch = subscribe(ws, url_id)["epoch"]
    make_changes(server, url_id, 4)
    with live(server) as ws:
        ack = subscribe(ws, url_id, since=1, epoch=epoch)
        assert ack["resume"] is False and ack["reason"] == "too_old" and ack["seq"] == 5
        assert events_until_pong(ws) == []
        # A gap on the live connection that the log cannot fill gets the same answer.
        ws.send(json.dumps({"type": "resume", "since": 0}))
        assert json.loads(ws.recv(timeout=5)) == {"type": "reload", "reason": "too_old"}


def test_another_epoch_asks_for_a_snapshot(fresh_server):
    url_id = f"img-{uuid4().hex}"
    make_changes(fresh_server, url_id, 2)
    with live(fresh_server) as ws:
        epoch = subscribe(ws, url_id)["epoch"]
    # The history is lost and rebuilt (a backup restored, say) and the operator rotates epochs.
    with sqlite3.connect(fresh_server.db_path) as db:
        db.execute("UPDATE images SET epoch = 'restored-history-epoch-0000000000'")
    with live(fresh_server) as ws:
        ack = subscribe(ws, url_id, since=2, epoch=epoch)
        assert ack["resume"] is False and ack["reason"] == "epoch"
        assert ack["epoch"] == "restored-history-epoch-0000000000"


def test_gap_on_a_live_connection_is_filled_by_resume(server):
    url_id = f"img-{uuid4().hex}"
    make_changes(server, url_id, 1)
    with live(server) as ws:
        subscribe(ws, url_id)
        make_changes(server, url_id, 3)
        arrived = []
        while len(arrived) < 3:  # live, one by one or batched (the changes come quickly one after another)
            frame = recv_event(ws)
            arrived += [event["seq"] for event in (frame["events"] if frame["type"] == protocol.BATCH else [frame])]
        assert arrived == [2, 3, 4]
        ws.send(json.dumps({"type": "resume", "since": 2}))  # as if 3 and 4 had been lost
        assert [frame["seq"] for frame in events_until_pong(ws)] == [3, 4]


def test_bad_resume_requests_get_error_frames_and_the_connection_stays_usable(server):
    url_id = f"img-{uuid4().hex}"
    make_changes(server, url_id, 2)
    with live(server) as ws:
        epoch = subscribe(ws, url_id)["epoch"]
    with live(server) as ws:
        for bad, code in [
            ({"since": 99, "epoch": epoch}, "seq_from_future"),
            ({"since": -1}, "invalid_field"),
            ({"since": "7"}, "invalid_field"),
            ({"since": True}, "invalid_field"),
            ({"since": 1, "epoch": 12}, "invalid_field"),
        ]:
            answer = subscribe_answer(ws, url_id, **bad)
            assert (answer["type"], answer["error"]) == ("error", code), answer
        ws.send(json.dumps({"type": "resume", "since": 1}))
        assert json.loads(ws.recv(timeout=5))["error"] == "not_subscribed"
        ack = subscribe(ws, url_id)  # still usable: a proper subscribe works
        assert ack["type"] == "subscribed"
        ws.send(json.dumps({"type": "resume", "since": 50}))
        assert json.loads(ws.recv(timeout=5))["error"] == "seq_from_future"
        ws.send(json.dumps({"type": "resume"}))
        assert json.loads(ws.recv(timeout=5))["error"] == "invalid_field"


def test_resume_of_an_unknown_image_from_a_seq_is_refused(server):
    with live(server) as ws:
        answer = subscribe_answer(ws, f"never-seen-{uuid4().hex}", since=5, epoch=None)
        assert answer["error"] == "seq_from_future"
        answer = subscribe(ws, "whatever", since=0, epoch=None)
        assert answer["type"] == "subscribed" and answer["resume"] is True


def test_a_client_that_saw_the_image_empty_gets_its_whole_history_replayed(server):
    """It never learnt an epoch (there was none yet), but at seq 0 it has nothing to contradict."""
    url_id = f"img-{uuid4().hex}"
    make_changes(server, url_id, 3)
    with live(server) as ws:
        ack = subscribe(ws, url_id, since=0, epoch=None)
        assert ack["resume"] is True and ack["seq"] == 3 and "reason" not in ack
        assert [frame["seq"] for frame in events_until_pong(ws)] == [1, 2, 3]


def test_heartbeats_arrive_on_the_configured_interval(server_with):
    server = server_with("--heartbeat-seconds", "0.2")
    with live(server) as ws:
        subscribe(ws, "heartbeat-image")
        assert json.loads(ws.recv(timeout=3)) == {"type": "heartbeat"}
        assert json.loads(ws.recv(timeout=3)) == {"type": "heartbeat"}


def test_a_long_replay_comes_in_batches_and_fits_the_socket(server_with):
    server = server_with("--ip-requests-per-minute", "100000", "--user-changes-per-minute", "100000")
    url_id = f"img-{uuid4().hex}"
    make_changes(server, url_id, 1)
    with live(server) as ws:
        epoch = subscribe(ws, url_id)["epoch"]
    make_changes(server, url_id, 300)  # more than one page of the log: the replay goes on page by page
    with live(server) as ws:
        assert subscribe(ws, url_id, since=1, epoch=epoch)["resume"] is True
        assert [frame["seq"] for frame in events_until_pong(ws)] == list(range(2, 302))
