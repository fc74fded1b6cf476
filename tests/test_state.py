"""The widget's state logic, on CPython: applying events, repeats, disorder, echoes, rollback."""

from __future__ import annotations

import copy

from hypothesis import given, settings
from hypothesis import strategies as st

from imagechat_widget.state import ImageState, apply_event


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
        apply_event(markers, event)
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


def test_apply_event_is_idempotent():
    once, twice = {}, {}
    for event in HISTORY:
        apply_event(once, event)
        apply_event(twice, event)
        apply_event(twice, event)
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


def test_the_servers_event_decides_what_an_own_change_did():
    """A deletes what it sees as the thread's only comment while B's reply is on its way: the
    server's answer (the committed event) is comment-deleted, and A must not drop the marker."""
    state = loaded(1, [marker("m", comment("c1"))])
    state.propose("b-1", deleted(None, "m", "b-1"), 0)  # A's guess
    state.receive(updated(2, "m", "comment-added", comment=comment("c2", author="bob")))
    state.receive(updated(3, "m", "comment-deleted", "b-1", commentId="c1"))  # the REST answer
    assert [c["id"] for c in state.marker("m")["comments"]] == ["c2"]


# -- epochs: an image first seen empty learns its epoch -------------------------------------------


def test_an_image_seen_empty_learns_its_epoch_from_the_first_event():
    state = ImageState()
    state.load_snapshot({"seq": 0, "epoch": None, "markers": []})
    state.receive({**created(1, marker("m1", comment("c1"))), "epoch": "e1"})
    assert state.epoch == "e1"
    state.receive(updated(2, "m1", "comment-added", comment=comment("c2")))  # later events carry none
    assert state.epoch == "e1" and state.seq == 2


def test_the_epoch_is_learned_from_the_echo_of_an_own_first_change_applied_from_its_answer():
    state = ImageState()
    state.load_snapshot({"seq": 0, "epoch": None, "markers": []})
    mine = marker("m1", comment("c1"))
    state.propose("b-1", created(None, mine, "b-1"), 0)
    state.accepted("b-1", 1)
    state.receive(created(1, mine, "b-1"))  # the REST answer: no epoch in it
    assert state.epoch is None
    state.receive({**created(1, mine, "b-1"), "epoch": "e1"})  # the echo, a repeat
    assert state.epoch == "e1"


def test_an_epoch_known_already_is_not_replaced_by_an_event():
    state = loaded(0)  # epoch e1
    state.receive({**created(1, marker("m1", comment("c1"))), "epoch": "other"})
    assert state.epoch == "e1"


def test_the_subscribe_answer_gives_the_epoch_only_when_its_seq_agrees():
    state = ImageState()
    state.load_snapshot({"seq": 0, "epoch": None, "markers": []})
    state.receive(created(1, marker("m1", comment("c1"))))  # an older server: no epoch on events
    assert not state.adopt_epoch(3, "e1")  # the server is further: what happened meanwhile?
    assert state.epoch is None
    assert state.adopt_epoch(1, "e1")
    assert state.epoch == "e1"
    assert not state.adopt_epoch(1, "e2")  # known already


def test_a_snapshot_of_an_image_without_history_never_rolls_back_one():
    state = ImageState()
    state.load_snapshot({"seq": 0, "epoch": None, "markers": []})
    state.receive({**created(1, marker("m1", comment("c1"))), "epoch": "e1"})
    assert not state.load_snapshot({"seq": 0, "epoch": None, "markers": []})  # a slow answer
    assert list(state.view()) == ["m1"]


# -- what is not confirmed yet --------------------------------------------------------------------


def test_unconfirmed_ids_name_pending_markers_and_comments():
    state = loaded(1, [marker("m1", comment("c1"))])
    state.propose("b-1", created(None, marker("m2", comment("c2")), "b-1"), 0)
    state.propose("b-2", updated(None, "m1", "comment-added", "b-2", comment=comment("c3")), 0)
    state.propose("b-3", updated(None, "m1", "comment-edited", "b-3", comment=comment("c1", "changed")), 0)
    assert state.unconfirmed_ids() == {"m2", "c2", "c3", "c1"}
    state.accepted("b-1", 2)
    state.receive(created(2, marker("m2", comment("c2")), "b-1"))
    state.rejected("b-2")
    assert state.unconfirmed_ids() == {"c1"}


# -- threads loaded in parts -----------------------------------------------------------------------

from imagechat_widget.state import MAX_COMMENT_PAGES, CommentWalk, comment_count, is_partial  # noqa: E402


def partial(m, count):
    """A marker as a bounded snapshot gives it: its first comment and the thread's total."""
    return {**m, "comments": m["comments"][:1], "commentCount": count}


def long_marker(marker_id, count):
    return marker(marker_id, *[comment(f"{marker_id}-c{n:03}", f"comment {n}", stamp=n) for n in range(count)])


def page_of(m, after, size, seq):
    """The server's answer for the comments of `m` after the comment `after`."""
    comments = m["comments"]
    start = 0 if after is None else [c["id"] for c in comments].index(after) + 1
    chunk = comments[start:start + size]
    more = start + size < len(comments)
    return {"markerId": m["id"], "seq": seq, "comments": chunk, "next": chunk[-1]["id"] if more else None}


def test_an_older_snapshot_without_comment_count_holds_whole_threads():
    state = loaded(1, [marker("m1", comment("c1"), comment("c2"))])
    assert not state.needs_comments("m1") and comment_count(state.marker("m1")) == 2


def test_a_partial_thread_shows_its_count_and_live_changes_keep_it_right():
    state = loaded(10, [partial(long_marker("m1", 5), 5)])
    assert state.needs_comments("m1") and comment_count(state.marker("m1")) == 5
    state.receive(updated(11, "m1", "comment-added", comment=comment("new", stamp=99)))
    assert comment_count(state.marker("m1")) == 6
    state.receive(updated(12, "m1", "comment-deleted", commentId="m1-c003"))  # not loaded
    assert comment_count(state.marker("m1")) == 5
    state.receive(updated(13, "m1", "comment-deleted", commentId="m1-c000"))  # loaded
    assert comment_count(state.marker("m1")) == 4
    state.receive(updated(14, "m1", "comment-edited", comment=comment("m1-c002", "edited", stamp=2)))
    assert comment_count(state.marker("m1")) == 4
    assert [c["id"] for c in state.marker("m1")["comments"]] == ["new"]


def test_deleting_a_comment_twice_counts_once():
    markers = {"m1": partial(long_marker("m1", 5), 5)}
    gone = updated(11, "m1", "comment-deleted", commentId="m1-c003")
    apply_event(markers, gone)
    apply_event(markers, gone)
    assert comment_count(markers["m1"]) == 4


def test_a_walk_loads_every_page_and_the_thread_becomes_whole():
    whole = long_marker("m1", 250)
    state = loaded(7, [partial(whole, 250)])
    walk = CommentWalk(state, "m1")
    fetched = 0
    while not walk.finished:
        assert walk.take(page_of(whole, walk.cursor, 100, 7))
        fetched += 1
    assert fetched == 3 and not is_partial(state.marker("m1"))
    assert state.marker("m1") == whole


def test_a_page_older_than_the_applied_seq_is_fetched_again():
    whole = long_marker("m1", 3)
    state = loaded(7, [partial(whole, 3)])
    walk = CommentWalk(state, "m1")
    state.receive(updated(8, "m1", "comment-deleted", commentId="m1-c001"))
    assert not walk.take(page_of(whole, None, 100, 7))  # read before the deletion: it would bring it back
    assert walk.cursor is None and not walk.finished
    after = {**whole, "comments": [c for c in whole["comments"] if c["id"] != "m1-c001"]}
    assert walk.take(page_of(after, None, 100, 8))
    assert walk.finished and state.marker("m1") == after


def test_a_page_newer_than_the_applied_seq_merges_and_the_events_then_change_nothing_twice():
    whole = long_marker("m1", 3)
    state = loaded(7, [partial(whole, 3)])
    newer = {**whole, "comments": whole["comments"] + [comment("late", stamp=50)]}
    walk = CommentWalk(state, "m1")
    assert walk.take(page_of(newer, None, 100, 8))  # holds seq 8's comment, not applied yet
    state.receive(updated(8, "m1", "comment-added", comment=comment("late", stamp=50)))
    assert state.marker("m1") == newer and comment_count(state.marker("m1")) == 4


def test_a_snapshot_during_a_walk_starts_it_over():
    whole = long_marker("m1", 250)
    state = loaded(7, [partial(whole, 250)])
    walk = CommentWalk(state, "m1")
    assert walk.take(page_of(whole, None, 100, 7))
    state.forget()
    state.load_snapshot({"seq": 7, "epoch": "e1", "markers": [partial(whole, 250)]})
    assert not walk.take(page_of(whole, walk.cursor, 100, 7))
    assert walk.cursor is None
    while not walk.finished:
        walk.take(page_of(whole, walk.cursor, 100, 7))
    assert state.marker("m1") == whole


def test_walks_are_bounded():
    whole = long_marker("m1", 30)
    state = loaded(7, [partial(whole, 30)])
    walk = CommentWalk(state, "m1")
    for _ in range(MAX_COMMENT_PAGES):
        walk.take(page_of(whole, walk.cursor, 2, 7))
    assert walk.finished and is_partial(state.marker("m1"))  # given up, for a later opening
    stale = CommentWalk(state, "m1")
    state.receive(updated(8, "m1", "comment-edited", comment=comment("m1-c000", "x", stamp=0)))
    takes = 0
    while not stale.finished:
        stale.take(page_of(whole, stale.cursor, 2, 7))
        takes += 1
    assert takes <= 4 and is_partial(state.marker("m1"))


# A thread's server history for the property test below: the marker, then replies, edits and
# deletions, so that its pages shift while a walk loads them.
THREAD = [created(1, marker("t", comment("t0", "first", stamp=1)))]
for _n in range(1, 9):
    THREAD.append(updated(len(THREAD) + 1, "t", "comment-added", comment=comment(f"t{_n}", f"reply {_n}", stamp=_n + 1)))
THREAD += [
    updated(len(THREAD) + 1, "t", "comment-deleted", commentId="t3"),
    updated(len(THREAD) + 2, "t", "comment-edited", comment={**comment("t5", "edited", stamp=6), "updatedAt": 50}),
    updated(len(THREAD) + 3, "t", "comment-added", comment=comment("t9", "late", stamp=60)),
    updated(len(THREAD) + 4, "t", "comment-deleted", commentId="t0"),
    updated(len(THREAD) + 5, "t", "comment-deleted", commentId="t7"),
]


def thread_after(count):
    markers = {}
    for event in THREAD[:count]:
        apply_event(markers, event)
    return markers


CREATED_AT = {c["id"]: c["createdAt"] for c in THREAD[0]["marker"]["comments"] + [e["comment"] for e in THREAD[1:] if e["change"] == "comment-added"]}


def thread_page(cursor, seq):
    """The page after `cursor` as the server reads it at `seq`: by (createdAt, id) position, so a
    deleted cursor comment still places the page."""
    comments = thread_after(seq)["t"]["comments"]
    if cursor is not None:
        comments = [c for c in comments if (c["createdAt"], c["id"]) > (CREATED_AT[cursor], cursor)]
    chunk = comments[:2]
    return {"markerId": "t", "seq": seq, "comments": chunk, "next": chunk[-1]["id"] if len(comments) > 2 else None}


@settings(max_examples=400, deadline=None)
@given(
    snapshot_at=st.integers(min_value=1, max_value=len(THREAD)),
    steps=st.lists(st.sampled_from(["server", "deliver", "fetch", "answer"]), min_size=20, max_size=80),
)
def test_pages_and_live_events_in_any_interleaving_converge_to_the_server_thread(snapshot_at, steps):
    """Pages read at any time (before, after or between live events), merged with live changes:
    the thread ends up exactly the server's; the count is right whenever no page is in flight."""
    state = ImageState()
    server = snapshot_at  # the server's seq; the client lags behind it
    snapshot = thread_after(snapshot_at)["t"]
    state.load_snapshot({"seq": snapshot_at, "epoch": "e1", "markers": [partial(snapshot, len(snapshot["comments"]))]})
    walk = CommentWalk(state, "t")
    in_flight = None  # a page read by the server, its answer not arrived yet
    for step in steps:
        if step == "server" and server < len(THREAD):
            server += 1
        elif step == "deliver" and state.seq < server:
            state.receive(THREAD[state.seq])
        elif step == "fetch" and in_flight is None and not walk.finished:
            in_flight = thread_page(walk.cursor, server)
        elif step == "answer" and in_flight is not None:
            walk.take(in_flight)
            in_flight = None
    while state.seq < len(THREAD):
        state.receive(THREAD[state.seq])
    for _attempt in range(2):  # one more opening if the walk gave up
        walk = CommentWalk(state, "t")
        while not walk.finished:
            walk.take(thread_page(walk.cursor, len(THREAD)))
    assert state.view() == thread_after(len(THREAD))


@settings(max_examples=200, deadline=None)
@given(snapshot_at=st.integers(min_value=1, max_value=len(THREAD)))
def test_live_events_keep_a_partial_threads_count_exact(snapshot_at):
    state = ImageState()
    snapshot = thread_after(snapshot_at)["t"]
    state.load_snapshot({"seq": snapshot_at, "epoch": "e1", "markers": [partial(snapshot, len(snapshot["comments"]))]})
    for seq in range(snapshot_at, len(THREAD)):
        state.receive(THREAD[seq])
        assert comment_count(state.marker("t")) == len(thread_after(seq + 1)["t"]["comments"])


def test_a_deleted_cursor_starts_the_walk_over_within_bounds():
    whole = long_marker("m1", 250)
    state = loaded(7, [partial(whole, 250)])
    walk = CommentWalk(state, "m1")
    assert walk.take(page_of(whole, None, 100, 7))
    walk.cursor_gone()  # the server answered 404 comment_not_found for the cursor
    assert walk.cursor is None and not walk.finished
    while not walk.finished:
        walk.take(page_of(whole, walk.cursor, 100, 7))
    assert state.marker("m1") == whole
    unlucky = CommentWalk(loaded(7, [partial(whole, 250)]), "m1")
    for _ in range(3):
        unlucky.cursor_gone()
    assert not unlucky.finished
    unlucky.cursor_gone()
    assert unlucky.finished  # given up: the thread stays partial, for a later opening


# -- new-image-chat on the wire: the first comment leaves out what its marker says -----------------

from imagechat_widget import protocol  # noqa: E402


def rows_of(m):
    """The stored rows behind a new marker and its first comment (as the server's store has them)."""
    [c] = m["comments"]
    marker_row = {"tenant_id": "demo", "id": m["id"], "image_id": 1, "x": m["x"], "y": m["y"],
                  "author_id": m["author"]["id"], "author_name": m["author"]["name"],
                  "created_at": m["createdAt"], "updated_at": m["createdAt"]}
    comment_row = {"tenant_id": "demo", "id": c["id"], "marker_id": m["id"], "author_id": c["author"]["id"],
                   "author_name": c["author"]["name"], "text": c["text"],
                   "created_at": c["createdAt"], "updated_at": c["updatedAt"]}
    return marker_row, comment_row


def on_the_wire(event):
    """`event` as the server sends it: a new marker built by `protocol.new_marker_json`."""
    if event["type"] != "new-image-chat":
        return event
    return {**event, "marker": protocol.new_marker_json(*rows_of(event["marker"]))}


WIRE_HISTORY = [on_the_wire(event) for event in HISTORY]


def test_the_wire_history_leaves_the_first_comments_author_and_times_out():
    assert WIRE_HISTORY[0]["marker"]["comments"] == [{"id": "c1", "text": "first"}]
    assert WIRE_HISTORY[2]["marker"]["comments"] == [{"id": "c3", "text": "other", "createdAt": 1}]  # not the marker's 3


def test_a_new_marker_off_the_wire_shows_its_first_comment_whole():
    state = loaded()
    for event in WIRE_HISTORY[:3]:
        assert state.receive(event)
    assert state.view() == server_state_after(3)
    [first, reply] = state.marker("m1")["comments"]
    assert first == {"id": "c1", "author": {"id": "ada", "name": "Ada"}, "text": "first", "createdAt": 1, "updatedAt": 1}
    assert reply["author"]["name"] == "Bob"


def test_applying_an_event_off_the_wire_changes_neither_the_event_nor_earlier_markers():
    markers = {}
    event = WIRE_HISTORY[0]
    before = copy.deepcopy(event)
    apply_event(markers, event)
    apply_event(markers, event)
    assert event == before
    assert markers == server_state_after(1)


def test_a_first_comment_that_differs_from_its_marker_keeps_what_differs():
    m = marker("m9", comment("c9", author="bob", stamp=5), stamp=4)
    m["comments"][0]["updatedAt"] = 6
    sent = on_the_wire(created(1, m))
    assert sent["marker"]["comments"] == [{"id": "c9", "text": "hi", "author": {"id": "bob", "name": "Bob"},
                                           "createdAt": 5, "updatedAt": 6}]
    state = loaded()
    state.receive(sent)
    assert state.marker("m9") == m


def test_a_batch_or_replay_off_the_wire_in_any_order_shows_what_whole_events_show():
    state = loaded()
    for index in (2, 0, 1, 0, 2):  # disorder and repeats, as a replay after a gap brings them
        state.receive(WIRE_HISTORY[index])
    assert state.view() == server_state_after(3)


def test_an_own_new_marker_looks_the_same_before_and_after_its_compact_answer_and_echo():
    """Shown at once (the widget's proposal carries whole comments), then the REST answer (the
    committed event, compact) and the echo (the same) arrive: nothing the user sees changes."""
    state = loaded()
    mine = marker("m1", comment("c1", "mine", stamp=7), stamp=7)
    state.propose("b-1", created(None, mine, "b-1"), 0)
    shown = copy.deepcopy(state.view())
    answer = on_the_wire(created(1, mine, "b-1"))
    state.accepted("b-1", 1)
    state.receive(answer)  # the REST answer, applied like the echo
    assert state.view() == shown and state.pending == {}
    assert not state.receive(answer)  # the echo: a repeat
    assert state.view() == shown
    assert state.ordered_markers()[0]["comments"][0]["createdAt"] == 7


def test_a_sibling_tabs_committed_new_marker_shows_whole():
    """A sibling tab posts its proposal (whole), then its REST answer (compact) as `committed`."""
    state = loaded()
    theirs = marker("m1", comment("c1", "from the other tab", stamp=3), stamp=3)
    state.propose("b-9", created(None, theirs, "b-9"), 0)
    state.receive(on_the_wire(created(1, theirs, "b-9")))
    assert state.pending == {} and state.view() == {"m1": theirs}


@settings(max_examples=200, deadline=None)
@given(
    order=st.permutations(range(len(HISTORY))),
    repeats=deliveries,
    whole=st.lists(st.booleans(), min_size=len(HISTORY), max_size=len(HISTORY)),
    upto=st.integers(min_value=1, max_value=len(HISTORY)),
)
def test_whole_and_compact_new_markers_in_any_mix_and_order_converge(order, repeats, whole, upto):
    """Whole events (an own proposal's shape) and compact ones (the server's) of the history's
    first `upto` events, in any order and repeated."""
    state = loaded()
    for index in [i for i in list(order) + list(repeats) if i < upto]:
        state.receive(HISTORY[index] if whole[index] else WIRE_HISTORY[index])
    assert state.view() == server_state_after(upto)


# -- resolved threads -------------------------------------------------------------------------

from imagechat_widget.state import is_resolved  # noqa: E402

RESOLVE_HISTORY = [
    created(1, marker("m1", comment("c1"))),
    updated(2, "m1", "resolved", resolvedAt=20, resolvedBy="Ada"),
    updated(3, "m1", "comment-added", comment=comment("c2", "one more", author="bob", stamp=3)),
    updated(4, "m1", "reopened"),
    updated(5, "m1", "resolved", resolvedAt=50, resolvedBy="Mo"),
]


def test_resolving_and_reopening_apply_and_are_idempotent():
    markers = {}
    for event in RESOLVE_HISTORY[:2]:
        apply_event(markers, event)
    kept = markers["m1"]
    assert is_resolved(kept) and (kept["resolvedAt"], kept["resolvedBy"]) == (20, "Ada")
    apply_event(markers, RESOLVE_HISTORY[1])
    assert markers["m1"] == kept
    apply_event(markers, RESOLVE_HISTORY[3])
    assert not is_resolved(markers["m1"]) and "resolvedBy" not in markers["m1"]
    assert kept["resolvedBy"] == "Ada"  # replaced, never mutated: copies may share it
    apply_event(markers, RESOLVE_HISTORY[3])
    assert not is_resolved(markers["m1"])
    apply_event(markers, updated(9, "gone", "resolved", resolvedAt=1, resolvedBy="x"))  # unknown: nothing
    assert set(markers) == {"m1"}


def test_a_snapshot_carries_the_resolved_state():
    state = loaded(2, [{**marker("m1", comment("c1")), "resolvedAt": 20, "resolvedBy": "Ada"}])
    assert is_resolved(state.marker("m1"))
    state.receive(RESOLVE_HISTORY[2])
    state.receive(RESOLVE_HISTORY[3])
    assert not is_resolved(state.marker("m1")) and len(state.marker("m1")["comments"]) == 2


def test_an_own_resolve_shows_at_once_ignores_its_echo_and_rolls_back_if_refused():
    state = loaded(1, [marker("m1", comment("c1"))])
    state.propose("b-1", updated(None, "m1", "resolved", "b-1", resolvedAt=5, resolvedBy="Ada"), 0)
    assert is_resolved(state.marker("m1")) and state.unconfirmed_ids() == set()
    assert state.receive(updated(2, "m1", "resolved", "b-1", resolvedAt=7, resolvedBy="Ada"))  # the echo
    assert state.pending == {} and state.marker("m1")["resolvedAt"] == 7  # the server's time wins
    state.accepted("b-1", 2)  # its REST answer, after the echo: nothing more
    assert state.pending == {} and is_resolved(state.marker("m1"))
    state.propose("b-2", updated(None, "m1", "reopened", "b-2"), 0)
    assert not is_resolved(state.marker("m1"))
    state.rejected("b-2")  # 403: not the author
    assert is_resolved(state.marker("m1"))


@settings(max_examples=200, deadline=None)
@given(order=st.permutations(range(len(RESOLVE_HISTORY))),
       repeats=st.lists(st.integers(min_value=0, max_value=len(RESOLVE_HISTORY) - 1), max_size=10))
def test_resolves_and_reopens_in_any_order_converge(order, repeats):
    state = loaded()
    for index in list(order) + list(repeats):
        state.receive(RESOLVE_HISTORY[index])
    markers = {}
    for event in RESOLVE_HISTORY:
        apply_event(markers, event)
    assert state.view() == markers and state.marker("m1")["resolvedBy"] == "Mo"
