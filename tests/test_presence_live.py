"""Presence against a real server: viewers of one image see the count and names change as others
come and go; viewers of another image or another tenant never see them; a client killed, or gone
silent without a close, drops out within a heartbeat or two."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import time
from typing import Any

from websockets.frames import Frame, Opcode
from websockets.sync.client import ClientConnection, connect

from imagechat import protocol
from tests.conftest import ServerProcess, new_url_id

TIMEOUT = 10


def token_of(server: ServerProcess, name: str) -> str:
    return server.sign_in(name)["Authorization"].removeprefix("Bearer ")


def tenant_ws_url(server: ServerProcess, tenant: str) -> str:
    return server.ws_url.replace("/tenants/demo/", f"/tenants/{tenant}/")


def watch(server: ServerProcess, url_id: str, token: str | None = None, tenant: str = "demo") -> ClientConnection:
    """A socket subscribed to `url_id` that asked for presence frames."""
    ws = connect(tenant_ws_url(server, tenant), origin=server.url, open_timeout=TIMEOUT).__enter__()  # closed by the test
    ws.send(protocol.subscribe(url_id, token, presence=True))
    assert next_frame(ws, skip_presence=True)["type"] == protocol.SUBSCRIBED
    return ws


def next_frame(ws: ClientConnection, skip_presence: bool = False, timeout: float = TIMEOUT) -> dict[str, Any]:
    while True:
        frame = json.loads(ws.recv(timeout=timeout))
        if frame["type"] != protocol.HEARTBEAT and not (skip_presence and frame["type"] == protocol.PRESENCE):
            return frame


def presence_becomes(ws: ClientConnection, count: int, names: list[str] | None = None) -> list[tuple]:
    """Read presence frames until one says `count` (and `names`); every one read, in order."""
    seen: list[tuple] = []
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        frame = next_frame(ws, timeout=deadline - time.monotonic())
        assert frame["type"] == protocol.PRESENCE, frame
        seen.append(protocol.read_presence(frame))
        if seen[-1][0] == count and (names is None or seen[-1][1] == names):
            return seen
    raise AssertionError(f"no presence of {count} {names} in {seen}")


def no_frame_within(ws: ClientConnection, seconds: float) -> None:
    """Nothing but heartbeats for `seconds` (longer than a presence interval)."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            frame = json.loads(ws.recv(timeout=left))
        except TimeoutError:
            return
        assert frame["type"] == protocol.HEARTBEAT, frame


def test_viewers_of_an_image_see_each_other_come_and_go(server_with) -> None:
    server = server_with()
    url_id = new_url_id()
    ada = watch(server, url_id, token_of(server, "Ada"))
    assert presence_becomes(ada, 1, ["Ada"])[-1] == (1, ["Ada"])
    bo = watch(server, url_id, token_of(server, "Bo"))
    presence_becomes(ada, 2, ["Ada", "Bo"])
    presence_becomes(bo, 2, ["Ada", "Bo"])
    anonymous = watch(server, url_id)
    presence_becomes(ada, 3, ["Ada", "Bo"])
    presence_becomes(anonymous, 3, ["Ada", "Bo"])
    bo.close()
    presence_becomes(ada, 2, ["Ada"])
    presence_becomes(anonymous, 2, ["Ada"])
    # A socket that did not ask for presence is counted, and sent no presence frame.
    with connect(server.ws_url, origin=server.url, open_timeout=TIMEOUT) as quiet:
        quiet.send(protocol.subscribe(url_id))
        assert next_frame(quiet)["type"] == protocol.SUBSCRIBED
        presence_becomes(ada, 3, ["Ada"])
        quiet.send(protocol.PING_FRAME)
        assert next_frame(quiet)["type"] == protocol.PONG
    presence_becomes(ada, 2, ["Ada"])
    ada.close()
    anonymous.close()


def test_other_images_and_tenants_never_see_them(server_with) -> None:
    server = server_with()
    server.cli("tenant", "create", "Other Site", "--id", "other-site", "--origin", "self")
    url_id = new_url_id()
    other_image = watch(server, new_url_id(), token_of(server, "Cy"))
    other_tenant = watch(server, url_id, tenant="other-site")  # the same urlId, another tenant
    assert presence_becomes(other_image, 1, ["Cy"]) == [(1, ["Cy"])]
    assert presence_becomes(other_tenant, 1, []) == [(1, [])]
    ada = watch(server, url_id, token_of(server, "Ada"))
    bo = watch(server, url_id, token_of(server, "Bo"))
    presence_becomes(ada, 2, ["Ada", "Bo"])
    no_frame_within(other_image, 2.5 * protocol.PRESENCE_SECONDS)
    no_frame_within(other_tenant, 0.5)
    for ws in (ada, bo, other_image, other_tenant):
        ws.close()


KILLABLE_CLIENT = """
import sys
from websockets.sync.client import connect
from imagechat import protocol
ws = connect(sys.argv[1], origin=sys.argv[2])
ws.send(protocol.subscribe(sys.argv[3], sys.argv[4]))
ws.recv()
print("subscribed", flush=True)
sys.stdin.read()  # connected until the test kills this process
"""


def test_a_killed_client_disappears(server_with) -> None:
    server = server_with()
    url_id = new_url_id()
    ada = watch(server, url_id, token_of(server, "Ada"))
    presence_becomes(ada, 1)
    client = subprocess.Popen([sys.executable, "-c", KILLABLE_CLIENT, server.ws_url, server.url, url_id,
                               token_of(server, "Bo")], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert client.stdout is not None and client.stdout.readline().strip() == "subscribed"
        presence_becomes(ada, 2, ["Ada", "Bo"])
        client.kill()  # as a killed tab: no close frame, the system closes its socket
        client.wait()
        presence_becomes(ada, 1, ["Ada"])
    finally:
        client.kill()
        client.wait()
        assert client.stdout is not None
        client.stdout.close()
    ada.close()


def silent_client(server: ServerProcess, url_id: str) -> socket.socket:
    """A WebSocket that subscribes, then never reads again: it answers no ping, sends no close,
    and its TCP connection stays open (a tab frozen, a network gone)."""
    raw = socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT)
    key = base64.b64encode(os.urandom(16)).decode()
    raw.sendall((f"GET /api/v1/tenants/demo/live HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
                 f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                 f"Sec-WebSocket-Version: 13\r\nOrigin: {server.url}\r\n\r\n").encode())
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += raw.recv(4096)
    assert answer.startswith(b"HTTP/1.1 101"), answer
    raw.sendall(Frame(Opcode.TEXT, protocol.subscribe(url_id).encode()).serialize(mask=True))
    return raw


def test_a_client_gone_silent_disappears_within_two_heartbeats(server_with) -> None:
    server = server_with("--heartbeat-seconds", "1")
    url_id = new_url_id()
    ada = watch(server, url_id, token_of(server, "Ada"))
    presence_becomes(ada, 1)
    silent = silent_client(server, url_id)
    try:
        presence_becomes(ada, 2, ["Ada"])
        gone_from = time.monotonic()
        presence_becomes(ada, 1, ["Ada"])
        # pinged after a heartbeat, dropped a heartbeat later, shown within a presence interval
        assert time.monotonic() - gone_from < 2 * 1 + protocol.PRESENCE_SECONDS + 1
    finally:
        silent.close()
    ada.close()


def errors_until_presence(ws: ClientConnection, count: int, names: list[str]) -> list[str]:
    """The error codes answered before presence says `count` and `names`."""
    codes = []
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        frame = next_frame(ws, timeout=deadline - time.monotonic())
        if frame["type"] == protocol.ERROR:
            codes.append(frame["error"])
        elif frame["type"] == protocol.PRESENCE and protocol.read_presence(frame) == (count, names):
            return codes
    raise AssertionError(f"no presence of {count} {names}; errors {codes}")


def test_a_viewer_who_signs_in_while_watching_is_named_at_once(server_with) -> None:
    """The widget signs a user in at their first comment, on a socket subscribed anonymously: it
    tells the server with an `identify` frame, whose token is checked as at subscribe."""
    server = server_with()
    server.cli("tenant", "create", "Other Site", "--id", "other-site", "--origin", "self")
    url_id = new_url_id()
    with connect(server.ws_url, origin=server.url, open_timeout=TIMEOUT) as early:
        early.send(protocol.identify(token_of(server, "Ada")))  # before subscribing: refused
        assert next_frame(early)["error"] == "not_subscribed"
    bo = watch(server, url_id, token_of(server, "Bo"))
    ada = watch(server, url_id)
    presence_becomes(bo, 2, ["Bo"])
    other_tenants = server.sign_in("Eve", "other-site")["Authorization"].removeprefix("Bearer ")
    for refused in [protocol.identify("v1.forged.token"), protocol.identify(other_tenants),
                    protocol.dumps({"type": protocol.IDENTIFY, "token": 42})]:
        ada.send(refused)
    answers = [next_frame(ada, skip_presence=True)["error"] for _ in range(3)]
    assert answers == [protocol.INVALID_TOKEN, protocol.WRONG_TENANT, "invalid_field"]
    ada.send(protocol.identify(token_of(server, "Ada")))
    presence_becomes(bo, 2, ["Ada", "Bo"])  # the same two viewers, one of them named now
    presence_becomes(ada, 2, ["Ada", "Bo"])
    ada.close()
    presence_becomes(bo, 1, ["Bo"])  # her socket left with her new name: counted out under it
    bo.close()


def test_identify_frames_are_rate_limited_like_any_other(server_with) -> None:
    server = server_with()
    url_id = new_url_id()
    ada = watch(server, url_id)
    frame = protocol.identify(token_of(server, "Ada"))
    for _ in range(40):  # past the frame budget's burst of 30
        ada.send(frame)
    codes = errors_until_presence(ada, 1, ["Ada"])
    assert codes and set(codes) == {protocol.RATE_LIMITED}
    ada.close()
