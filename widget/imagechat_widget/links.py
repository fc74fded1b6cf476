"""Links to a thread: the page's address with `#imagechat=<urlId>:<markerId>` (pure: no browser).

The urlId is percent-encoded as UTF-8 (every character but `A-Z a-z 0-9 - . _ ~`), so it holds
no `:`, `&` or `#` and the last `:` parts it from the marker's id (ids are `A-Z a-z 0-9 _ -`).
Naming the image lets several images of one page each take only the links to their own threads.

The widget reads ours only when it is the fragment, or one of its `&`-separated parts, and never
writes the address bar: the page's own anchors work as before. A link replaces the page's
fragment (the thread's pin is where it scrolls to); a page that routes by its fragment
(`#/tickets/4411`) can link with the query instead (`?imagechat=...`), which is read too.
"""

from imagechat_widget import protocol

PREFIX = "imagechat="
_UNRESERVED = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
_ID_CHARACTERS = _UNRESERVED.replace(".", "").replace("~", "")
_HEX = "0123456789abcdefABCDEF"


def encode(text):
    """Percent-encoding of UTF-8, as `encodeURIComponent` does but for `!'()*` too."""
    return "".join(chr(byte) if chr(byte) in _UNRESERVED else "%%%02X" % byte for byte in text.encode("utf-8"))


def decode(text):
    """The text `encode` made, or None if it is not well formed (stray `%`, not UTF-8)."""
    data = []
    i = 0
    try:
        while i < len(text):
            if text[i] == "%":
                digits = text[i + 1:i + 3]
                if len(digits) != 2 or digits[0] not in _HEX or digits[1] not in _HEX:
                    return None
                data.append(int(text[i + 1:i + 3], 16))
                i += 3
            else:
                data.extend(text[i].encode("utf-8"))
                i += 1
        return bytes(data).decode("utf-8")
    except ValueError:  # not UTF-8 (MicroPython's UnicodeError is a ValueError too)
        return None


def thread_fragment(url_id, marker_id):
    return PREFIX + encode(url_id) + ":" + marker_id


def thread_link(page_url, url_id, marker_id):
    """The address of the page without its fragment, with the thread's."""
    return page_url.split("#")[0] + "#" + thread_fragment(url_id, marker_id)


def find_thread(fragment, query=""):
    """(urlId, markerId) named by the page's fragment or query (`location.hash`, `location.search`,
    with or without their `#`, `?`), or None when neither names a thread (or is not well formed)."""
    for text in (fragment, query):
        text = text[1:] if text[:1] in ("#", "?") else text
        for part in text.split("&"):
            if part.startswith(PREFIX):
                found = _read(part[len(PREFIX):])
                if found is not None:
                    return found
    return None


def _read(value):
    colon = value.rfind(":")
    url_id, marker_id = decode(value[:colon]) if colon > 0 else None, value[colon + 1:]
    if not url_id or not 0 < len(marker_id) <= protocol.MAX_ID_CHARS or any(c not in _ID_CHARACTERS for c in marker_id):
        return None
    return url_id, marker_id
