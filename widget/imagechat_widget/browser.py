"""The few browser calls the widget needs, in one place (on either interpreter: see compat)."""

from imagechat_widget.compat import create_proxy, document, is_none, to_js, window


def random_id():
    """A marker or comment id: 20 hex digits of a random UUID, 76 random bits (short on the wire; a clash is
    refused by the server with 409, never merged)."""
    return str(window.crypto.randomUUID()).replace("-", "")[:20]


def encode_component(text):
    return str(window.encodeURIComponent(text))


def stored(key):
    try:
        value = window.localStorage.getItem(key)
    except Exception:  # storage disabled (private mode, sandboxed iframe)
        return None
    return None if is_none(value) else str(value)


def store(key, value):
    try:
        window.localStorage.setItem(key, value)
    except Exception:
        pass


def element(tag, class_name="", text=None, **attributes):
    """A new element; text is set as text, never parsed as HTML."""
    node = document.createElement(tag)
    if class_name:
        node.className = class_name
    if text is not None:
        node.textContent = text
    for name, value in attributes.items():
        node.setAttribute(name.replace("_", "-"), str(value))
    return node


def listen(target, kind, handler):
    """Add an event listener; the proxy lives as long as the page (listeners are few and fixed)."""
    target.addEventListener(kind, create_proxy(handler))


def js_options(value):
    return to_js(value)


def scroll_into_view(node):
    """Scroll the page (and any scrolled box around the image) so that `node` is in the middle of
    the view, at once even on a page with `scroll-behavior: smooth` (what is placed next is placed
    where it lands)."""
    node.scrollIntoView(js_options({"block": "center", "inline": "nearest", "behavior": "instant"}))


async def copy_text(text):
    """Put `text` on the clipboard. False where the page may not: no clipboard API (a page not
    served over https), or the browser refused (a frame without the permission)."""
    clipboard = window.navigator.clipboard
    if not clipboard:
        return False
    try:
        await clipboard.writeText(text)
    except Exception:
        return False
    return True
