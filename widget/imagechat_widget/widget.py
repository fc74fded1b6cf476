"""One widget per marked image: state, view, REST and the live connection, tied together."""

import asyncio

from imagechat_widget import protocol
from imagechat_widget.api import Api, ApiError
from imagechat_widget.browser import js_options, listen, random_id
from imagechat_widget.compat import create_proxy, document, now_ms, spawn, window
from imagechat_widget.connection import CONNECTED, OFFLINE, RECONNECTING, REFUSED, Connection
from imagechat_widget.events import HostEvents
from imagechat_widget.identity import Identity
from imagechat_widget.links import find_thread, thread_link
from imagechat_widget.messages import Messages, choose_locale
from imagechat_widget.state import CommentWalk, ImageState, comment_count
from imagechat_widget.tabs import SiblingTabs
from imagechat_widget.view import Actions, View

REFRESH_SECONDS = 30
# A refusal no retry can change: the widget stops and says so (the console says what to fix).
# Each is worded by the catalogue's "notice.CODE".
REFUSED_FOR_GOOD = (protocol.ORIGIN_NOT_ALLOWED, protocol.TENANT_NOT_FOUND)
# An event after a missing seq waits this long for the missing one (events of concurrent
# changes may cross on the way) before the widget asks the server to replay.
GAP_GRACE_SECONDS = 1


class Widget(Actions):
    def __init__(self, host, tenant, url_id, base_url, identity, readonly, messages):
        """`messages`: the reader's language (messages.Messages), for every word shown."""
        self.url_id = url_id
        self.messages = messages
        self.identity = identity
        self.readonly = readonly
        self.state = ImageState()
        self.events = HostEvents(host.querySelector("img"), url_id)  # for the host page's scripts
        self.state.on_applied = self._on_applied
        self.view = View(host, identity, self, messages)
        self.api = Api(base_url, tenant, identity)
        self.tabs = SiblingTabs(tenant, url_id, self._on_sibling)
        self.connection = Connection(self.api.live_url, self._subscription, self._on_frame, self._on_connection)
        self._tenant = tenant
        self._loading = None
        self._gap_check = None
        self._walks = {}  # marker id -> the task loading the rest of its thread
        self._linked = None  # the thread a link to it asked for, opened once the snapshot is shown
        self._told_token = None  # the session token the server knows this socket by
        self._on_signed_in = lambda: self._tell_identity()
        identity.listeners.append(self._on_signed_in)

    def start(self, early_snapshot=None):
        """`early_snapshot`: the promise of the snapshot's response, when embed.js asked for it
        while the runtime loaded."""
        self._refresher = spawn(self._refresh())
        if self.identity.sso:
            spawn(self._sign_on())
        if early_snapshot:
            spawn(self._start_from(early_snapshot))
        else:
            self.connection.start()

    async def _start_from(self, early_snapshot):
        """Show the snapshot embed.js fetched, then go live: the subscription carries its seq, and
        the server replays what changed since (as after a reconnect) instead of a second snapshot."""
        try:
            self._show_snapshot(await self.api.snapshot(self.url_id, early_snapshot))
        except ApiError as error:
            if self._refused_for_good(error):
                return
            # Not loaded (the network): the live connection's first answer loads it.
        self.connection.start()

    def stop(self):
        """The image left the page: let go of the socket, the channel and the timers."""
        self.connection.stop()
        self.tabs.close()
        self._refresher.cancel()
        self.identity.listeners.remove(self._on_signed_in)

    async def _sign_on(self):
        """Signed on by the site: learn the user's name and roles before they act."""
        try:
            await self.api.sign_in()
        except ApiError as error:
            if not self._refused_for_good(error):
                self.view.show_error(self.messages.t("error.sign_in", reason=self._reason(error)))
            return
        self._render()

    # -- from the server -----------------------------------------------------------------------

    def _subscription(self):
        if self.connection.close_code == protocol.CLOSE_TOO_SLOW:
            self.state.forget()  # the server dropped us for lagging: start again from a snapshot
        # With the last seq applied, the server replays what we missed.
        self._told_token = self.identity.token()
        return protocol.subscribe(self.url_id, self._told_token, self.state.seq, self.state.epoch,
                                  presence=True)

    def _tell_identity(self):
        """The user signed in (at their first comment, in this tab or another widget of the page)
        or changed their name since the socket subscribed: tell the server on the open socket, so
        that the presence badge names them now, not from the next connection."""
        token = self.identity.token()
        if token is not None and token != self._told_token and self.connection.state == CONNECTED:
            self._told_token = token
            self.connection.send(protocol.identify(token))

    def _on_connection(self, state):
        if state == REFUSED:
            code = self.connection.refusal
            origin = str(window.location.origin)
            if code == protocol.ORIGIN_NOT_ALLOWED:
                window.console.error("ImageChat: this page's origin %s is not allowed to use tenant '%s' "
                                     "(imagechat tenant update %s --origin %s)" % (origin, self._tenant, self._tenant, origin))
            else:
                window.console.error("ImageChat: there is no tenant '%s' on %s (page origin %s)"
                                     % (self._tenant, self.api.live_url, origin))
            self.view.set_status(state, self.messages.t("notice." + code))
            return
        self.view.set_status(state, self.messages.t("notice." + state) if state in (OFFLINE, RECONNECTING) else None)
        if state != CONNECTED:
            self.view.show_presence(0, [])  # stale: the server sends the current one on reconnecting
        else:
            self._tell_identity()  # signed in while the subscription was on its way

    def _refused_for_good(self, error):
        """A REST answer that no retry can change (origin not allowed, unknown tenant) stops the
        widget. Returns True if it was one."""
        if error.code in REFUSED_FOR_GOOD:
            self.connection.refuse(error.code)
            return True
        return False

    def _on_frame(self, frame):
        kind = frame.get("type")
        if kind in protocol.EVENT_TYPES:
            self._apply(frame)
        elif kind == protocol.BATCH:  # several events of a busy moment, in order
            for event in frame["events"]:
                self._apply(event)
        elif kind == protocol.RESYNC and self.state.seq is not None:  # the server may have missed some
            self.connection.send(protocol.resume(self.state.seq))
        elif kind == protocol.SUBSCRIBED and self.state.adopt_epoch(frame["seq"], frame.get("epoch")):
            pass  # we saw the image's whole history without its epoch's name: current as we are
        elif kind == protocol.SUBSCRIBED and not frame.get("resume"):
            if frame.get("reason") == protocol.REASON_EPOCH:
                self.state.forget()  # another history: our seqs mean nothing in it
            self._load_snapshot()
        elif kind == protocol.RELOAD:
            self._load_snapshot()
        elif kind == protocol.ERROR and frame.get("error") == protocol.SEQ_FROM_FUTURE:
            self.state.forget()  # the server's history is behind ours: start again from it
            self.connection.restart()
        elif kind == protocol.ERROR and frame.get("error") in protocol.SESSION_ERRORS:
            self.identity.signed_out()  # a session the server no longer takes: watch signed out
            self.connection.restart()
        elif kind == protocol.PRESENCE:
            self.view.show_presence(*protocol.read_presence(frame))
        elif kind == protocol.ERROR:
            window.console.warn("ImageChat: " + str(frame.get("message")))

    def _apply(self, event):
        if self.state.receive(event):
            self._render()
        if self.state.has_gap and (self._gap_check is None or self._gap_check.done()):
            self._gap_check = spawn(self._close_gap())

    async def _close_gap(self):
        await asyncio.sleep(GAP_GRACE_SECONDS)
        if self.state.has_gap:
            self.connection.send(protocol.resume(self.state.seq))

    def _load_snapshot(self):
        if self._loading is None or self._loading.done():
            self._loading = spawn(self._fetch_snapshot())

    async def _fetch_snapshot(self):
        try:
            snapshot = await self.api.snapshot(self.url_id)
        except ApiError as error:
            if not self._refused_for_good(error):
                self.view.show_error(self.messages.t("error.snapshot", reason=self._reason(error)))
            return
        self._show_snapshot(snapshot)

    def _show_snapshot(self, snapshot):
        if snapshot.get("readonly") and not self.readonly:
            self.readonly = True
            self._render()
        if self.state.load_snapshot(snapshot):  # a stale one changes nothing
            self._render()
            if self.view.open_marker is not None:
                self.load_thread(self.view.open_marker)  # the snapshot may hold only its start
        if self._linked is not None:
            self._open_linked()

    # -- links to a thread (links.py) ----------------------------------------------------------

    def follow_link(self, found):
        """`found`: the (urlId, markerId) the page's address names, or None. A link to one of this
        image's threads opens it (once the snapshot is shown) and scrolls its pin into view."""
        if found is None or found[0] != self.url_id:
            return
        self._linked = found[1]
        if self.state.seq is not None:
            self._open_linked()

    def _open_linked(self):
        marker_id, self._linked = self._linked, None
        if self.state.marker(marker_id) is None:
            self.view.show_note(self.messages.t("link.deleted"))
        else:
            self.view.open_thread(marker_id)
            self.view.reveal(marker_id)

    def thread_link(self, marker_id):
        return thread_link(str(window.location.href), self.url_id, marker_id)

    def load_thread(self, marker_id):
        """Load the rest of a thread the snapshot holds only the start of (when it is opened)."""
        if self.state.needs_comments(marker_id) and marker_id not in self._walks:
            self._walks[marker_id] = spawn(self._walk_comments(marker_id))

    async def _walk_comments(self, marker_id):
        walk = CommentWalk(self.state, marker_id)
        try:
            while not walk.finished:
                try:
                    page = await self.api.comments(marker_id, walk.cursor, protocol.THREAD_PAGE_COMMENTS)
                except ApiError as error:
                    if error.code != protocol.COMMENT_NOT_FOUND:
                        raise
                    walk.cursor_gone()
                    continue
                if walk.take(page):
                    self._render()
            if self.state.needs_comments(marker_id):  # gave up: its pages kept changing
                self.view.show_error(self.messages.t("error.thread_changing"), marker_id=marker_id)
        except ApiError as error:
            # A deleted thread's event is on its way; anything else: shown, retried on reopening.
            if error.code != protocol.MARKER_NOT_FOUND and not self._refused_for_good(error):
                self.view.show_error(self.messages.t("error.thread", reason=self._reason(error)), marker_id=marker_id)
        finally:
            del self._walks[marker_id]
            self._render()

    def is_loading_thread(self, marker_id):
        return marker_id in self._walks

    async def _refresh(self):
        """Keep relative times fresh, and drop changes of sibling tabs that never completed."""
        while True:
            await asyncio.sleep(REFRESH_SECONDS)
            self.state.expire(now_ms())
            self._render()

    def _on_applied(self, event):
        """A server event, in seq order: for the host page's scripts and, when someone else
        started a thread, for screen readers."""
        from_me = self.state.is_own(event.get("broadcastId"))
        self.events.applied(event, from_me)
        marker = event.get("marker")
        if event["type"] == protocol.NEW_IMAGE_CHAT and not from_me and marker["author"]["id"] != self.identity.author_id:
            self.view.announce_new_thread(marker)

    def _render(self):
        self.view.render(self.state.ordered_markers(), self.state.unconfirmed_ids())
        self.events.confirmed(self.state)

    # -- from sibling tabs ---------------------------------------------------------------------

    def _on_sibling(self, message):
        kind = message.get("kind")
        if kind == "proposed":
            self.state.propose(message["broadcastId"], message["event"], now_ms())
            self._render()
        elif kind == "committed":
            self._apply(message["event"])
        elif kind == "rejected":
            self.state.rejected(message["broadcastId"])
            self._render()

    # -- the user's changes: shown at once (pending), then sent; rolled back if refused -------
    # Each change says where its refusal is to be shown: where the user acted, with what they
    # typed given back to retry.

    def create_marker(self, x, y, text):
        marker_id, comment_id, stamp = random_id(), random_id(), now_ms()
        comment = self._comment(comment_id, text, stamp)
        marker = {"id": marker_id, "x": x, "y": y, "author": self.identity.as_author(),
                  "createdAt": stamp, "comments": [comment]}
        body = {"urlId": self.url_id, "x": x, "y": y, "text": text, "id": marker_id, "commentId": comment_id}
        if self._submit({"type": protocol.NEW_IMAGE_CHAT, "marker": marker}, self.api.create_marker, body,
                        lambda message: self.view.refused_draft(x, y, text, message)):
            return marker_id
        return None

    def reply(self, marker_id, text):
        comment = self._comment(random_id(), text, now_ms())
        body = {"text": text, "id": comment["id"]}
        return self._submit(_updated(marker_id, protocol.COMMENT_ADDED, comment=comment),
                            lambda b: self.api.add_comment(marker_id, b), body,
                            lambda message: self.view.refused_reply(marker_id, text, message))

    def edit_comment(self, marker_id, comment_id, text):
        old = self._find_comment(marker_id, comment_id)
        if old is None:
            return False
        edited = dict(old)
        edited["text"], edited["updatedAt"] = text, now_ms()
        return self._submit(_updated(marker_id, protocol.COMMENT_EDITED, comment=edited),
                            lambda b: self.api.edit_comment(comment_id, b), {"text": text},
                            lambda message: self.view.refused_edit(marker_id, comment_id, text, message))

    def delete_comment(self, marker_id, comment_id):
        marker = self.state.marker(marker_id)
        if marker is None:
            return
        if comment_count(marker) == 1:  # the server deletes a thread with its last comment
            event = {"type": protocol.DELETED_IMAGE_CHAT, "markerId": marker_id}
        else:
            event = _updated(marker_id, protocol.COMMENT_DELETED, commentId=comment_id)
        self._submit(event, lambda b: self.api.delete_comment(comment_id, b["broadcastId"]), {},
                     self._refusal_at_marker(marker))

    def delete_marker(self, marker_id):
        marker = self.state.marker(marker_id)
        if marker is None:
            return
        self._submit({"type": protocol.DELETED_IMAGE_CHAT, "markerId": marker_id},
                     lambda b: self.api.delete_marker(marker_id, b["broadcastId"]), {},
                     self._refusal_at_marker(marker))

    def resolve_marker(self, marker_id, resolved):
        """Resolve the thread (or reopen it): shown at once, the server's time and name replace ours."""
        marker = self.state.marker(marker_id)
        if marker is None:
            return
        if resolved:
            event = _updated(marker_id, protocol.THREAD_RESOLVED, resolvedAt=now_ms(), resolvedBy=self.identity.name)
        else:
            event = _updated(marker_id, protocol.THREAD_REOPENED)
        self._submit(event, lambda b: self.api.resolve_marker(marker_id, b), {"resolved": resolved},
                     self._refusal_at_marker(marker))

    def _refusal_at_marker(self, marker):
        point = (marker["x"], marker["y"])
        return lambda message: self.view.show_error(message, marker_id=marker["id"], point=point)

    def can_change(self, point=None):
        """Changes need the live connection: offline, they fail at once and are never queued.
        `point`: where on the image the user asked for it, to say why not there."""
        if self.readonly:
            message = self.messages.t("notice.readonly")
        elif self.connection.state == CONNECTED:
            return True
        elif self.connection.state == REFUSED:
            message = self.messages.t("notice." + self.connection.refusal)
        elif self.connection.state == OFFLINE:
            message = self.messages.t("notice.offline")
        else:
            message = self.messages.t("notice.reconnecting")
        self.view.show_error(message, point=point)
        return False

    def _submit(self, event, send, body, on_refused):
        if len(body.get("text", "")) > protocol.MAX_COMMENT_CHARS:
            self.view.show_error(self.messages.t("compose.too_long", count=protocol.MAX_COMMENT_CHARS))
            return False
        if not self.can_change():
            return False
        broadcast_id = str(window.crypto.randomUUID())
        event["broadcastId"] = broadcast_id
        body["broadcastId"] = broadcast_id
        self.state.propose(broadcast_id, event, now_ms())
        self.tabs.post({"kind": "proposed", "broadcastId": broadcast_id, "event": event})
        self._render()
        spawn(self._send(broadcast_id, send, body, on_refused))
        return True

    async def _send(self, broadcast_id, send, body, on_refused):
        try:
            committed = await self.api.write(lambda: send(body))
        except ApiError as error:
            self.state.rejected(broadcast_id)
            self.tabs.post({"kind": "rejected", "broadcastId": broadcast_id})
            self._render()
            self._refused_for_good(error)
            on_refused(self.messages.t("error.not_saved", reason=self._reason(error)))
            return
        # The answer is the server's event itself: applied like the echo (which then changes
        # nothing), and handed to sibling tabs.
        self.state.accepted(broadcast_id, committed["seq"])
        self.tabs.post({"kind": "committed", "event": committed})
        self._apply(committed)

    def _reason(self, error):
        """A refusal in the reader's words, by the server's stable error code (its own message,
        in English, goes to the console)."""
        window.console.warn("ImageChat: %s (%s)" % (error.message, error.code))
        if error.code in REFUSED_FOR_GOOD:
            notice = self.messages.t("notice." + error.code)
            return notice[0].lower() + notice[1:]
        return self.messages.refusal(error.code)

    def _comment(self, comment_id, text, stamp):
        return {"id": comment_id, "author": self.identity.as_author(), "text": text,
                "createdAt": stamp, "updatedAt": stamp}

    def _find_comment(self, marker_id, comment_id):
        marker = self.state.marker(marker_id)
        for comment in marker["comments"] if marker else ():
            if comment["id"] == comment_id:
                return comment
        return None


def _updated(marker_id, change, **data):
    event = {"type": protocol.IMAGE_CHAT_UPDATED, "markerId": marker_id, "change": change}
    event.update(data)
    return event


def url_id_of(img):
    """`data-url-id`, or else the image's address without its #fragment."""
    chosen = img.getAttribute("data-url-id")
    if chosen:
        return str(chosen)
    return str(img.src).split("#")[0]


def linked_thread():
    """The (urlId, markerId) of the thread the page's address links to, or None."""
    return find_thread(str(window.location.hash), str(window.location.search))


def messages_for(img):
    """The reader's language (README, "Languages"): the image's `data-locale`, else the script
    tag's, else the page's `lang`, else the browser's languages; else English."""
    chosen = img.getAttribute("data-locale") or window.ImageChat.locale
    page = document.documentElement.getAttribute("lang")
    browser = str(window.navigator.languages.join(",")).split(",")
    return Messages(choose_locale(str(chosen) if chosen else None, str(page) if page else None, browser))


class Page:
    """Every widget of the page: one per marked image, including images added later (a
    single-page app rendering a new view), found by a MutationObserver."""

    def __init__(self):
        self.settings = window.ImageChat
        self.identities = {}  # one per tenant: session tokens are per tenant
        self.widgets = []
        # Hold back / let through live frames: lets tests (and curious developers) see cross-tab sync.
        self.settings.pauseLive = create_proxy(lambda: [w.connection.pause() for w in self.widgets] and None)
        self.settings.resumeLive = create_proxy(
            lambda lose=0: [w.connection.resume(lose) for w in self.widgets] and None)
        # ImageChat.mount / unmount (embed.js) ask for a look at the page at once.
        self.settings.scan = create_proxy(lambda: self.update())
        listen(window, "hashchange", lambda _e: [w.follow_link(linked_thread()) for w in self.widgets])
        observer = window.MutationObserver.new(create_proxy(lambda _records, _observer: self.update()))
        observer.observe(document.body, js_options({"childList": True, "subtree": True}))

    def update(self):
        self.mount_new()
        for widget in [w for w in self.widgets if not w.view.host.isConnected]:
            widget.stop()  # its image was taken off the page
            self.widgets.remove(widget)

    def mount_new(self):
        for img in document.querySelectorAll("img[data-image-chat]:not([data-image-chat-mounted])"):
            tenant = img.getAttribute("data-tenant")
            if not tenant:
                window.console.warn("ImageChat: an <img data-image-chat> needs data-tenant")
                img.setAttribute("data-image-chat-mounted", "no")
                continue
            tenant = str(tenant)
            img.setAttribute("data-image-chat-mounted", "")
            sso = img.getAttribute("data-sso")
            if tenant not in self.identities or sso:
                self.identities[tenant] = Identity(tenant, str(sso) if sso else None)
            widget = Widget(self.settings.host(img), tenant, url_id_of(img), str(self.settings.baseUrl),
                            self.identities[tenant], bool(img.hasAttribute("data-readonly")), messages_for(img))
            widget.start(self.settings.takeEarly(widget.api.snapshot_url(widget.url_id)))
            widget.follow_link(linked_thread())
            self.widgets.append(widget)
