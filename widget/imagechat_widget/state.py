"""What one image's conversation looks like to this client, free of any browser call.

Two layers:
- `confirmed`: the server's markers as of `seq`, built from a snapshot and the live events
  applied strictly in seq order (a later event waits in `held` until the gap before it fills;
  an event at or below `seq` is a repeat and is dropped).
- `pending`: this client's own changes, shown at once, keyed by their `broadcastId`.
What the user sees is `view()`: confirmed with pending laid over it. When the server's event for
an own change arrives (the echo, recognised by its broadcastId), it lands in `confirmed` and the
pending copy goes: nothing visible happens, nothing shows twice. A change the server refused is
dropped from `pending`, which rolls it back.

Long threads come in parts: a snapshot's marker may hold only its first comment and
`commentCount` (the thread's total). Such a thread is *partial* while it keeps `commentCount`;
live events keep the count right, and a `CommentWalk` loads the rest page by page. A marker
without `commentCount` holds its whole thread (an older server's snapshot, or a loaded thread).
"""

from imagechat_widget import protocol
from imagechat_widget.messages import ENGLISH


def apply_event(markers, event):
    """Apply one event to a dict of markers by id. Idempotent: applying it twice changes nothing
    more. Marker and comment dicts are replaced, never mutated, so copies can share them."""
    kind = event.get("type")
    if kind == protocol.NEW_IMAGE_CHAT:
        # The event's first comment leaves out what its marker says (author, times): filled in
        # here, whatever brought the event (live, a batch, a replay, a REST answer, a sibling tab).
        marker = _complete_if_whole(protocol.expand_new_marker(event["marker"]))
        markers[marker["id"]] = marker
    elif kind == protocol.DELETED_IMAGE_CHAT:
        markers.pop(event["markerId"], None)
    elif kind == protocol.IMAGE_CHAT_UPDATED:
        marker = markers.get(event["markerId"])
        if marker is not None:
            markers[marker["id"]] = _updated_marker(marker, event)


def comment_count(marker):
    """The thread's number of comments, loaded or not."""
    return marker.get("commentCount", len(marker["comments"]))


def is_partial(marker):
    """Some of the thread's comments are not loaded yet."""
    return "commentCount" in marker


def _complete_if_whole(marker):
    """A marker whose `commentCount` says nothing is missing is a whole thread: drop the count."""
    if is_partial(marker) and marker["commentCount"] <= len(marker["comments"]):
        marker = dict(marker)
        del marker["commentCount"]
    return marker


def _updated_marker(marker, event):
    change = event.get("change")
    comments = marker["comments"]
    updated = dict(marker)
    if change == protocol.COMMENT_ADDED:
        comment = event["comment"]
        updated["comments"] = [c for c in comments if c["id"] != comment["id"]] + [comment]
        if is_partial(marker) and len(updated["comments"]) > len(comments):
            updated["commentCount"] = marker["commentCount"] + 1
    elif change == protocol.COMMENT_EDITED:
        comment = event["comment"]
        updated["comments"] = [comment if c["id"] == comment["id"] else c for c in comments]
    elif change == protocol.COMMENT_DELETED:
        comment_id = event["commentId"]
        updated["comments"] = [c for c in comments if c["id"] != comment_id]
        removed = marker.get("removedCommentIds", ())
        if is_partial(marker) and comment_id not in removed:
            # Loaded or not, it was counted; remember it so that a repeat counts it once.
            updated["commentCount"] = max(len(updated["comments"]), marker["commentCount"] - 1)
            updated["removedCommentIds"] = removed + (comment_id,)
    elif change == protocol.THREAD_RESOLVED:
        updated["resolvedAt"], updated["resolvedBy"] = event["resolvedAt"], event["resolvedBy"]
    elif change == protocol.THREAD_REOPENED:
        updated.pop("resolvedAt", None)
        updated.pop("resolvedBy", None)
    return updated


def is_resolved(marker):
    return "resolvedAt" in marker


def _merged_thread(marker, comments, complete):
    """`marker` with a page of its comments merged in (by id: the page's copy is as new as ours or
    newer), oldest first; whole, without `commentCount`, once `complete`."""
    removed = marker.get("removedCommentIds", ())
    by_id = {c["id"]: c for c in marker["comments"]}
    for comment in comments:
        if comment["id"] not in removed:
            by_id[comment["id"]] = comment
    merged = dict(marker)
    merged["comments"] = sorted(by_id.values(), key=lambda c: (c["createdAt"], c["id"]))
    if complete:
        del merged["commentCount"]
        merged.pop("removedCommentIds", None)
    else:
        merged["commentCount"] = max(marker["commentCount"], len(merged["comments"]))
    return merged


# Pending proposals are few and short-lived; these bounds keep a tab that never hears back (its
# sibling tab closed mid-request, say) from holding them for ever.
MAX_PENDING = 100
PENDING_MAX_AGE_MS = 60 * 1000


class Proposal:
    """An own change (or a sibling tab's) shown before the server confirms it."""

    def __init__(self, event, proposed_at, order):
        self.event = event
        self.proposed_at = proposed_at
        self.order = order  # dicts keep no order on MicroPython: changes replay in this one
        self.seq = None  # known once the server accepted it


class ImageState:
    def __init__(self):
        self.confirmed = {}
        self.seq = None  # None until the first snapshot
        self.epoch = None  # None until the image has a history (its first change, seq 1)
        self.snapshots_loaded = 0
        self.held = {}
        self.pending = {}
        self._proposals = 0
        self._view = None
        self.on_applied = None  # called with each server event as it is applied, in seq order

    # -- from the server -----------------------------------------------------------------------

    def load_snapshot(self, snapshot):
        """Replace the confirmed state. Returns False, changing nothing, for a snapshot older than
        what is already applied (a slow response must never roll back newer state)."""
        # No epoch yet: the image had no history when the snapshot was read, older than any.
        if self.seq is not None and snapshot["seq"] < self.seq and snapshot.get("epoch") in (self.epoch, None):
            return False
        if None not in (self.epoch, snapshot.get("epoch")) and snapshot["epoch"] != self.epoch:
            self.held = {}  # seqs of another history mean nothing in this one
        self.confirmed = {m["id"]: _complete_if_whole(m) for m in snapshot["markers"]}
        self.seq = snapshot["seq"]
        self.epoch = snapshot.get("epoch")
        self.snapshots_loaded += 1
        for seq in [s for s in self.held if s <= self.seq]:
            del self.held[seq]
        for broadcast_id in [b for b, p in self.pending.items() if p.seq is not None and p.seq <= self.seq]:
            del self.pending[broadcast_id]
        self._drain()
        self._view = None
        return True

    def receive(self, event):
        """A live event. Returns True if what the user sees may have changed."""
        seq = event["seq"]
        if self.seq is not None and seq <= self.seq:
            # A repeat (the echo of an own change applied from the REST answer, say) still names
            # the epoch. If it is a pending change's, `confirmed` already holds that change.
            self._learn_epoch(event)
            if self.pending.pop(event.get("broadcastId"), None) is not None:
                self._view = None
                return True
            return False
        self.held[seq] = event
        if self.seq is None:
            return False
        return self._drain()

    def _drain(self):
        applied = False
        while self.seq + 1 in self.held:
            event = self.held.pop(self.seq + 1)
            self.seq += 1
            apply_event(self.confirmed, event)
            self._learn_epoch(event)
            if self.on_applied is not None:
                self.on_applied(event)  # before its proposal goes: it can still tell an own change
            self.pending.pop(event.get("broadcastId"), None)
            applied = True
        if applied:
            self._view = None
        return applied

    def _learn_epoch(self, event):
        """The first event of an image's history carries its epoch: a client that saw the image
        empty (epoch None) learns it there, and can resume after a reconnect."""
        if self.epoch is None and event["seq"] == 1 and event.get("epoch"):
            self.epoch = event["epoch"]

    def adopt_epoch(self, seq, epoch):
        """The server's epoch, from its answer to a subscribe. Taken when this client knows none
        and has applied exactly the server's `seq` (it saw the whole history, from an empty
        image on, without learning its name). Returns True if taken: the state is current."""
        if self.epoch is None and epoch is not None and seq == self.seq:
            self.epoch = epoch
            return True
        return False

    def merge_comments(self, marker_id, comments, seq, complete):
        """A page of a partial thread's comments, read by the server at `seq`. Returns False,
        changing nothing, for a page older than what is applied (it may hold comments deleted
        since): fetch it again. A page at or after `seq` is safe: events are idempotent by id.
        `complete`: with this page, every page of the thread has been merged."""
        if self.seq is None or seq < self.seq:
            return False
        marker = self.confirmed.get(marker_id)
        if marker is not None and is_partial(marker):
            self.confirmed[marker_id] = _merged_thread(marker, comments, complete)
            self._view = None
        return True

    def needs_comments(self, marker_id):
        marker = self.confirmed.get(marker_id)
        return marker is not None and is_partial(marker)

    def forget(self):
        """The server's history is not ours any more (it is behind us): the next snapshot
        replaces everything, whatever its seq."""
        self.seq = None
        self.held = {}

    @property
    def has_gap(self):
        """Events after a missing seq are waiting: the client should resync."""
        return self.seq is not None and bool(self.held)

    # -- this client's own changes -------------------------------------------------------------

    def propose(self, broadcast_id, event, now_ms):
        """Show a change of this client (or of a sibling tab) at once; `event` has the shape the
        server's event will have."""
        self.expire(now_ms)
        while len(self.pending) >= MAX_PENDING:
            del self.pending[min(self.pending, key=lambda b: self.pending[b].order)]
        self._proposals += 1
        self.pending[broadcast_id] = Proposal(event, now_ms, self._proposals)
        self._view = None

    def expire(self, now_ms):
        """Forget pending changes nobody confirmed or refused in time. Returns True if any went."""
        stale = [b for b, p in self.pending.items() if now_ms - p.proposed_at > PENDING_MAX_AGE_MS]
        for broadcast_id in stale:
            del self.pending[broadcast_id]
        if stale:
            self._view = None
        return bool(stale)

    def accepted(self, broadcast_id, seq):
        """The server stored the change as event `seq`; its echo may have come already."""
        pending = self.pending.get(broadcast_id)
        if pending is None:
            return
        if self.seq is not None and seq <= self.seq:
            del self.pending[broadcast_id]  # confirmed already holds it
            self._view = None
        else:
            pending.seq = seq

    def rejected(self, broadcast_id):
        """The server refused the change: take it back."""
        if self.pending.pop(broadcast_id, None) is not None:
            self._view = None

    def is_own(self, broadcast_id):
        return broadcast_id in self.pending

    def unconfirmed_ids(self):
        """Ids of the markers and comments shown but not confirmed by the server yet."""
        ids = set()
        for pending in self.pending.values():
            event = pending.event
            if event["type"] == protocol.NEW_IMAGE_CHAT:
                ids.add(event["marker"]["id"])
                ids.update(c["id"] for c in event["marker"]["comments"])
            elif event["type"] == protocol.IMAGE_CHAT_UPDATED and "comment" in event:
                ids.add(event["comment"]["id"])
        return ids

    # -- what the user sees --------------------------------------------------------------------

    def view(self):
        """Markers by id, confirmed state with this client's pending changes laid over it."""
        if self._view is None:
            markers = dict(self.confirmed)
            for pending in sorted(self.pending.values(), key=lambda p: p.order):
                apply_event(markers, pending.event)
            self._view = markers
        return self._view

    def ordered_markers(self):
        """Markers in the order they were dropped: their pins are numbered 1, 2, 3... in it."""
        return sorted(self.view().values(), key=lambda m: (m["createdAt"], m["id"]))

    def marker(self, marker_id):
        return self.view().get(marker_id)


# Enough pages to load any thread the server allows.
MAX_COMMENT_PAGES = -(-protocol.MAX_COMMENTS_PER_THREAD // protocol.THREAD_PAGE_COMMENTS)
# Pages fetched again (older than the applied seq, or read before a snapshot replaced the thread)
MAX_COMMENT_REFETCHES = 3


class CommentWalk:
    """Loads the rest of one partial thread, page by page, oldest first, into an ImageState.

    The caller fetches the page after `cursor` (None: from the start) and hands it to `take`,
    until `finished`. A page older than the applied seq is fetched again; a snapshot loaded
    meanwhile replaced the thread, so the walk starts over. Both are bounded: a walk that gives
    up leaves the thread partial, to be loaded on a later opening.
    """

    def __init__(self, state, marker_id):
        self._state = state
        self.marker_id = marker_id
        self._refetches_left = MAX_COMMENT_REFETCHES
        self._start_over()

    def _start_over(self):
        self._snapshot = self._state.snapshots_loaded
        self.cursor = None
        self._pages = 0

    @property
    def finished(self):
        return (not self._state.needs_comments(self.marker_id) or self._pages >= MAX_COMMENT_PAGES
                or self._refetches_left < 0)

    def cursor_gone(self):
        """The comment named by `cursor` was deleted meanwhile: start over from the first page."""
        self._refetches_left -= 1
        self._start_over()

    def take(self, page):
        """The server's answer for `cursor`: {seq, comments, next}. True if it was merged."""
        if self._snapshot != self._state.snapshots_loaded:
            self.cursor_gone()  # the snapshot replaced the thread: earlier pages are lost
            return False
        complete = page["next"] is None
        if not self._state.merge_comments(self.marker_id, page["comments"], page["seq"], complete):
            self._refetches_left -= 1
            return False
        self._pages += 1
        self.cursor = page["next"]
        return True


# -- presence: who else is looking ------------------------------------------------------------------

PRESENCE_INITIALS_SHOWN = 3  # initials in the badge; every name is in its tooltip


def initials(name):
    """"Ada Lovelace" -> "AL", "Bo" -> "BO": two letters for a badge."""
    words = name.split()
    if not words:
        return "?"
    if len(words) == 1:
        return words[0][:2].upper()
    return (words[0][:1] + words[1][:1]).upper()


def presence_label(count, names, messages=ENGLISH):
    """The badge's text and tooltip for `count` viewers (the user included) and some of the
    signed-in ones' names: ("3 here · AL, BO", "Ada Lovelace, Bo"); no badge ("") when the
    user is alone. Worded by `messages` (the reader's language)."""
    if count < 2:
        return "", ""
    text = messages.t("presence.here", count=count)
    if names:
        shown = [initials(name) for name in names[:PRESENCE_INITIALS_SHOWN]]
        more = len(names) - len(shown)
        text += " · " + ", ".join(shown) + (" +%d" % more if more else "")
    signed_out = count - len(names)
    tooltip = ", ".join(names)
    if signed_out > 0:
        more = messages.plural("presence.more", signed_out)
        tooltip = messages.t("presence.and", names=tooltip, more=more) if tooltip else more
    return text, messages.t("presence.looking", names=tooltip)
