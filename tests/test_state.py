"""The widget's state logic, on CPython: applying events, repeats, disorder, echoes, rollback."""

from __future__ import annotations

import copy

from hypothesis import given, settings
from hypothesis import strategies as st

from imagechat_widget.state import ImageState, answer_type, apply_change


def comment(comment_id, text="hi", author="ada", stamp=1):
    return {"id": comment_id, "author": {"id": author, "name": author.title()}, "text": text,
            "createdAt": stamp, "updatedAt": stamp}


def marker(marker_id, *comments, author="ada", stamp=1):
    return {"id": marker_id, "x": 0.5, "y": 0.25, "author": {"id": author, "name": author.title()},
            "createdAt": stamp, "comments": list(comments)}


def created(seq, m, broadcast_id=None):
    return {"type": "new-image-chat", "seq": seq, "broadcastId": broadcast_id, "marker": m}


def updated(seq, marker_id, change, broadcast_id=None, **data):
    return {"type": "image-chat-updated", "seq": seq, "broadcastId": broadcast_id,
            "markerId": marker_id, "change": change, **data}


def deleted(seq, marker_id, broadcast_id=None):
    return {"type": "deleted-image-chat", "seq": seq, "broadcastId": broadcast_id, "markerId": marker_id}


def loaded(seq=0, markers=()):
    state = ImageState()
    state.load_snapshot({"seq": seq, "epoch": "e1", "markers": list(markers)})
    return state


# A server history: each event and the markers it leaves behind.
HISTORY = [
    created(1, marker("m1", comment("c1", "first"))),
    updated(2, "m1", "comment-added", comment=comment("c2", "reply", author="bob", stamp=2)),
    created(3, marker("m2", comment("c3", "other"), stamp=3)),
    updated(4, "m1", "comment-edited", comment={**comment("c1", "first, edited"), "updatedAt": 4}),
    updated(5, "m1", "comment-deleted", commentId="c2"),
    deleted(6, "m2"),
]


def server_state_after(count):
    markers = {}
    for event in HISTORY[:count]:
        apply_change(markers, event)
    return markers


def test_each_event_type_applies():
    state = loaded()
    assert state.receive(HISTORY[0])
    assert [m["id"] for m in state.ordered_markers()] == ["m1"]
    state.receive(HISTORY[1])
    assert [c["text"] for c in state.marker("m1")["comments"]] == ["first", "reply"]
    state.receive(HISTORY[2])
    state.receive(HISTORY[3])
    assert state.marker("m1")["comments"][0]["text"] == "first, edited"
    state.receive(HISTORY[4])
    assert [c["id"] for c in state.marker("m1")["comments"]] == ["c1"]
    state.receive(HISTORY[5])
    assert list(state.view()) == ["m1"]
    assert state.seq == 6


def test_apply_change_is_idempotent():
    once, twice = {}, {}
    for event in HISTORY:
        apply_change(once, event)
        apply_change(twice, event)
        apply_change(twice, event)
    assert once == twice


def test_repeated_delivery_is_dropped():
    state = loaded()
    state.receive(HISTORY[0])
    state.receive(HISTORY[1])
    assert not state.receive(HISTORY[0])
    assert not state.receive(HISTORY[1])
    assert len(state.marker("m1")["comments"]) == 2


def test_out_of_order_delivery_waits_for_the_gap():
    state = loaded()
    assert not state.receive(HISTORY[2])  # seq 3 before 1 and 2
    assert state.has_gap and state.view() == {}
    state.receive(HISTORY[0])
    assert state.has_gap
    state.receive(HISTORY[1])
    assert not state.has_gap
    assert state.seq == 3 and set(state.view()) == {"m1", "m2"}


def test_events_before_the_snapshot_are_kept_or_dropped_by_seq():
    state = ImageState()
    state.receive(HISTORY[0])
    state.receive(HISTORY[1])
    state.load_snapshot({"seq": 1, "epoch": "e1", "markers": [HISTORY[0]["marker"]]})
    assert state.seq == 2
    assert state.view() == server_state_after(2)


def test_a_stale_snapshot_never_rolls_back_newer_state():
    state = loaded()
    for event in HISTORY[:3]:
        state.receive(event)
    assert not state.load_snapshot({"seq": 1, "epoch": "e1", "markers": [HISTORY[0]["marker"]]})
    assert state.view() == server_state_after(3)


def test_own_change_shows_at_once_and_its_echo_is_ignored():
    state = loaded()
    mine = marker("m1", comment("c1", "mine"))
    state.propose("b-1", created(None, mine, "b-1"), 0)
    assert list(state.view()) == ["m1"]
    before = copy.deepcopy(state.view())
    assert state.is_own("b-1")
    state.receive(created(1, mine, "b-1"))  # the echo
    assert state.view() == before and len(state.view()) == 1
    assert not state.is_own("b-1") and state.seq == 1
    state.accepted("b-1", 1)  # the REST answer, after the echo
    assert state.pending == {} and state.view() == before


def test_others_change_between_own_change_and_its_echo():
    state = loaded()
    state.propose("b-1", created(None, marker("m1", comment("c1")), "b-1"), 0)
    state.accepted("b-1", 2)
    state.receive(created(1, marker("m0", comment("c0"), author="bob", stamp=0), "b-other"))
    assert set(state.view()) == {"m0", "m1"}
    state.receive(created(2, marker("m1", comment("c1")), "b-1"))
    assert set(state.view()) == {"m0", "m1"} and state.pending == {}


def test_refused_change_is_rolled_back():
    state = loaded(1, [marker("m1", comment("c1", "original"))])
    state.propose("b-1", updated(None, "m1", "comment-edited", "b-1", comment=comment("c1", "changed")), 0)
    assert state.marker("m1")["comments"][0]["text"] == "changed"
    state.rejected("b-1")
    assert state.marker("m1")["comments"][0]["text"] == "original"


def test_snapshot_keeps_own_changes_it_does_not_include_yet():
    state = loaded()
    state.propose("b-1", created(None, marker("m1", comment("c1")), "b-1"), 0)
    state.load_snapshot({"seq": 0, "epoch": "e1", "markers": []})
    assert list(state.view()) == ["m1"]
    state.accepted("b-1", 1)
    # A snapshot at or after the change's seq holds it, or what others did to it since.
    state.load_snapshot({"seq": 1, "epoch": "e1", "markers": []})
    assert state.pending == {} and state.view() == {}


deliveries = st.lists(st.integers(min_value=0, max_value=len(HISTORY) - 1), max_size=20)


@settings(max_examples=300, deadline=None)
@given(
    order=st.permutations(range(len(HISTORY))),
    repeats=deliveries,
    snapshot_at=st.one_of(st.none(), st.integers(min_value=0, max_value=len(HISTORY))),
)
def test_any_order_and_repetition_converges_to_the_server_state(order, repeats, snapshot_at):
    state = ImageState()
    if snapshot_at is not None:
        state.load_snapshot({"seq": snapshot_at, "epoch": "e1",
                             "markers": list(server_state_after(snapshot_at).values())})
    for index in list(order) + list(repeats):
        state.receive(HISTORY[index])
    if snapshot_at is None:
        state.load_snapshot({"seq": 0, "epoch": "e1", "markers": []})
    assert state.view() == server_state_after(len(HISTORY))
    assert state.seq == len(HISTORY) and not state.has_gap


# Own changes among the server's history: history index -> the broadcastId this client sent.
OWN = {0: "own-create", 3: "own-edit"}
operations = st.lists(
    st.one_of(
        st.tuples(st.just("deliver"), st.integers(min_value=0, max_value=len(HISTORY) - 1)),
        st.tuples(st.just("snapshot"), st.integers(min_value=0, max_value=len(HISTORY))),
        st.tuples(st.just("accept"), st.sampled_from(sorted(OWN))),
    ),
    max_size=40,
)


def own(index):
    event = dict(HISTORY[index])
    event["broadcastId"] = OWN[index]
    return event


@settings(max_examples=400, deadline=None)
@given(ops=operations)
def test_deliveries_snapshots_and_echoes_in_any_order_converge(ops):
    """Whatever arrives when (events repeated or out of order, stale snapshots, REST answers
    before or after echoes), once everything has arrived the client shows the server's state."""
    state = ImageState()
    for index in OWN:  # shown at once, before the server has them
        proposal = own(index)
        proposal["seq"] = None
        state.propose(OWN[index], proposal, now_ms=0)
    for op, value in ops:
        if op == "deliver":
            state.receive(own(value) if value in OWN else HISTORY[value])
        elif op == "snapshot":
            state.load_snapshot({"seq": value, "epoch": "e1", "markers": list(server_state_after(value).values())})
        else:
            state.accepted(OWN[value], value + 1)
    # Eventually: the snapshot of a first connection, every event, every REST answer.
    state.load_snapshot({"seq": 0, "epoch": "e1", "markers": []})
    for index in range(len(HISTORY)):
        state.receive(own(index) if index in OWN else HISTORY[index])
    for index in OWN:
        state.accepted(OWN[index], index + 1)
    assert state.view() == server_state_after(len(HISTORY))
    assert state.pending == {} and state.seq == len(HISTORY)


def test_pending_changes_are_bounded_in_number_and_age():
    from imagechat_widget.state import MAX_PENDING, PENDING_MAX_AGE_MS

    state = loaded()
    for n in range(MAX_PENDING + 5):
        state.propose(f"b-{n}", created(None, marker(f"m{n}", comment(f"c{n}"))), now_ms=n)
    assert len(state.pending) == MAX_PENDING and "b-0" not in state.pending and f"b-{MAX_PENDING + 4}" in state.pending
    assert state.expire(now_ms=MAX_PENDING + 4 + PENDING_MAX_AGE_MS + 1)
    assert state.pending == {} and state.view() == {}


def test_a_repeated_echo_settles_a_pending_change_the_snapshot_already_holds():
    state = loaded()
    mine = marker("m1", comment("c1"))
    state.propose("b-1", created(None, mine, "b-1"), 0)
    state.load_snapshot({"seq": 1, "epoch": "e1", "markers": [mine]})  # holds it; the answer is still on its way
    state.receive(created(1, mine, "b-1"))
    assert state.pending == {}


def test_forget_lets_an_older_history_replace_everything():
    state = loaded(5, [marker("m1", comment("c1"))])
    assert not state.load_snapshot({"seq": 2, "epoch": "e1", "markers": []})
    state.forget()
    assert state.load_snapshot({"seq": 2, "epoch": "e1", "markers": []})
    assert state.view() == {} and state.seq == 2


def test_a_snapshot_of_another_epoch_replaces_newer_state():
    state = loaded(5, [marker("m1", comment("c1"))])
    state.receive(created(7, marker("m2", comment("c2"))))  # held, after a gap
    assert state.load_snapshot({"seq": 2, "epoch": "e2", "markers": []})
    assert state.view() == {} and state.seq == 2 and not state.has_gap


def test_the_server_answer_decides_the_event_type():
    """A deletes what it sees as the thread's only comment while B's reply is on its way: the
    server answers comment-deleted, and A must not drop the marker with B's reply."""
    assert answer_type({"seq": 1, "marker": {}}) == "new-image-chat"
    assert answer_type({"seq": 2, "markerId": "m", "change": "comment-deleted", "commentId": "c1"}) == "image-chat-updated"
    assert answer_type({"seq": 3, "markerId": "m"}) == "deleted-image-chat"
    state = loaded(1, [marker("m", comment("c1"))])
    state.propose("b-1", deleted(None, "m", "b-1"), 0)  # A's guess
    state.receive(updated(2, "m", "comment-added", comment=comment("c2", author="bob")))
    answer = {"seq": 3, "markerId": "m", "change": "comment-deleted", "commentId": "c1"}
    state.receive({**answer, "type": answer_type(answer), "broadcastId": "b-1"})
    assert [c["id"] for c in state.marker("m")["comments"]] == ["c2"]
