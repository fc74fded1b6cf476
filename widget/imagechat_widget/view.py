"""The widget's DOM, inside a shadow root wrapped around the host page's <img>.

The user's text only ever goes through `textContent` and `value`, never through HTML parsing.
Input (clicks, keys, hovering, dragging the draft's pin) is handled by a few listeners delegated
from the shadow root, added once: re-rendering creates no listeners.
"""

import asyncio

from imagechat_widget import protocol
from imagechat_widget.browser import element, listen, store, stored
from imagechat_widget.compat import document, now_ms, spawn, window
from imagechat_widget.state import comment_count, is_partial, is_resolved, presence_label
from imagechat_widget.timefmt import relative_time

STATUS_TEXT = {
    "connecting": "Connecting…",
    "connected": "Live",
    "reconnecting": "Reconnecting…",
    "offline": "Offline",
    "refused": "Not available",
}
CALLOUT_SECONDS = 6
# Whether resolved threads' pins are shown (dimmed) or hidden: one choice per browser.
SHOW_RESOLVED_KEY = "imagechat.showResolved"
ARROWS = {"ArrowLeft": (-0.01, 0), "ArrowRight": (0.01, 0), "ArrowUp": (0, -0.01), "ArrowDown": (0, 0.01)}


class Actions:
    """What the view asks of its owner (the widget): the user's requests, and whether to offer them.
    The view knows nothing else of the widget."""

    readonly = False

    def can_change(self, point=None):
        """True if changes may be made now; else the owner says why (near `point`, if given)."""
        raise NotImplementedError

    def create_marker(self, x, y, text):
        """The new marker's id, or None if it was not sent."""
        raise NotImplementedError

    def reply(self, marker_id, text):
        raise NotImplementedError

    def edit_comment(self, marker_id, comment_id, text):
        raise NotImplementedError

    def delete_comment(self, marker_id, comment_id):
        raise NotImplementedError

    def delete_marker(self, marker_id):
        raise NotImplementedError

    def resolve_marker(self, marker_id, resolved):
        """Resolve the thread (True) or reopen it (False)."""
        raise NotImplementedError

    def load_thread(self, marker_id):
        """The thread was opened: load whatever of it is not loaded yet."""
        raise NotImplementedError

    def is_loading_thread(self, marker_id):
        raise NotImplementedError


class View:
    def __init__(self, host, identity, actions):
        """`host`: the <image-chat> element embed.js wrapped around the image, whose shadow root
        holds the widget's styles, the image's slot and the status pill (which said "Loading
        comments…" until now)."""
        self._identity = identity
        self._actions = actions
        self.host = host
        root = host.shadowRoot
        self.layer = element("div", "layer", data_action="place")
        self.status = root.querySelector(".status")
        # A message next to the point where the user acted, when no popover is there to hold it.
        self.callout = element("div", "error callout", role="alert")
        self.callout.hidden = True
        self.notice = element("div", "notice", role="status")
        self.notice.hidden = True
        self.popover = element("div", "popover", role="dialog")
        self.popover.hidden = True
        root.insertBefore(self.layer, self.status)  # under the pill
        self.show_resolved = stored(SHOW_RESOLVED_KEY) != "0"
        self.controls = self._build_controls()
        for node in (self.controls, self.notice, self.popover, self.callout):
            root.appendChild(node)
        self._pins = {}
        self._markers = []
        self._unconfirmed = set()
        self.mode = None  # None, "draft", "thread" or "list" (every thread of the image)
        self.draft_at = None
        self.open_marker = None
        self.editing = None
        self._edit_text = None  # given back after a refused edit
        self._callout_task = None
        self.preview = element("div", "preview", aria_hidden="true")  # a pin's first comment, on hover
        self.preview.hidden = True
        root.appendChild(self.preview)
        self._dragging = False  # the draft's pin follows the pointer
        listen(root, "click", self._on_click)
        listen(root, "keydown", self._on_key)
        listen(root, "mouseover", self._on_hover)
        listen(host, "mouseleave", self._hide_preview)
        listen(root, "pointerdown", self._on_pointer_down)
        listen(root, "pointermove", self._on_pointer_move)
        listen(root, "pointerup", self._on_pointer_up)
        listen(window, "resize", lambda _e: self._place_popover())

    # -- rendering -----------------------------------------------------------------------------

    def render(self, markers, unconfirmed):
        """`unconfirmed`: ids of markers and comments the server has not confirmed yet."""
        self._markers = markers
        self._unconfirmed = unconfirmed
        self._render_pins()
        if self.mode == "list":
            self._render_list()
        elif self.mode == "thread":
            if self.marker_number(self.open_marker) is None:
                self.close()  # deleted, here or elsewhere
            else:
                self._render_thread()

    def marker_number(self, marker_id):
        for number, marker in enumerate(self._markers, 1):
            if marker["id"] == marker_id:
                return number
        return None

    def set_status(self, state, notice=None):
        """The connection's state in the corner pill, and a notice over the image when changes
        cannot be made (offline, reconnecting)."""
        self.status.setAttribute("data-state", state)
        self.status.textContent = STATUS_TEXT.get(state, state)
        self.notice.hidden = notice is None
        self.notice.textContent = notice or ""

    def show_presence(self, count, names):
        """The badge in the image's top-right corner: how many look at it now, and who (hidden
        when the user is alone). Made on first use: a widget that never hears of others has none."""
        text, tooltip = presence_label(count, names)
        badge = self.host.shadowRoot.querySelector(".presence")
        if not badge:  # querySelector's null is not None in Pyodide
            if not text:
                return
            badge = element("div", "presence")
            self.host.shadowRoot.appendChild(badge)
        badge.hidden = not text
        badge.textContent = text
        badge.title = tooltip

    def show_error(self, message, point=None, marker_id=None):
        """Say why something failed where the user acted, inside the viewport: in the open
        thread of `marker_id` (or the open popover), else next to `point` (fractions of the image)
        or, with neither, over the visible part of the image."""
        if marker_id is not None and marker_id == self.open_marker:
            self._show_in_popover(message)
        elif point is not None:
            self._show_callout(message, point)
        elif self.mode is not None:
            self._show_in_popover(message)
        else:
            self._show_callout(message, None)

    def refused_draft(self, x, y, text, message):
        """A new thread the server refused (its pin is gone): the draft comes back at its spot
        with its text, unless the user has moved on to another one."""
        if self.mode is None:
            self.open_draft(x, y)
            self.popover.querySelector("textarea.message").value = text
            self._show_in_popover(message)
        else:
            self._show_callout(message, (x, y))

    def refused_reply(self, marker_id, text, message):
        if marker_id == self.open_marker:
            box = self.popover.querySelector("textarea.message")
            if box and not str(box.value).strip():
                box.value = text  # back to retry
        self.show_error(message, marker_id=marker_id, point=self._point_of(marker_id))

    def refused_edit(self, marker_id, comment_id, text, message):
        if marker_id == self.open_marker and self.editing is None:
            self.editing, self._edit_text = comment_id, text  # back in the editor, to retry
            self._render_thread()
        self.show_error(message, marker_id=marker_id, point=self._point_of(marker_id))

    def _show_in_popover(self, message):
        error = self.popover.querySelector(".error")
        if not error:  # querySelector's null is not None in Pyodide
            error = element("p", "error", role="alert")
            anchor = self.popover.querySelector(".compose") or self.popover.querySelector("footer")
            self.popover.insertBefore(error, anchor)
        error.textContent = message
        self._place_popover()

    def _clear_popover_error(self):
        error = self.popover.querySelector(".error")
        if error:
            error.remove()
            self._place_popover()

    def _show_callout(self, message, point):
        self.callout.textContent = message
        self.callout.hidden = False
        if point is None:  # the middle of the image's visible part
            host = self.host.getBoundingClientRect()
            top, bottom = max(host.top, 0), min(host.bottom, window.innerHeight)
            point = (0.5, ((top + bottom) / 2 - host.top) / host.height if host.height else 0.5)
        self._place_beside(self.callout, point[0], point[1])
        if self._callout_task is not None:
            self._callout_task.cancel()
        self._callout_task = spawn(self._hide_callout())

    async def _hide_callout(self):
        await asyncio.sleep(CALLOUT_SECONDS)
        self.callout.hidden = True

    def _point_of(self, marker_id):
        marker = self._marker(marker_id)
        return (marker["x"], marker["y"]) if marker else None

    def _render_pins(self):
        seen = set()
        pins = [(m["id"], m, str(n)) for n, m in enumerate(self._markers, 1)]
        if self.mode == "draft":
            pins.append(("draft", {"x": self.draft_at[0], "y": self.draft_at[1], "comments": []}, "+"))
        for marker_id, marker, label in pins:
            seen.add(marker_id)
            pin = self._pins.get(marker_id)
            if pin is None:
                pin = element("button", "pin", type="button", data_action="open", data_marker=marker_id)
                self.layer.appendChild(pin)
                self._pins[marker_id] = pin
            pin.textContent = label
            pin.style.left = "%.4f%%" % (marker["x"] * 100)
            pin.style.top = "%.4f%%" % (marker["y"] * 100)
            pin.classList.toggle("open", marker_id == self.open_marker)
            pin.classList.toggle("draft", marker_id == "draft")
            pending = marker_id in self._unconfirmed
            pin.classList.toggle("pending", pending)
            resolved = is_resolved(marker)
            if resolved:
                pin.setAttribute("data-resolved", "")
            else:
                pin.removeAttribute("data-resolved")
            # Hidden by the toggle, unless the user has its thread open (just resolved it, say).
            pin.hidden = resolved and not self.show_resolved and marker_id != self.open_marker
            first = marker["comments"][0] if marker["comments"] else None
            summary = "%s: %s" % (first["author"]["name"], first["text"][:80]) if first else "new thread"
            count = comment_count(marker)
            if count > 1:
                summary += " (%d comments)" % count
            if resolved:
                summary += " (resolved)"
            if pending:
                summary += " (sending…)"
            pin.setAttribute("aria-label", "Thread %s, %s" % (label, summary))
        for marker_id in [i for i in self._pins if i not in seen]:
            self._pins.pop(marker_id).remove()
        self._render_controls()

    def _render_thread(self):
        marker = self._marker(self.open_marker)
        own = self._identity.author_id
        writable = not self._actions.readonly
        moderator = writable and self._identity.can_moderate
        editor = self.popover.querySelector(".edit-text")
        edit_draft = str(editor.value) if editor else self._edit_text
        self._edit_text = None
        comments = self.popover.querySelector(".comments")
        scrolled = comments.scrollTop  # a re-render must not move what the user reads
        comments.replaceChildren()
        now = now_ms()
        for comment in marker["comments"]:
            pending = comment["id"] in self._unconfirmed
            item = element("li", "comment pending" if pending else "comment", data_comment=comment["id"])
            meta = element("div", "meta")
            meta.appendChild(element("span", "author", comment["author"]["name"]))
            if pending:
                stamp = "sending…"
            else:
                stamp = relative_time(comment["createdAt"], now)
                if comment["updatedAt"] != comment["createdAt"]:
                    stamp += " · edited"
            meta.appendChild(element("span", "time", stamp))
            item.appendChild(meta)
            if comment["id"] == self.editing:
                box = element("textarea", "edit-text", aria_label="Edit your comment")
                box.value = edit_draft if edit_draft is not None else comment["text"]
                item.appendChild(box)
                item.appendChild(_buttons(("secondary", "cancel-edit", "Cancel"), ("primary", "save-edit", "Save")))
            else:
                item.appendChild(element("p", "text", comment["text"]))
                mine = writable and comment["author"]["id"] == own
                if mine or moderator:
                    actions = element("div", "comment-actions")
                    if mine:
                        actions.appendChild(element("button", "link", "Edit", type="button", data_action="edit"))
                    actions.appendChild(
                        element("button", "link danger", "Delete", type="button", data_action="delete-comment")
                    )
                    item.appendChild(actions)
            comments.appendChild(item)
        if is_partial(marker):
            missing = comment_count(marker) - len(marker["comments"])
            if missing > 0:
                more = "%d more comment%s" % (missing, "" if missing == 1 else "s")
                loading = self._actions.is_loading_thread(marker["id"])
                comments.appendChild(element("li", "loading", ("Loading %s…" if loading else "%s not loaded") % more))
        comments.scrollTop = scrolled
        resolution = self.popover.querySelector(".resolution")
        resolution.hidden = not is_resolved(marker)
        if is_resolved(marker):
            resolution.textContent = "✓ Resolved by %s · %s" % (marker["resolvedBy"], relative_time(marker["resolvedAt"], now))
        footer = self.popover.querySelector("footer")
        footer.replaceChildren()
        if writable and (marker["author"]["id"] == own or moderator):
            if is_resolved(marker):
                footer.appendChild(element("button", "link", "Reopen", type="button", data_action="reopen"))
            else:
                footer.appendChild(element("button", "link", "Resolve", type="button", data_action="resolve"))
            footer.appendChild(
                element("button", "link danger", "Delete marker", type="button", data_action="delete-marker")
            )
        self.popover.querySelector("header .title").textContent = "Thread #%d" % self.marker_number(marker["id"])
        count = comment_count(marker)
        self.popover.querySelector("header .count").textContent = (
            "%d comment%s" % (count, "" if count == 1 else "s"))
        self._place_popover()

    def _build_controls(self):
        """The small controls in the image's corner: the thread list's button and the "show
        resolved" toggle."""
        controls = element("div", "controls")
        threads = element("button", "list-toggle", type="button", data_action="list", aria_haspopup="dialog")
        threads.hidden = True  # until there is a thread
        controls.appendChild(threads)
        toggle = element("label", "resolved-toggle")
        toggle.hidden = True  # until there is a resolved thread
        box = element("input", "", type="checkbox", data_action="toggle-resolved")
        box.checked = self.show_resolved
        toggle.appendChild(box)
        toggle.appendChild(element("span", "", "Show resolved"))
        controls.appendChild(toggle)
        return controls

    def _render_controls(self):
        """Each control shows only while it has something to act on, with how many."""
        resolved = len([m for m in self._markers if is_resolved(m)])
        toggle = self.controls.querySelector(".resolved-toggle")
        toggle.hidden = resolved == 0
        toggle.querySelector("span").textContent = "Show resolved (%d)" % resolved
        threads = self.controls.querySelector(".list-toggle")
        threads.hidden = not self._markers
        threads.textContent = "Threads (%d)" % len(self._markers)

    # -- opening and closing -------------------------------------------------------------------

    def open_list(self):
        """Every thread of the image, unresolved first, each with its first comment and count;
        a click opens it."""
        self.mode, self.draft_at, self.open_marker, self.editing = "list", None, None, None
        self.popover.replaceChildren()
        header = element("header")
        header.appendChild(element("span", "title", "Threads"))
        header.appendChild(element("span", "count"))
        header.appendChild(element("button", "close", "×", type="button", data_action="close", aria_label="Close"))
        self.popover.appendChild(header)
        self.popover.appendChild(element("ol", "thread-list"))
        self.popover.hidden = False
        self._render_pins()
        self._render_list()

    def _render_list(self):
        numbered = list(enumerate(self._markers, 1))  # pins' numbers: the order they were dropped
        numbered.sort(key=lambda item: (is_resolved(item[1]), item[0]))
        items = self.popover.querySelector(".thread-list")
        items.replaceChildren()
        for number, marker in numbered:
            item = element("li")
            entry = element("button", "thread-entry", type="button", data_action="open", data_marker=marker["id"])
            if is_resolved(marker):
                entry.setAttribute("data-resolved", "")
            entry.appendChild(element("span", "number", "#%d" % number))
            first = marker["comments"][0] if marker["comments"] else None
            entry.appendChild(element("span", "first", "%s: %s" % (first["author"]["name"], first["text"]) if first else ""))
            count = comment_count(marker)
            entry.appendChild(element("span", "count", "✓ %d" % count if is_resolved(marker) else str(count),
                                      title="%d comment%s%s" % (count, "" if count == 1 else "s",
                                                                ", resolved" if is_resolved(marker) else "")))
            item.appendChild(entry)
            items.appendChild(item)
        count = len(numbered)
        self.popover.querySelector("header .count").textContent = "%d thread%s" % (count, "" if count == 1 else "s")
        self._place_popover()

    def open_draft(self, x, y):
        self.mode, self.draft_at, self.open_marker, self.editing = "draft", (x, y), None, None
        self._build_popover("New thread", "Add a comment…", "Comment", "submit-draft", with_cancel=True)
        self._render_pins()
        self._place_popover()
        self._focus_composer()

    def open_thread(self, marker_id):
        self.mode, self.draft_at, self.open_marker, self.editing = "thread", None, marker_id, None
        self._build_popover("", "Reply…", "Reply", "reply", with_cancel=False)
        self.popover.insertBefore(element("ol", "comments"), self.popover.querySelector(".compose"))
        self.popover.insertBefore(element("p", "resolution", role="status"), self.popover.querySelector(".comments"))
        if self._actions.readonly:
            self.popover.querySelector(".compose").remove()
        self.popover.appendChild(element("footer"))
        self._render_pins()
        self._render_thread()
        self._actions.load_thread(marker_id)

    def close(self):
        self.mode, self.draft_at, self.open_marker, self.editing = None, None, None, None
        self.popover.hidden = True
        self.popover.replaceChildren()
        self._render_pins()

    def _build_popover(self, title, placeholder, submit_label, submit_action, with_cancel):
        self.popover.replaceChildren()
        header = element("header")
        header.appendChild(element("span", "title", title))
        header.appendChild(element("span", "count"))
        header.appendChild(element("button", "close", "×", type="button", data_action="close", aria_label="Close"))
        self.popover.appendChild(header)
        compose = element("div", "compose")
        compose.appendChild(self._identity_row())
        compose.appendChild(element("textarea", "message", placeholder=placeholder, aria_label=placeholder))
        buttons = [("primary", submit_action, submit_label)]
        if with_cancel:
            buttons.insert(0, ("secondary", "close", "Cancel"))
        compose.appendChild(_buttons(*buttons))
        self.popover.appendChild(compose)
        self.popover.hidden = False

    def _identity_row(self, renaming=False):
        if renaming or not (self._identity.name or self._identity.sso):
            field = element("input", "name", placeholder="Your name", aria_label="Your name", maxlength="60")
            field.value = self._identity.name or ""
            return field
        row = element("div", "identity")
        row.appendChild(document.createTextNode("Commenting as "))
        row.appendChild(element("b", "", self._identity.name or "…"))
        if not self._identity.sso:  # a signed-on user's name is the site's to change
            row.appendChild(document.createTextNode(" · "))
            row.appendChild(element("button", "link", "change", type="button", data_action="rename"))
        return row

    def _focus_composer(self):
        name = self.popover.querySelector("input.name")
        target = name if name and not str(name.value) else self.popover.querySelector("textarea.message")
        target.focus()

    def _place_popover(self):
        if self.mode == "draft":
            self._place_beside(self.popover, self.draft_at[0], self.draft_at[1])
        elif self.mode == "list":  # above the corner's controls
            self.popover.style.left = "8px"
            self.popover.style.top = "%dpx" % max(8, self.controls.offsetTop - self.popover.offsetHeight - 8)
        elif self.mode == "thread" and self._marker(self.open_marker) is not None:
            marker = self._marker(self.open_marker)
            self._place_beside(self.popover, marker["x"], marker["y"])

    def _place_beside(self, node, x, y):
        """Beside the point (fractions of the image), flipped and clamped so that it stays
        inside the viewport."""
        host = self.host.getBoundingClientRect()
        width, height = node.offsetWidth, node.offsetHeight
        viewport_width = document.documentElement.clientWidth
        viewport_height = window.innerHeight
        pin_x, pin_y, gap, margin = x * host.width, y * host.height, 22, 8
        left = pin_x + gap
        if host.left + left + width > viewport_width - margin:
            left = pin_x - gap - width
        top = pin_y - 24
        left = max(margin - host.left, min(left, viewport_width - margin - width - host.left))
        top = max(margin - host.top, min(top, viewport_height - margin - height - host.top))
        node.style.left = "%dpx" % left
        node.style.top = "%dpx" % top

    def _marker(self, marker_id):
        for marker in self._markers:
            if marker["id"] == marker_id:
                return marker
        return None

    # -- input ---------------------------------------------------------------------------------

    def _on_click(self, event):
        self._hide_preview()
        target = event.target.closest("[data-action]")
        if not target:
            return
        action = str(target.getAttribute("data-action"))
        if action == "place":
            if not event.target.isSameNode(self.layer):
                return
            draft = self.popover.querySelector("textarea.message")
            if self.mode == "draft" and draft and str(draft.value).strip():
                draft.focus()  # never throw away a half-written comment
                return
            width, height = self.layer.clientWidth, self.layer.clientHeight
            # As the server keeps it: the pin of the proposal sits where the server's will.
            x = protocol.round_position(min(1, max(0, event.offsetX / width))) if width else 0.5
            y = protocol.round_position(min(1, max(0, event.offsetY / height))) if height else 0.5
            if self._actions.can_change(point=(x, y)):
                self.open_draft(x, y)
        elif action == "open":
            marker_id = str(target.getAttribute("data-marker"))
            if marker_id == "draft":
                self._focus_composer()
            elif marker_id == self.open_marker:
                self.close()
            else:
                self.open_thread(marker_id)
        elif action == "close":
            self.close()
        elif action == "rename":
            target.parentNode.replaceWith(self._identity_row(renaming=True))
            self.popover.querySelector("input.name").focus()
        else:
            self._act(action, target)

    def _on_hover(self, event):
        """Over a pin (not the open one, nor the draft's): its first comment on one line beside it."""
        pin = event.target.closest(".pin")
        marker = self._marker(str(pin.getAttribute("data-marker"))) if pin else None
        if marker is None or marker["id"] == self.open_marker or not marker["comments"] or self._dragging:
            self.preview.hidden = True
            return
        first = marker["comments"][0]
        self.preview.replaceChildren(element("b", "", first["author"]["name"]), element("span", "", first["text"]))
        self.preview.hidden = False
        self._place_beside(self.preview, marker["x"], marker["y"])

    def _hide_preview(self, _event=None):
        self.preview.hidden = True

    def _on_pointer_down(self, event):
        """The draft's pin may be dragged to adjust where the new thread goes."""
        if self.mode == "draft" and event.target.closest(".pin.draft"):
            self._dragging = True
            event.target.setPointerCapture(event.pointerId)
            event.preventDefault()

    def _on_pointer_move(self, event):
        if not self._dragging or self.mode != "draft":
            return
        box = self.layer.getBoundingClientRect()
        if box.width and box.height:
            self._move_draft((event.clientX - box.left) / box.width, (event.clientY - box.top) / box.height)

    def _on_pointer_up(self, _event):
        self._dragging = False

    def _move_draft(self, x, y):
        self.draft_at = (protocol.round_position(min(1, max(0, x))), protocol.round_position(min(1, max(0, y))))
        self._render_pins()
        self._place_popover()

    def _on_key(self, event):
        key = str(event.key)
        if key in ARROWS and self.mode == "draft" and event.target.closest(".pin.draft"):
            event.preventDefault()  # the keyboard's way to drag it: 1% of the image a press
            dx, dy = ARROWS[key]
            self._move_draft(self.draft_at[0] + dx, self.draft_at[1] + dy)
            return
        if key == "Escape" and self.mode is not None:
            if self.editing is not None:
                self.editing = None
                self._render_thread()
            else:
                self.close()
        elif key == "Enter" and (event.ctrlKey or event.metaKey):
            if str(event.target.tagName) == "TEXTAREA":
                event.preventDefault()
                if event.target.classList.contains("edit-text"):
                    self._act("save-edit", event.target)
                else:
                    self._act("submit-draft" if self.mode == "draft" else "reply", event.target)

    def _act(self, action, target):
        comment_item = target.closest("[data-comment]")
        comment_id = str(comment_item.getAttribute("data-comment")) if comment_item else None
        if action in ("submit-draft", "reply", "save-edit"):
            self._clear_popover_error()  # a new attempt: the last one's reason is old news
        if action in ("submit-draft", "reply"):
            message = self.popover.querySelector("textarea.message")
            text = str(message.value).strip()
            if not text or not self._take_name():
                (message if not text else self.popover.querySelector("input.name")).focus()
                return
            if action == "submit-draft":
                marker_id = self._actions.create_marker(self.draft_at[0], self.draft_at[1], text)
                if marker_id is None:
                    return  # not sent: the draft stays, with the reason shown
                self.open_thread(marker_id)
            elif self._actions.reply(self.open_marker, text):
                message.value = ""
            self.popover.querySelector("textarea.message").focus()
        elif action == "edit":
            self.editing = comment_id
            self._render_thread()
            self.popover.querySelector(".edit-text").focus()
        elif action == "cancel-edit":
            self.editing = None
            self._render_thread()
        elif action == "save-edit":
            text = str(self.popover.querySelector(".edit-text").value).strip()
            if text and self._actions.edit_comment(self.open_marker, self.editing, text):
                self.editing = None
                self._render_thread()
        elif action == "delete-comment":
            if window.confirm("Delete this comment?"):
                self._actions.delete_comment(self.open_marker, comment_id)
        elif action == "delete-marker":
            if window.confirm("Delete this marker and its whole thread?"):
                self._actions.delete_marker(self.open_marker)
        elif action in ("resolve", "reopen"):
            self._actions.resolve_marker(self.open_marker, action == "resolve")
        elif action == "list":
            if self.mode == "list":
                self.close()
            else:
                self.open_list()
        elif action == "toggle-resolved":
            self.show_resolved = bool(target.checked)
            store(SHOW_RESOLVED_KEY, "1" if self.show_resolved else "0")
            self._render_pins()

    def _take_name(self):
        """Keep the name typed in the composer, if any. False when a name is needed but empty."""
        field = self.popover.querySelector("input.name")
        if not field:
            return True
        name = " ".join(str(field.value).split())
        if not name:
            self.show_error("Please enter your name first.")
            return False
        self._identity.set_name(name)
        field.replaceWith(self._identity_row())
        return True


def _buttons(*specs):
    row = element("div", "actions")
    for style, action, label in specs:
        row.appendChild(element("button", style, label, type="button", data_action=action))
    return row
