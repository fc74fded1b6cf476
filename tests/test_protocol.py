"""The wire protocol is defined once, in server/imagechat/protocol.py: the server imports it, the
widget loads the same file (served by the server), and nobody else spells its strings."""

from __future__ import annotations

import ast
import json
import re
import secrets
import uuid
from pathlib import Path

import httpx

from imagechat import protocol
from tests.conftest import ServerProcess

ROOT = Path(__file__).resolve().parent.parent
PROTOCOL_FILE = ROOT / "server" / "imagechat" / "protocol.py"
SOURCES = sorted(
    path for path in [*(ROOT / "server" / "imagechat").rglob("*.py"), *(ROOT / "widget").rglob("*.py")]
    if path != PROTOCOL_FILE and "migrations" not in path.parts
)
EMBED_JS = ROOT / "public" / "embed.js"

# Every event and frame type and change kind, and every close code of ours.
WIRE_STRINGS = {
    *protocol.EVENT_TYPES,
    protocol.COMMENT_ADDED, protocol.COMMENT_EDITED, protocol.COMMENT_DELETED,
    protocol.THREAD_RESOLVED, protocol.THREAD_REOPENED,
    protocol.SUBSCRIBE, protocol.SUBSCRIBED, protocol.RESUME, protocol.IDENTIFY, protocol.RELOAD, protocol.RESYNC,
    protocol.HEARTBEAT, protocol.BATCH, protocol.ERROR, protocol.PING, protocol.PONG,
}
# Same spelling, another meaning: not the wire protocol.
HOMONYMS = {
    ("server/imagechat/broker/redis.py", "subscribe"),  # Redis's own pub/sub message kind
    ("widget/imagechat_widget/view.py", "error"),  # a CSS class
    ("server/imagechat/api/routes.py", "resolved"),  # the name of the resolve request's body field
}
CLOSE_CODES = {
    protocol.CLOSE_TOO_SLOW, protocol.CLOSE_SUBSCRIBE_TIMEOUT,
    protocol.CLOSE_ORIGIN_NOT_ALLOWED, protocol.CLOSE_TENANT_NOT_FOUND,
}


def spelled_out(source: str) -> list[tuple[int, object]]:
    """Literals of protocol values in code. Not flagged: docstrings and comments, dict keys and
    field reads (`x["error"]`, `x.get("resume")`: field names that happen to share a spelling),
    `name=` labels (an asyncio task's name) and `__slots__`."""
    tree = ast.parse(source)
    ignored: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            ignored.add(id(node.value))  # a docstring
        elif isinstance(node, ast.Dict):
            ignored.update(id(key) for key in node.keys if key is not None)
        elif isinstance(node, ast.Subscript):
            ignored.add(id(node.slice))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get":
            ignored.update(id(arg) for arg in node.args[:1])
        elif isinstance(node, ast.keyword) and node.arg == "name":
            ignored.add(id(node.value))
        elif isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__slots__" for t in node.targets):
            ignored.update(id(item) for item in ast.walk(node.value))
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Constant) or id(node) in ignored or isinstance(node.value, bool):
            continue
        if (isinstance(node.value, str) and node.value in WIRE_STRINGS) or (
                isinstance(node.value, int) and node.value in CLOSE_CODES):
            found.append((node.lineno, node.value))
    return found


def test_no_module_but_protocol_spells_a_protocol_string_or_close_code() -> None:
    assert SOURCES, "no sources found"
    spelled = {}
    for path in SOURCES:
        name = str(path.relative_to(ROOT))
        found = [(line, value) for line, value in spelled_out(path.read_text()) if (name, value) not in HOMONYMS]
        if found:
            spelled[name] = found
    assert spelled == {}, "use imagechat.protocol's constants and builders instead"


def test_embed_js_spells_no_protocol_string() -> None:
    text = EMBED_JS.read_text()
    strings = "|".join(re.escape(value) for value in WIRE_STRINGS)
    codes = "|".join(map(str, CLOSE_CODES))
    assert re.findall(rf"""["'`]({strings})["'`]|\b({codes})\b""", text) == []


def test_the_checker_catches_what_it_is_for() -> None:
    source = 'def f(frame):\n    """A "batch" docstring."""\n    return {"type": "batch", "error": frame.get("ping")}, 4008\n'
    assert set(spelled_out(source)) == {(3, "batch"), (3, 4008)}


def test_protocol_needs_only_json() -> None:
    """It also runs in the browser, on Pyodide or MicroPython: standard library `json` only."""
    tree = ast.parse(PROTOCOL_FILE.read_text())
    imports = [node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))]
    assert [alias.name for node in imports for alias in node.names] == ["json"]


def test_the_widget_loads_the_servers_protocol_file(server: ServerProcess) -> None:
    listed = re.search(r"const WIDGET_MODULES = \[(.*?)\];", EMBED_JS.read_text(), re.S)
    assert listed is not None
    modules = re.findall(r'"([^"]+\.py)"', listed.group(1))
    assert "protocol.py" in modules
    assert not (ROOT / "widget" / "imagechat_widget" / "protocol.py").exists()  # never a copy
    for module in modules:
        answer = httpx.get(f"{server.url}/widget/imagechat_widget/{module}")
        assert answer.status_code == 200, module
    served = httpx.get(f"{server.url}/widget/imagechat_widget/protocol.py")
    assert served.content == PROTOCOL_FILE.read_bytes()


def test_the_widget_imports_the_same_module_in_tests() -> None:
    from imagechat_widget import protocol as widget_protocol

    assert widget_protocol is protocol


def test_a_batch_holds_encoded_events_as_they_are() -> None:
    events = [protocol.dumps(protocol.event(protocol.NEW_IMAGE_CHAT, seq, None, markerId="m")) for seq in (1, 2)]
    frame = protocol.batch_frame(events)
    assert frame == '{"type":"batch","events":[' + ",".join(events) + "]}"
    assert json.loads(frame)["events"] == [json.loads(event) for event in events]


def test_frames_are_compact_json() -> None:
    assert protocol.HEARTBEAT_FRAME == '{"type":"heartbeat"}'
    assert protocol.RESYNC_FRAME == '{"type":"resync"}'
    assert protocol.reload(protocol.REASON_TOO_OLD) == '{"type":"reload","reason":"too_old"}'
    assert protocol.error("invalid_json", "é") == '{"type":"error","error":"invalid_json","message":"é"}'
    assert json.loads(protocol.subscribed(4, "e", 15)) == {
        "type": "subscribed", "seq": 4, "epoch": "e", "resume": True, "heartbeat": 15}
    assert json.loads(protocol.subscribed(4, "e", 15, protocol.REASON_EPOCH))["resume"] is False
    assert json.loads(protocol.subscribe("u")) == {"type": "subscribe", "urlId": "u"}
    assert json.loads(protocol.subscribe("u", "t", 3, None)) == {
        "type": "subscribe", "urlId": "u", "token": "t", "since": 3, "epoch": None}
    assert protocol.refusal_close_code(403) == protocol.CLOSE_ORIGIN_NOT_ALLOWED
    assert protocol.REFUSED_BY_CLOSE_CODE[protocol.refusal_close_code(404)] == protocol.TENANT_NOT_FOUND


# -- new-image-chat: what the wire carries --------------------------------------------------------

# A documented budget (not a timing): a new thread with a 100-character comment, as the server
# makes it, weighs at most this many bytes encoded.
NEW_IMAGE_CHAT_BUDGET_BYTES = 400
STAMP = 1_718_000_000_123  # a 13-digit ms timestamp


def new_rows(text: str, id_chars: int = 11, x: float = 0.4231, y: float = 0.6183) -> tuple[dict, dict]:
    """A marker row and its first comment's, as the store makes them: ids of `id_chars` characters
    (secrets.token_urlsafe(8) makes 11), an anonymous author ("anon-" + 16), one timestamp."""
    author_id = "anon-" + secrets.token_urlsafe(12)
    marker_id = secrets.token_urlsafe(id_chars * 3 // 4)
    assert len(marker_id) == id_chars and len(author_id) == 21
    marker_row = {"tenant_id": "demo", "id": marker_id, "image_id": 7, "x": x, "y": y,
                  "author_id": author_id, "author_name": "Alice Martin", "created_at": STAMP, "updated_at": STAMP}
    comment_row = {"tenant_id": "demo", "id": secrets.token_urlsafe(id_chars * 3 // 4), "marker_id": marker_id,
                   "author_id": author_id, "author_name": "Alice Martin", "text": text,
                   "created_at": STAMP, "updated_at": STAMP}
    return marker_row, comment_row


def test_a_new_image_chat_with_a_100_character_comment_fits_its_budget() -> None:
    text = "A" * 100
    broadcast_id = str(uuid.uuid4())
    # Before: 16-character ids, positions to 5 decimals, the first comment whole.
    marker_row, comment_row = new_rows(text, id_chars=16, x=0.42314, y=0.61834)
    before = protocol.dumps(protocol.event(protocol.NEW_IMAGE_CHAT, 123456, broadcast_id,
                                           marker=protocol.marker_json(marker_row, [protocol.comment_json(comment_row)])))
    # Now: 11-character ids, positions to 4 decimals, the first comment without the marker's author and time.
    marker_row, comment_row = new_rows(text, x=protocol.round_position(0.42314), y=protocol.round_position(0.61834))
    now = protocol.dumps(protocol.event(protocol.NEW_IMAGE_CHAT, 123456, broadcast_id,
                                        marker=protocol.new_marker_json(marker_row, comment_row)))
    print(f"new-image-chat with a 100-character comment: {len(before.encode())} bytes before, "
          f"{len(now.encode())} bytes now")
    assert len(now.encode("utf-8")) <= NEW_IMAGE_CHAT_BUDGET_BYTES
    assert json.loads(now)["marker"]["comments"][0]["text"] == text  # where readers (and the bench) find it
    assert json.loads(now)["marker"]["comments"][0] == {"id": comment_row["id"], "text": text}


def test_a_new_marker_expands_to_what_the_whole_marker_says() -> None:
    marker_row, comment_row = new_rows("hello")
    whole = protocol.marker_json(marker_row, [protocol.comment_json(comment_row)])
    assert protocol.expand_new_marker(protocol.new_marker_json(marker_row, comment_row)) == whole
    # A first comment that differs from its marker (not what the store makes today) keeps what differs.
    other = {**comment_row, "author_id": "sso:u42", "author_name": "Dana", "created_at": STAMP + 1,
             "updated_at": STAMP + 9}
    sent = protocol.new_marker_json(marker_row, other)
    assert set(sent["comments"][0]) == {"id", "text", "author", "createdAt", "updatedAt"}
    assert protocol.expand_new_marker(sent) == protocol.marker_json(marker_row, [protocol.comment_json(other)])
    edited = {**comment_row, "updated_at": STAMP + 5}
    assert protocol.new_marker_json(marker_row, edited)["comments"][0] == {
        "id": edited["id"], "text": "hello", "updatedAt": STAMP + 5}
    assert protocol.expand_new_marker(protocol.new_marker_json(marker_row, edited)) == protocol.marker_json(
        marker_row, [protocol.comment_json(edited)])


def test_expanding_leaves_whole_markers_and_the_given_marker_alone() -> None:
    marker_row, comment_row = new_rows("hello")
    whole = protocol.marker_json(marker_row, [protocol.comment_json(comment_row)])
    assert protocol.expand_new_marker(whole) is whole
    sent = protocol.new_marker_json(marker_row, comment_row)
    kept = json.loads(protocol.dumps(sent))
    protocol.expand_new_marker(sent)
    assert sent == kept


def test_positions_keep_four_decimals() -> None:
    assert protocol.POSITION_DECIMALS == 4
    assert protocol.round_position(0.123456) == 0.1235
    assert protocol.round_position(0.0) == 0 and protocol.round_position(1.0) == 1
    assert protocol.round_position(protocol.round_position(0.98765)) == protocol.round_position(0.98765)
