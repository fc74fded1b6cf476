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
"""

NEW_IMAGE_CHAT = "new-image-chat"
IMAGE_CHAT_UPDATED = "image-chat-updated"
DELETED_IMAGE_CHAT = "deleted-image-chat"
COMMENT_ADDED = "comment-added"
COMMENT_EDITED = "comment-edited"
COMMENT_DELETED = "comment-deleted"


def answer_type(answer):
    """The type of the event a REST answer holds. The server decides, not the client's guess:
    deleting what looked like a thread's last comment may leave a reply someone just posted."""
    if "marker" in answer:
        return NEW_IMAGE_CHAT
    return IMAGE_CHAT_UPDATED if "change" in answer else DELETED_IMAGE_CHAT


def apply_change(markers, event):
    """Apply one event to a dict of markers by id. Idempotent: applying it twice changes nothing
    more. Marker and comment dicts are replaced, never mutated, so copies can share them."""
    kind = event.get("type")
    if kind == NEW_IMAGE_CHAT:
        marker = event["marker"]
        markers[marker["id"]] = marker
    elif kind == DELETED_IMAGE_CHAT:
        markers.pop(event["markerId"], None)
    elif kind == IMAGE_CHAT_UPDATED:
        marker = markers.get(event["markerId"])
        if marker is not None:
            markers[marker["id"]] = _with_comments(marker, _changed_thread(marker["comments"], event))


def _changed_thread(comments, event):
    change = event.get("change")
    if change == COMMENT_ADDED:
        comment = event["comment"]
        return [c for c in comments if c["id"] != comment["id"]] + [comment]
    if change == COMMENT_EDITED:
        comment = event["comment"]
        return [comment if c["id"] == comment["id"] else c for c in comments]
    if change == COMMENT_DELETED:
        return [c for c in comments if c["id"] != event["commentId"]]
    return comments


def _with_comments(marker, comments):
    copy = dict(marker)
    copy["comments"] = comments
    return copy


# Pending changes are few and short-lived; these bounds keep a tab that never hears back (its
# sibling tab closed mid-request, say) from holding them for ever.
MAX_PENDING = 100
PENDING_MAX_AGE_MS = 60 * 1000


class PendingChange:
    def __init__(self, event, proposed_at, order):
        self.event = event
        self.proposed_at = proposed_at
        self.order = order  # dicts keep no order on MicroPython: changes replay in this one
        self.seq = None  # known once the server accepted it


class ImageState:
    def __init__(self):
        self.confirmed = {}
        self.seq = None  # None until the first snapshot
        self.epoch = None
        self.held = {}
        self.pending = {}
        self._proposals = 0
        self._view = None

    # -- from the server -----------------------------------------------------------------------

    def load_snapshot(self, snapshot):
        """Replace the confirmed state. Returns False, changing nothing, for a snapshot older than
        what is already applied (a slow response must never roll back newer state)."""
        if self.seq is not None and snapshot["seq"] < self.seq and snapshot.get("epoch") == self.epoch:
            return False
        if None not in (self.epoch, snapshot.get("epoch")) and snapshot["epoch"] != self.epoch:
            self.held = {}  # seqs of another history mean nothing in this one
        self.confirmed = {m["id"]: m for m in snapshot["markers"]}
        self.seq = snapshot["seq"]
        self.epoch = snapshot.get("epoch")
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
            # A repeat; if it is a pending change's, `confirmed` already holds that change.
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
            apply_change(self.confirmed, event)
            self.pending.pop(event.get("broadcastId"), None)
            applied = True
        if applied:
            self._view = None
        return applied

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
        self.pending[broadcast_id] = PendingChange(event, now_ms, self._proposals)
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

    # -- what the user sees --------------------------------------------------------------------

    def view(self):
        """Markers by id, confirmed state with this client's pending changes laid over it."""
        if self._view is None:
            markers = dict(self.confirmed)
            for pending in sorted(self.pending.values(), key=lambda p: p.order):
                apply_change(markers, pending.event)
            self._view = markers
        return self._view

    def ordered_markers(self):
        """Markers in the order they were dropped: their pins are numbered 1, 2, 3... in it."""
        return sorted(self.view().values(), key=lambda m: (m["createdAt"], m["id"]))

    def marker(self, marker_id):
        return self.view().get(marker_id)
