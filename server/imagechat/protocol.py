"""The wire protocol, defined once: every frame and event type, change kind, close code, error code
a client acts on, role and client-visible limit, with the builders of the frames.

The server imports it as `imagechat.protocol`; the widget loads this very file (the server serves
it at /widget/imagechat_widget/protocol.py) as `imagechat_widget.protocol`. So it is standard
library only (`json`) and plain enough for MicroPython too: constants and functions, annotations
of builtins only, no dict unpacking in displays."""

import json

# -- live events (also what a REST change answers: the committed event itself) ------------------

NEW_IMAGE_CHAT = "new-image-chat"
IMAGE_CHAT_UPDATED = "image-chat-updated"
DELETED_IMAGE_CHAT = "deleted-image-chat"
EVENT_TYPES = (NEW_IMAGE_CHAT, IMAGE_CHAT_UPDATED, DELETED_IMAGE_CHAT)

# The `change` field of an `image-chat-updated` event: what happened in the thread.
COMMENT_ADDED = "comment-added"
COMMENT_EDITED = "comment-edited"
COMMENT_DELETED = "comment-deleted"
# A thread resolved ({markerId, change, resolvedAt, resolvedBy}: when, and the name of who) or
# reopened ({markerId, change}). Only its author or a moderator may do either.
THREAD_RESOLVED = "resolved"
THREAD_REOPENED = "reopened"

# -- control frames -----------------------------------------------------------------------------

# client -> server
SUBSCRIBE = "subscribe"
RESUME = "resume"
PING = "ping"
IDENTIFY = "identify"  # the user signed in (or was renamed) after subscribing: their new token
# server -> client
SUBSCRIBED = "subscribed"
RELOAD = "reload"
RESYNC = "resync"
HEARTBEAT = "heartbeat"
BATCH = "batch"
ERROR = "error"
PONG = "pong"
PRESENCE = "presence"  # who else looks at the image: sent to subscribers that ask for it

# Why `subscribed` says resume false, or why `reload` came: the client loads the snapshot.
REASON_NEW = "new"  # no `since`: a first connection
REASON_EPOCH = "epoch"  # another history than the one the client saw
REASON_TOO_OLD = "too_old"  # more missed than the replay limit
REASON_TOO_MANY_RESUMES = "too_many_resumes"  # past the socket's resume budget

# -- WebSocket close codes ----------------------------------------------------------------------

CLOSE_TOO_SLOW = 4008  # over the bytes a viewer may have queued: reconnect and reload
CLOSE_SUBSCRIBE_TIMEOUT = 4408  # connected, never subscribed in time
CLOSE_REFUSED_BASE = 4000  # a refused connection closes with 4000 + its HTTP status
CLOSE_ORIGIN_NOT_ALLOWED = 4403
CLOSE_TENANT_NOT_FOUND = 4404


def refusal_close_code(status: int) -> int:
    return CLOSE_REFUSED_BASE + status


# -- error codes a client acts on ---------------------------------------------------------------

ORIGIN_NOT_ALLOWED = "origin_not_allowed"
TENANT_NOT_FOUND = "tenant_not_found"
MARKER_NOT_FOUND = "marker_not_found"
COMMENT_NOT_FOUND = "comment_not_found"
FORBIDDEN = "forbidden"
ID_TAKEN = "id_taken"
READONLY = "readonly"
RATE_LIMITED = "rate_limited"
INVALID_TOKEN = "invalid_token"
EXPIRED_TOKEN = "expired_token"
WRONG_TENANT = "wrong_tenant"
INVALID_SSO = "invalid_sso"
EXPIRED_SSO = "expired_sso"
SEQ_FROM_FUTURE = "seq_from_future"
SUBSCRIBE_TIMEOUT = "subscribe_timeout"
# Refusals no retry can change: the page's origin may not use the tenant, or there is none.
REFUSED_BY_CLOSE_CODE = {CLOSE_ORIGIN_NOT_ALLOWED: ORIGIN_NOT_ALLOWED, CLOSE_TENANT_NOT_FOUND: TENANT_NOT_FOUND}
# A session the server no longer takes: sign in again.
SESSION_ERRORS = (INVALID_TOKEN, EXPIRED_TOKEN, WRONG_TENANT)
SSO_ERRORS = (INVALID_SSO, EXPIRED_SSO)

# -- roles --------------------------------------------------------------------------------------

ADMIN = "admin"
MODERATOR = "moderator"
ROLES = (ADMIN, MODERATOR)  # those a sign-on payload may grant; both moderate


def can_moderate(roles: object) -> bool:
    """Deletes others' comments and markers."""
    for role in roles:
        if role in ROLES:
            return True
    return False


# -- limits a client sees -----------------------------------------------------------------------

MAX_COMMENT_CHARS = 2000
MAX_NAME_CHARS = 60
MAX_URL_ID_CHARS = 512
MAX_ID_CHARS = 64
MAX_COMMENTS_PER_THREAD = 500
THREAD_PAGE_COMMENTS = 100  # comments per page of a thread (its default and its most)
MAX_BODY_BYTES = 16 * 1024  # of a REST request
MAX_FRAME_BYTES = 4 * 1024  # of a WebSocket frame from a client (larger: closed with 1009)
# A marker's position (fractions of the image's width and height) is kept to this many decimals:
# 1/10,000 of the image, under a CSS pixel for any image shown less than 10,000 px wide, which is
# all a pointer can point at. Fewer digits on the wire; the widget rounds where the user clicks.
POSITION_DECIMALS = 4


def round_position(fraction: float) -> float:
    """A position as the wire carries it and the server stores it."""
    return round(fraction, POSITION_DECIMALS)


# -- encoding -----------------------------------------------------------------------------------

_COMPACT = {"separators": (",", ":"), "ensure_ascii": False}
try:
    json.dumps("", **_COMPACT)
except TypeError:  # MicroPython: no ensure_ascii (it never escapes text)
    _COMPACT = {"separators": (",", ":")}


def dumps(value: object) -> str:
    """Compact JSON: no whitespace, UTF-8 text kept as is."""
    return json.dumps(value, **_COMPACT)


def event(kind: str, seq: int, broadcast_id: "str | None", **data: object) -> dict:
    """A live event: `data` is its type's fields (marker, markerId, change, comment, ...)."""
    body = {"type": kind, "seq": seq, "broadcastId": broadcast_id}
    body.update(data)
    return body


def comment_json(row: dict) -> dict:
    """A comment from its stored row."""
    return {
        "id": row["id"],
        "author": {"id": row["author_id"], "name": row["author_name"]},
        "text": row["text"],
        "createdAt": row["created_at"],
        "updatedAt": row["updated_at"],
    }


def marker_json(row: dict, comments: list) -> dict:
    """A marker from its stored row, with (some of) its thread's comments, and when and by whom
    it was resolved if it is."""
    marker = {
        "id": row["id"],
        "x": row["x"],
        "y": row["y"],
        "author": {"id": row["author_id"], "name": row["author_name"]},
        "createdAt": row["created_at"],
        "comments": comments,
    }
    if row.get("resolved_at") is not None:  # open threads say nothing: fewer bytes
        marker["resolvedAt"] = row["resolved_at"]
        marker["resolvedBy"] = row["resolved_by"]
    return marker


def new_marker_json(marker_row: dict, comment_row: dict) -> dict:
    """The marker of a `new-image-chat` event (and of the REST answer to its creation, which is the
    same committed event): the marker with its thread's first comment, sent without repeating what
    the marker says. The comment carries `id` and `text`, and only when they differ its `author`
    (else the marker's), `createdAt` (else the marker's) and `updatedAt` (else its `createdAt`).
    `expand_new_marker` puts them back; snapshots and thread pages carry whole comments."""
    comment = {"id": comment_row["id"], "text": comment_row["text"]}
    if (comment_row["author_id"], comment_row["author_name"]) != (marker_row["author_id"], marker_row["author_name"]):
        comment["author"] = {"id": comment_row["author_id"], "name": comment_row["author_name"]}
    if comment_row["created_at"] != marker_row["created_at"]:
        comment["createdAt"] = comment_row["created_at"]
    if comment_row["updated_at"] != comment_row["created_at"]:
        comment["updatedAt"] = comment_row["updated_at"]
    return marker_json(marker_row, [comment])


def expand_new_marker(marker: dict) -> dict:
    """The marker of a `new-image-chat` event with its comments whole (as `comment_json` makes
    them): what `new_marker_json` left out, filled in from the marker. A whole marker is returned
    as it is; the one given is never changed."""
    comments = []
    filled = False
    for comment in marker["comments"]:
        if "author" not in comment or "createdAt" not in comment or "updatedAt" not in comment:
            comment = dict(comment)
            if "author" not in comment:
                comment["author"] = marker["author"]
            if "createdAt" not in comment:
                comment["createdAt"] = marker["createdAt"]
            if "updatedAt" not in comment:
                comment["updatedAt"] = comment["createdAt"]
            filled = True
        comments.append(comment)
    if not filled:
        return marker
    expanded = dict(marker)
    expanded["comments"] = comments
    return expanded


def snapshot_marker_json(row: dict, first_comment: dict, comment_count: int) -> dict:
    """A marker as a snapshot carries it: only its thread's first comment, and how many it holds
    (the rest is read page by page), so that a snapshot's size is bounded by the marker cap."""
    marker = marker_json(row, [first_comment])
    marker["commentCount"] = comment_count
    return marker


# -- frames, encoded ----------------------------------------------------------------------------


def batch_frame(encoded: list) -> str:
    """One frame holding already-encoded events, in order (no re-encoding)."""
    return '{"type":"' + BATCH + '","events":[' + ",".join(encoded) + "]}"


def subscribe(url_id: str, token: "str | None" = None, since: "int | None" = None,
              epoch: "str | None" = None, presence: bool = False) -> str:
    """`since`/`epoch`: where the client stopped, to resume after a reconnect. `presence`: send
    this socket presence frames (who else is looking)."""
    frame = {"type": SUBSCRIBE, "urlId": url_id}
    if token is not None:
        frame["token"] = token
    if presence:
        frame[PRESENCE] = True
    if since is not None:
        frame["since"] = since
        frame["epoch"] = epoch
    return dumps(frame)


def resume(since: int) -> str:
    return dumps({"type": RESUME, "since": since})


def identify(token: str) -> str:
    """The socket's user signed in (or changed their name) while subscribed: presence names them
    from now on, without a reconnect."""
    return dumps({"type": IDENTIFY, "token": token})


def subscribed(seq: int, epoch: "str | None", heartbeat: float, reason: str = "") -> str:
    """The answer to a subscribe; with a `reason` the client loads the snapshot instead of resuming."""
    frame = {"type": SUBSCRIBED, "seq": seq, "epoch": epoch, "resume": not reason, "heartbeat": heartbeat}
    if reason:
        frame["reason"] = reason
    return dumps(frame)


def reload(reason: str) -> str:
    return dumps({"type": RELOAD, "reason": reason})


def error(code: str, message: str) -> str:
    return dumps({"type": ERROR, "error": code, "message": message})


PING_FRAME = dumps({"type": PING})
PONG_FRAME = dumps({"type": PONG})
HEARTBEAT_FRAME = dumps({"type": HEARTBEAT})
RESYNC_FRAME = dumps({"type": RESYNC})


# -- presence: who is looking at the image now ----------------------------------------------------

PRESENCE_SECONDS = 2  # at most one presence frame per image this often
MAX_PRESENCE_NAMES = 20  # the names a presence frame carries at most (the count covers everyone)


def presence(count: int, names: list) -> str:
    """`count`: everyone watching the image; `names`: some of the signed-in ones, bounded."""
    return dumps({"type": PRESENCE, "count": count, "names": names[:MAX_PRESENCE_NAMES]})


def read_presence(frame: dict) -> tuple:
    """A presence frame as (count, names), bounded and cleaned whatever the frame holds: a count of
    at least 0, at most MAX_PRESENCE_NAMES names, each a string of at most MAX_NAME_CHARS."""
    count = frame.get("count")
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        count = 0
    names = []
    given = frame.get("names")
    for name in given if isinstance(given, list) else []:
        if isinstance(name, str) and name.strip() and len(names) < MAX_PRESENCE_NAMES:
            names.append(name.strip()[:MAX_NAME_CHARS])
    return count, names
