"""What screen readers hear: the pins' names and the polite announcements of other users' new
threads, in the reader's language (`messages`, keys `a11y.*`). Pure (no browser), so tested on
CPython.

Pins are read in their numbers' order (the order threads were started), the order of their
<button>s in the DOM: Tab goes 1, 2, 3...
"""

SUMMARY_CHARACTERS = 80


def _first_words(marker):
    first = marker["comments"][0] if marker["comments"] else None
    return first["text"][:SUMMARY_CHARACTERS] if first and first.get("text") else ""


def pin_label(messages, number, total, marker, count, resolved=False, pending=False):
    """"Thread 3 of 7, 2 comments, by Ada: The legend overlaps…" and, as they apply, "resolved",
    "sending". `count`: its comments, loaded or not."""
    label = messages.plural("a11y.pin", count, number=number, total=total, author=marker["author"]["name"])
    words = _first_words(marker)
    if words:
        label = messages.t("a11y.pin_words", label=label, text=words)
    if resolved:
        label = messages.t("a11y.pin_resolved", label=label)
    if pending:
        label = messages.t("a11y.pin_sending", label=label)
    return label


def new_thread_announcement(messages, marker):
    """Said politely (never taking focus) when another user starts a thread: "New thread by Bob: …"."""
    author, words = marker["author"]["name"], _first_words(marker)
    if words:
        return messages.t("a11y.new_thread_words", author=author, text=words)
    return messages.t("a11y.new_thread", author=author)
