"""One widget per marked image: state, view, REST and the live connection, tied together."""

import asyncio

from pyscript import document, window

from imagechat_widget import state as events
from imagechat_widget.api import Api, ApiError
from imagechat_widget.browser import AUTHOR_KEY, NAME_KEY, now_ms, random_id, store, stored
from imagechat_widget.connection import Connection
from imagechat_widget.state import ImageState
from imagechat_widget.view import View

MAX_COMMENT_CHARS = 2000
REFRESH_TIMES_SECONDS = 30
LIVE_EVENTS = (events.NEW_IMAGE_CHAT, events.IMAGE_CHAT_UPDATED, events.DELETED_IMAGE_CHAT)


class Identity:
    """The display name the user chose and a stable anonymous author id, kept in localStorage."""

    def __init__(self):
        self.author_id = stored(AUTHOR_KEY)
        if not self.author_id:
            self.author_id = random_id()
            store(AUTHOR_KEY, self.author_id)
        self.name = stored(NAME_KEY) or ""

    def set_name(self, name):
        self.name = name
        store(NAME_KEY, name)

    def as_author(self):
        return {"id": self.author_id, "name": self.name}


class Widget:
    def __init__(self, img, tenant, url_id, base_url, stylesheet_url, identity):
        self.url_id = url_id
        self.identity = identity
        self.state = ImageState()
        self.view = View(img, stylesheet_url, identity, self)
        self.api = Api(base_url, tenant, identity)
        live_url = base_url.replace("http", "ws", 1) + "api/v1/live"
        subscription = {"type": "subscribe", "tenant": tenant, "urlId": url_id}
        self.connection = Connection(live_url, subscription, self._on_frame, self.view.set_status)
        self._resyncing = None

    def start(self):
        self.connection.start()
        asyncio.ensure_future(self._refresh_times())

    # -- from the server -----------------------------------------------------------------------

    def _on_frame(self, frame):
        kind = frame.get("type")
        if kind == "subscribed":
            self.resync()
        elif kind in LIVE_EVENTS:
            if self.state.receive(frame):
                self._render()
            if self.state.has_gap:
                self.resync()
        elif kind == "error":
            window.console.warn("ImageChat: " + str(frame.get("message")))

    def resync(self):
        if self._resyncing is None or self._resyncing.done():
            self._resyncing = asyncio.ensure_future(self._load_snapshot())

    async def _load_snapshot(self):
        try:
            snapshot = await self.api.snapshot(self.url_id)
        except ApiError as error:
            self.view.show_error("Could not load this image's comments: " + error.message)
            return
        if self.state.load_snapshot(snapshot):
            self._render()

    async def _refresh_times(self):
        while True:
            await asyncio.sleep(REFRESH_TIMES_SECONDS)
            self._render()

    def _render(self):
        self.view.render(self.state.ordered_markers())

    # -- the user's changes: shown at once, then sent; rolled back if refused ------------------

    def create_marker(self, x, y, text):
        marker_id, comment_id, stamp = random_id(), random_id(), now_ms()
        comment = self._comment(comment_id, text, stamp)
        marker = {"id": marker_id, "x": x, "y": y, "author": self.identity.as_author(),
                  "createdAt": stamp, "comments": [comment]}
        body = {"urlId": self.url_id, "x": x, "y": y, "text": text, "id": marker_id, "commentId": comment_id}
        self._change({"type": events.NEW_IMAGE_CHAT, "marker": marker}, self.api.create_marker, body)
        return marker_id

    def reply(self, marker_id, text):
        comment = self._comment(random_id(), text, now_ms())
        body = {"text": text, "id": comment["id"]}
        self._change(_updated(marker_id, events.COMMENT_ADDED, comment=comment),
                     lambda b: self.api.add_comment(marker_id, b), body)

    def edit_comment(self, marker_id, comment_id, text):
        old = self._find_comment(marker_id, comment_id)
        if old is None:
            return
        edited = dict(old)
        edited["text"], edited["updatedAt"] = text, now_ms()
        self._change(_updated(marker_id, events.COMMENT_EDITED, comment=edited),
                     lambda b: self.api.edit_comment(comment_id, b), {"text": text})

    def delete_comment(self, marker_id, comment_id):
        marker = self.state.marker(marker_id)
        if marker is None:
            return
        if len(marker["comments"]) == 1:  # the server deletes a thread with its last comment
            event = {"type": events.DELETED_IMAGE_CHAT, "markerId": marker_id}
        else:
            event = _updated(marker_id, events.COMMENT_DELETED, commentId=comment_id)
        self._change(event, lambda b: self.api.delete_comment(comment_id, b["broadcastId"]), {})

    def delete_marker(self, marker_id):
        self._change({"type": events.DELETED_IMAGE_CHAT, "markerId": marker_id},
                     lambda b: self.api.delete_marker(marker_id, b["broadcastId"]), {})

    def _change(self, event, send, body):
        if len(body.get("text", "")) > MAX_COMMENT_CHARS:
            self.view.show_error("Comments are limited to %d characters." % MAX_COMMENT_CHARS)
            return
        broadcast_id = str(window.crypto.randomUUID())
        event["broadcastId"] = broadcast_id
        body["broadcastId"] = broadcast_id
        self.state.propose(broadcast_id, event)
        self._render()
        asyncio.ensure_future(self._send(broadcast_id, send, body))

    async def _send(self, broadcast_id, send, body):
        try:
            result = await send(body)
        except ApiError as error:
            self.state.rejected(broadcast_id)
            self._render()
            self.view.show_error("Not saved: " + error.message)
            return
        self.state.accepted(broadcast_id, result["seq"])

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
    event = {"type": events.IMAGE_CHAT_UPDATED, "markerId": marker_id, "change": change}
    event.update(data)
    return event


def url_id_of(img):
    """`data-url-id`, or else the image's address without its #fragment."""
    chosen = img.getAttribute("data-url-id")
    if chosen:
        return str(chosen)
    return str(img.src).split("#")[0]


def mount_all():
    settings = window.ImageChat
    identity = Identity()
    widgets = []
    for img in document.querySelectorAll("img[data-image-chat]:not([data-image-chat-mounted])"):
        tenant = img.getAttribute("data-tenant")
        if not tenant:
            window.console.warn("ImageChat: an <img data-image-chat> needs data-tenant")
            continue
        img.setAttribute("data-image-chat-mounted", "")
        widget = Widget(img, str(tenant), url_id_of(img), str(settings.baseUrl), str(settings.stylesheet), identity)
        widget.start()
        widgets.append(widget)
    return widgets
