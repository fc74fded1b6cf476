"""A fixed workout of the widget's pure modules (state, timefmt, messages, backoff, protocol), run on CPython
and on MicroPython by tests/test_widget_portability.py, which compares what each saw.

Written in the Python both run (no f-strings with `=`, no dataclasses, no typing); its random
choices come from its own generator so that both interpreters make the same ones. `results()`
returns plain JSON-able data: lists in a meaningful order, never a dict's iteration order.
"""

from imagechat_widget import a11y, protocol
from imagechat_widget.backoff import backoff_window, reconnect_delay
from imagechat_widget.links import find_thread, thread_link
from imagechat_widget.state import CommentWalk, ImageState
from imagechat_widget.messages import Messages, choose_locale
from imagechat_widget.timefmt import civil_date, relative_time


class Choices:
    """A small linear congruential generator: the same numbers on every interpreter."""

    def __init__(self, seed):
        self.value = seed

    def below(self, n):
        self.value = (self.value * 1103515245 + 12345) % 2147483648
        return self.value % n


NOW = 1795940000000  # milliseconds since the epoch, as the server stamps them: past 32 bits


def comment(comment_id, text, author="ada", stamp=1):
    """`stamp`: milliseconds after NOW."""
    return {"id": comment_id, "author": {"id": author, "name": author.upper()}, "text": text,
            "createdAt": NOW + stamp, "updatedAt": NOW + stamp}


def history():
    """A server history of 15 events on 4 threads (two resolved, one reopened), with the compact first comments of the wire."""
    events = []
    seq = 0
    for number in range(4):
        seq += 1
        marker = {"id": "m%d" % number, "x": 0.1 * number, "y": 0.5, "author": {"id": "ada", "name": "ADA"},
                  "createdAt": NOW + 10 + number, "comments": [{"id": "c%d" % number, "text": "first %d" % number}]}
        events.append(protocol.event(protocol.NEW_IMAGE_CHAT, seq, "b%d" % seq, marker=marker))
        seq += 1
        events.append(protocol.event(protocol.IMAGE_CHAT_UPDATED, seq, "b%d" % seq, markerId="m%d" % number,
                                     change=protocol.COMMENT_ADDED,
                                     comment=comment("r%d" % number, "reply é %d" % number, "bob", 20 + number)))
    seq += 1
    events.append(protocol.event(protocol.IMAGE_CHAT_UPDATED, seq, None, markerId="m1", change=protocol.COMMENT_EDITED,
                                 comment=comment("c1", "first 1, edited", "ada", 11)))
    seq += 1
    events.append(protocol.event(protocol.IMAGE_CHAT_UPDATED, seq, None, markerId="m2",
                                 change=protocol.COMMENT_DELETED, commentId="r2"))
    seq += 1
    events.append(protocol.event(protocol.DELETED_IMAGE_CHAT, seq, None, markerId="m3"))
    seq += 1
    events.append(protocol.event(protocol.IMAGE_CHAT_UPDATED, seq, None, markerId="m0", change=protocol.COMMENT_ADDED,
                                 comment=comment("r9", "late reply", "cy", 40)))
    for marker_id, change in (("m1", protocol.THREAD_RESOLVED), ("m0", protocol.THREAD_RESOLVED),
                              ("m0", protocol.THREAD_REOPENED)):
        seq += 1
        resolution = {"resolvedAt": NOW + 50 + seq, "resolvedBy": "ADA"} if change == protocol.THREAD_RESOLVED else {}
        events.append(protocol.event(protocol.IMAGE_CHAT_UPDATED, seq, None, markerId=marker_id, change=change,
                                     **resolution))
    return events


def shown(state):
    return [[m["id"], [[c["id"], c["text"], c["author"]["name"], c["createdAt"]] for c in m["comments"]],
             m.get("commentCount"), m.get("resolvedAt"), m.get("resolvedBy")] for m in state.ordered_markers()]


def deliveries(seed):
    """The history delivered in a shuffled order with repeats, an own change proposed before its
    echo, and a snapshot taken midway: what is shown after each step."""
    choices = Choices(seed)
    events = history()
    order = list(range(len(events))) + [choices.below(len(events)) for _ in range(4)]
    for i in range(len(order) - 1, 0, -1):
        j = choices.below(i + 1)
        order[i], order[j] = order[j], order[i]
    state = ImageState()
    steps = []
    for step, index in enumerate(order):
        if step == 3:
            state.load_snapshot({"seq": 0, "epoch": "e1", "markers": []})
        if step == 5:
            own = protocol.event(protocol.NEW_IMAGE_CHAT, 0, "own", marker={
                "id": "mine", "x": 0.9, "y": 0.9, "author": {"id": "me", "name": "ME"}, "createdAt": NOW + 99,
                "comments": [comment("cm", "mine", "me", 99)]})
            state.propose("own", own, NOW + 1000)
        state.receive(events[index])
        steps.append([index, state.seq, state.has_gap, shown(state), sorted(state.unconfirmed_ids())])
    state.rejected("own")
    steps.append(["rejected", shown(state)])
    return steps


def walk():
    """A long thread loaded page by page, with a live reply arriving in between."""
    state = ImageState()
    first = comment("k0", "page 0", "ada", 1)
    state.load_snapshot({"seq": 5, "epoch": "e1", "markers": [
        {"id": "long", "x": 0.5, "y": 0.5, "author": first["author"], "createdAt": NOW + 1, "comments": [first],
         "commentCount": 5}]})
    walker = CommentWalk(state, "long")
    pages = [[comment("k0", "page 0", "ada", 1), comment("k1", "one", "bob", 2)],
             [comment("k2", "two", "cy", 3), comment("k3", "three", "ada", 4)],
             [comment("k4", "four", "bob", 5)]]
    steps = []
    for number, page in enumerate(pages):
        if number == 1:
            state.receive(protocol.event(protocol.IMAGE_CHAT_UPDATED, 6, None, markerId="long",
                                         change=protocol.COMMENT_ADDED, comment=comment("k5", "live", "dee", 6)))
        taken = walker.take({"seq": 6, "comments": page, "next": None if number == len(pages) - 1 else "x"})
        steps.append([taken, walker.finished, shown(state)])
    return steps


def results():
    import json

    return {
        "deliveries": [deliveries(seed) for seed in (1, 7, 42)],
        "walk": walk(),
        "times": [relative_time(then, 1700000000000) for then in
                  (1700000000000, 1699999990000, 1699999000000, 1699990000000, 1699900000000, 1699000000000,
                   1600000000000, 0, 951782400000)],
        "times_fr": [relative_time(then, 1700000000000, Messages(choose_locale(None, "fr-FR", []))) for then in
                     (1699999990000, 1699999000000, 1699990000000, 1699900000000, 1699000000000, 1600000000000)],
        "plurals_fr": [Messages("fr").plural("thread.comments", n) for n in (0, 1, 2)],
        "dates": [list(civil_date(days)) for days in (0, 11016, 19000, -1, 2932896)],
        "backoff": [backoff_window(attempt) for attempt in (0, 1, 5, 30)]
                   + [reconnect_delay(3, lambda: 0.5)],
        "frames": [json.loads(protocol.subscribe("u", "t", 3, "e")), json.loads(protocol.subscribe("ü")),
                   json.loads(protocol.resume(9))],
        # The very text sent: compact, UTF-8 kept as it is (one key per object: MicroPython's
        # dicts do not keep their insertion order).
        "encoded": protocol.dumps(["ü é", 1, None, True, {"since": 9}]),
        "positions": [protocol.round_position(value) for value in (0.123456, 0.99995, 1 / 3)],
        "moderate": [protocol.can_moderate(roles) for roles in ((), ["moderator"], ("x", "admin"))],
        # Links to a thread: written, read back, and what names none.
        "links": [thread_link("https://s.example/p?q=1#top", "a b/é✓:&#", "m1_x-Y")]
                 + [list(find_thread(thread_link("", url_id, "m1234567").split("#")[1]))
                    for url_id in ("a b/é✓:&#", "checkout-v2", "%41")]
                 + [find_thread(text) for text in ("#top", "#imagechat=%C3:m1", "#imagechat=%zz:m1", "#imagechat=a:")]
                 + [list(find_thread("#/route", "?x=1&imagechat=shot:m2"))],
        # What screen readers hear, in both languages.
        "a11y": [a11y.pin_label(Messages(locale), 3, 7, {"author": {"name": "Ada"}, "comments": [{"text": "é" * 90}]},
                                count, resolved=True, pending=count > 1)
                 for locale in ("en", "fr") for count in (1, 2)]
                + [a11y.new_thread_announcement(Messages("fr"), {"author": {"name": "Bob"}, "comments": []})],
    }
