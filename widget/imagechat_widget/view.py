"""The widget's DOM, inside a shadow root wrapped around the host page's <img>.

The user's text only ever goes through `textContent` and `value`, never through HTML parsing.
Input (clicks, keys, hovering, dragging the draft's pin) is handled by a few listeners delegated
from the shadow root, added once: re-rendering creates no listeners.
"""

import asyncio

from imagechat_widget import a11y, protocol
from imagechat_widget.browser import copy_text, element, listen, scroll_into_view, store, stored
from imagechat_widget.compat import document, now_ms, spawn, window
from imagechat_widget.messages import ENGLISH
from imagechat_widget.state import comment_count, is_partial, is_resolved, presence_label
from imagechat_widget.timefmt import relative_time

CALLOUT_SECONDS = 6
# Whether resolved threads' pins are shown (dimmed) or hidden: one choice per browser.
SHOW_RESOLVED_KEY = "imagechat.showResolved"
ARROWS = {"ArrowLeft": (-0.01, 0), "ArrowRight": (0.01, 0), "ArrowUp": (0, -0.01), "ArrowDown": (0, 0.01)}
SHIFT_STEPS = 5  # Shift+arrow moves the crosshair or the draft's pin 5% of the image


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

    def thread_link(self, marker_id):
        """The address that opens this page with the thread open (links.py)."""
        raise NotImplementedError


class View:
    def __init__(self, host, identity, actions, messages=ENGLISH):
        """`host`: the <image-chat> element embed.js wrapped around the image, whose shadow root
        holds the widget's styles, the image's slot and the status pill (which said "Loading
        comments…" until now). `messages`: the reader's language (`messages.Messages`)."""
        self._m = messages
        self._identity = identity
        self._actions = actions
        self.host = host
        root = host.shadowRoot
        self.layer = element("div", "layer", data_action="place", role="group")
        self.status = root.querySelector(".status")
        # A message next to the point where the user acted, when no popover is there to hold it.
        self.callout = element("div", "error callout", role="alert")
        self.callout.hidden = True
        self.notice = element("div", "notice", role="status")
        self.notice.hidden = True
        # Named by its title; focused when opened from the keyboard.
        self.popover = element("div", "popover", role="dialog", tabindex="-1", aria_labelledby="popover-title")
        self.popover.hidden = True
        # The keyboard's way to add a comment: Enter on the focused image shows a crosshair.
        self.crosshair_at = None
        self.crosshair = element("div", "crosshair", aria_hidden="true")
        self.crosshair.hidden = True
        self.layer.appendChild(self.crosshair)
        # Polite announcements for screen readers (other users' new threads): never takes focus.
        self.announcer = element("div", "visually-hidden", role="status", aria_live="polite")
        root.insertBefore(self.layer, self.status)  # under the pill
        self.show_resolved = stored(SHOW_RESOLVED_KEY) != "0"
        self.controls = self._build_controls()
        for node in (self.controls, self.notice, self.popover, self.callout, self.announcer):
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
        listen(self.layer, "focusout", self._on_layer_blur)

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
        self.status.textContent = self._m.t("status." + state)
        self.notice.hidden = notice is None
        self.notice.textContent = notice or ""

    def show_presence(self, count, names):
        """The badge in the image's top-right corner: how many look at it now, and who (hidden
        when the user is alone). Made on first use: a widget that never hears of others has none."""
        text, tooltip = presence_label(count, names, self._m)
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
            if marker_id == "draft":
                pin.setAttribute("aria-label", self._m.t("a11y.draft_pin"))
            else:
                pin.setAttribute("aria-label", a11y.pin_label(self._m, int(label), len(self._markers), marker,
                                                              comment_count(marker), resolved, pending))
        for marker_id in [i for i in self._pins if i not in seen]:
            self._pins.pop(marker_id).remove()
        self._keep_pins_in_order([marker_id for marker_id, _marker, _label in pins])
        self._render_layer()
        self._render_controls()

    def _keep_pins_in_order(self, order):
        """The pins' buttons in their numbers' order, the order Tab and screen readers take
        (a thread made elsewhere earlier may arrive late). Moved only when out of order: moving a
        button takes its focus away."""
        if [str(pin.getAttribute("data-marker")) for pin in self.layer.querySelectorAll(".pin")] != order:
            for marker_id in order:
                self.layer.appendChild(self._pins[marker_id])

    def _render_layer(self):
        """The image's own focus stop: Enter adds a comment there, unless view-only."""
        if self._actions.readonly:
            self.layer.removeAttribute("tabindex")
            self.layer.setAttribute("aria-label", self._m.t("a11y.image_readonly"))
        else:
            self.layer.setAttribute("tabindex", "0")
            self.layer.setAttribute("aria-label", self._m.t("a11y.image"))
        self.crosshair.hidden = self.crosshair_at is None
        if self.crosshair_at is not None:
            self.crosshair.style.left = "%.4f%%" % (self.crosshair_at[0] * 100)
            self.crosshair.style.top = "%.4f%%" % (self.crosshair_at[1] * 100)

    def announce(self, text):
        """Say `text` politely to screen readers (the live region), without moving focus."""
        self.announcer.textContent = text

    def announce_new_thread(self, marker):
        self.announce(a11y.new_thread_announcement(self._m, marker))

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
                stamp = self._m.t("thread.sending")
            else:
                stamp = relative_time(comment["createdAt"], now, self._m)
                if comment["updatedAt"] != comment["createdAt"]:
                    stamp = self._m.t("thread.edited", time=stamp)
            meta.appendChild(element("span", "time", stamp))
            item.appendChild(meta)
            if comment["id"] == self.editing:
                box = element("textarea", "edit-text", aria_label=self._m.t("compose.edit_label"))
                box.value = edit_draft if edit_draft is not None else comment["text"]
                item.appendChild(box)
                item.appendChild(_buttons(("secondary", "cancel-edit", self._m.t("action.cancel")),
                                         ("primary", "save-edit", self._m.t("action.save"))))
            else:
                item.appendChild(element("p", "text", comment["text"]))
                mine = writable and comment["author"]["id"] == own
                if mine or moderator:
                    actions = element("div", "comment-actions")
                    if mine:
                        actions.appendChild(element("button", "link", self._m.t("action.edit"), type="button", data_action="edit"))
                    actions.appendChild(
                        element("button", "link danger", self._m.t("action.delete"), type="button",
                                data_action="delete-comment")
                    )
                    item.appendChild(actions)
            comments.appendChild(item)
        if is_partial(marker):
            missing = comment_count(marker) - len(marker["comments"])
            if missing > 0:
                loading = self._actions.is_loading_thread(marker["id"])
                words = self._m.plural("thread.loading_more" if loading else "thread.not_loaded", missing)
                comments.appendChild(element("li", "loading", words))
        comments.scrollTop = scrolled
        resolution = self.popover.querySelector(".resolution")
        resolution.hidden = not is_resolved(marker)
        if is_resolved(marker):
            resolution.textContent = self._m.t("thread.resolved_by", name=marker["resolvedBy"],
                                               time=relative_time(marker["resolvedAt"], now, self._m))
        footer = self.popover.querySelector("footer")
        footer.replaceChildren()
        if writable and (marker["author"]["id"] == own or moderator):
            if is_resolved(marker):
                footer.appendChild(element("button", "link", self._m.t("action.reopen"), type="button", data_action="reopen"))
            else:
                footer.appendChild(element("button", "link", self._m.t("action.resolve"), type="button", data_action="resolve"))
            footer.appendChild(
                element("button", "link danger", self._m.t("action.delete_marker"), type="button",
                        data_action="delete-marker")
            )
        self.popover.querySelector("header .title").textContent = self._m.t("thread.title", number=self.marker_number(marker["id"]))
        count = comment_count(marker)
        self.popover.querySelector("header .count").textContent = self._m.plural("thread.comments", count)
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
        toggle.appendChild(element("span", "", self._m.t("controls.show_resolved")))
        controls.appendChild(toggle)
        return controls

    def _render_controls(self):
        """Each control shows only while it has something to act on, with how many."""
        resolved = len([m for m in self._markers if is_resolved(m)])
        toggle = self.controls.querySelector(".resolved-toggle")
        toggle.hidden = resolved == 0
        toggle.querySelector("span").textContent = self._m.t("controls.show_resolved_count", count=resolved)
        threads = self.controls.querySelector(".list-toggle")
        threads.hidden = not self._markers
        threads.textContent = self._m.t("list.button", count=len(self._markers))

    # -- opening and closing -------------------------------------------------------------------

    def open_list(self):
        """Every thread of the image, unresolved first, each with its first comment and count;
        a click opens it."""
        self.mode, self.draft_at, self.open_marker, self.editing = "list", None, None, None
        self.popover.replaceChildren()
        header = element("header")
        header.appendChild(element("span", "title", self._m.t("list.title"), id="popover-title"))
        header.appendChild(element("span", "count"))
        header.appendChild(element("button", "close", "×", type="button", data_action="close",
                                          aria_label=self._m.t("action.close")))
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
            entry.appendChild(element("span", "first", self._m.t("pin.first", author=first["author"]["name"],
                                                                 text=first["text"]) if first else ""))
            count = comment_count(marker)
            entry.appendChild(element("span", "count", "✓ %d" % count if is_resolved(marker) else str(count),
                                      title=self._count_title(count, is_resolved(marker))))
            item.appendChild(entry)
            items.appendChild(item)
        count = len(numbered)
        self.popover.querySelector("header .count").textContent = self._m.plural("list.threads", count)
        self._place_popover()

    def _count_title(self, count, resolved):
        words = self._m.plural("thread.comments", count)
        return self._m.t("list.resolved", comments=words) if resolved else words

    def open_draft(self, x, y):
        self.mode, self.draft_at, self.open_marker, self.editing = "draft", (x, y), None, None
        self._build_popover(self._m.t("thread.new"), self._m.t("compose.placeholder"), self._m.t("compose.submit"),
                            "submit-draft", with_cancel=True)
        self._render_pins()
        self._place_popover()
        self._focus_composer()

    def open_thread(self, marker_id):
        self.mode, self.draft_at, self.open_marker, self.editing = "thread", None, marker_id, None
        self._build_popover("", self._m.t("compose.reply_placeholder"), self._m.t("compose.reply"), "reply",
                            with_cancel=False)
        self.popover.insertBefore(element("ol", "comments"), self.popover.querySelector(".compose"))
        self.popover.insertBefore(element("p", "resolution", role="status"), self.popover.querySelector(".comments"))
        if self._actions.readonly:
            self.popover.querySelector(".compose").remove()
        self.popover.appendChild(self._link_row())
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
        header.appendChild(element("span", "title", title, id="popover-title"))
        header.appendChild(element("span", "count"))
        header.appendChild(element("button", "close", "×", type="button", data_action="close",
                                          aria_label=self._m.t("action.close")))
        self.popover.appendChild(header)
        compose = element("div", "compose")
        compose.appendChild(self._identity_row())
        compose.appendChild(element("textarea", "message", placeholder=placeholder, aria_label=placeholder))
        buttons = [("primary", submit_action, submit_label)]
        if with_cancel:
            buttons.insert(0, ("secondary", "close", self._m.t("action.cancel")))
        compose.appendChild(_buttons(*buttons))
        self.popover.appendChild(compose)
        self.popover.hidden = False

    def _identity_row(self, renaming=False):
        if renaming or not (self._identity.name or self._identity.sso):
            field = element("input", "name", placeholder=self._m.t("compose.name"), aria_label=self._m.t("compose.name"),
                            maxlength="60")
            field.value = self._identity.name or ""
            return field
        row = element("div", "identity")
        row.appendChild(document.createTextNode(self._m.t("compose.as")))
        row.appendChild(element("b", "", self._identity.name or "…"))
        if not self._identity.sso:  # a signed-on user's name is the site's to change
            row.appendChild(document.createTextNode(" · "))
            row.appendChild(element("button", "link", self._m.t("action.rename"), type="button", data_action="rename"))
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
            if not event.target.isSameNode(self.layer) or self._keeps_draft():
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
            self._close_returning_focus()
        elif action == "rename":
            target.parentNode.replaceWith(self._identity_row(renaming=True))
            self.popover.querySelector("input.name").focus()
        else:
            self._act(action, target)
        if event.detail == 0 and action in ("open", "list") and self.mode in ("thread", "list"):
            self.popover.focus()  # opened from the keyboard: Tab goes on into it

    def _keeps_draft(self):
        """A half-written new comment is never thrown away for another: focus goes back to it."""
        draft = self.popover.querySelector("textarea.message")
        if self.mode == "draft" and draft and str(draft.value).strip():
            draft.focus()
            return True
        return False

    def _close_returning_focus(self):
        """Close, and give focus back to what opened the popover: the thread's pin, the thread
        list's button, or the image (a new thread's draft)."""
        if self.mode == "thread" and self.open_marker in self._pins:
            back = self._pins[self.open_marker]
        elif self.mode == "list":
            back = self.controls.querySelector(".list-toggle")
        else:
            back = self.layer
        self.close()
        (self.layer if back.hidden else back).focus()  # a resolved pin may hide on closing

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
        self.draft_at = _on_image(x, y)
        self._render_pins()
        self._place_popover()

    def _on_layer_blur(self, event):
        """Leaving the image (Tab, a click elsewhere) drops the crosshair."""
        if self.crosshair_at is not None and event.target.isSameNode(self.layer):
            self.crosshair_at = None
            self._render_layer()

    def _on_layer_key(self, key, event):
        """The image focused: Enter (or Space) shows a crosshair, the arrows move it (Shift: 5
        times further), Enter opens the new thread's composer there, Escape cancels. True if the
        key was used."""
        if key in ("Enter", " "):
            event.preventDefault()  # Space would scroll the page
            point, self.crosshair_at = self.crosshair_at, None
            self._render_layer()
            if self._keeps_draft() or not self._actions.can_change(point=point):
                return True
            if point is None:
                self.crosshair_at = self.draft_at or (0.5, 0.5)
                self._render_layer()
                self.announce(self._m.t("a11y.crosshair"))
            else:
                self.open_draft(point[0], point[1])
        elif self.crosshair_at is None:
            return False
        elif key in ARROWS:
            event.preventDefault()
            steps = SHIFT_STEPS if event.shiftKey else 1
            self.crosshair_at = _on_image(self.crosshair_at[0] + ARROWS[key][0] * steps,
                                          self.crosshair_at[1] + ARROWS[key][1] * steps)
            self._render_layer()
        elif key == "Escape":
            self.crosshair_at = None
            self._render_layer()
            self.announce(self._m.t("a11y.crosshair_cancelled"))
        else:
            return False
        return True

    def _on_key(self, event):
        key = str(event.key)
        if event.target.isSameNode(self.layer) and not self._actions.readonly and self._on_layer_key(key, event):
            return
        if key in ARROWS and self.mode == "draft" and event.target.closest(".pin.draft"):
            event.preventDefault()  # the keyboard's way to drag it: 1% of the image a press
            dx, dy = ARROWS[key]
            steps = SHIFT_STEPS if event.shiftKey else 1
            self._move_draft(self.draft_at[0] + dx * steps, self.draft_at[1] + dy * steps)
            return
        if key == "Escape" and self.mode is not None:
            if self.editing is not None:
                self.editing = None
                self._render_thread()
            else:
                self._close_returning_focus()
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
            if window.confirm(self._m.t("confirm.delete_comment")):
                self._actions.delete_comment(self.open_marker, comment_id)
        elif action == "delete-marker":
            if window.confirm(self._m.t("confirm.delete_marker")):
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
        elif action == "copy-link":
            spawn(self._copy_link(self.open_marker))
        elif action == "dismiss-note":
            target.closest(".note").hidden = True

    # -- links to a thread ----------------------------------------------------------------------

    def _link_row(self):
        """"Copy link" in the open thread; built with the popover, not re-rendered with the
        thread, so that what it says (or the link's field) stays while events arrive."""
        row = element("div", "thread-link")
        row.appendChild(element("button", "link", self._m.t("link.copy"), type="button", data_action="copy-link"))
        row.appendChild(element("span", "link-status", role="status"))
        return row

    async def _copy_link(self, marker_id):
        link = self._actions.thread_link(marker_id)
        copied = await copy_text(link)
        row = self.popover.querySelector(".thread-link")
        if not row or marker_id != self.open_marker:
            return  # closed meanwhile
        if copied:
            row.querySelector(".link-status").textContent = self._m.t("link.copied")
            return
        # No clipboard here: the link selected in a field, for the user to copy.
        row.querySelector(".link-status").textContent = self._m.t("link.copy_by_hand")
        field = row.querySelector("input")
        if not field:
            field = element("input", "link-field", readonly="", aria_label=self._m.t("link.field"))
            row.appendChild(field)
        field.value = link
        field.focus()
        field.select()
        self._place_popover()

    def reveal(self, marker_id):
        """Scroll the page so that the thread's pin is in the middle of the view (a link opened
        it), and its popover beside it."""
        pin = self._pins.get(marker_id)
        if pin is not None:
            scroll_into_view(pin)
            self._place_popover()

    def show_note(self, message):
        """A note over the image that stays until the user dismisses it (a link to a thread that
        is gone), scrolled into view."""
        root = self.host.shadowRoot
        note = root.querySelector(".note")
        if not note:  # made on first use, as the presence badge
            note = element("div", "note", role="alert")
            note.appendChild(element("span", "note-text"))
            note.appendChild(element("button", "note-close", "×", type="button", data_action="dismiss-note",
                                     aria_label=self._m.t("link.dismiss")))
            root.appendChild(note)
        note.querySelector(".note-text").textContent = message
        note.hidden = False
        scroll_into_view(note)

    def _take_name(self):
        """Keep the name typed in the composer, if any. False when a name is needed but empty."""
        field = self.popover.querySelector("input.name")
        if not field:
            return True
        name = " ".join(str(field.value).split())
        if not name:
            self.show_error(self._m.t("compose.name_needed"))
            return False
        self._identity.set_name(name)
        field.replaceWith(self._identity_row())
        return True


def _on_image(x, y):
    """A point kept on the image, rounded as the server keeps positions."""
    return (protocol.round_position(min(1, max(0, x))), protocol.round_position(min(1, max(0, y))))


def _buttons(*specs):
    row = element("div", "actions")
    for style, action, label in specs:
        row.appendChild(element("button", style, label, type="button", data_action=action))
    return row
