"""The live socket, as the tests use it: connect from the server's own origin, subscribe, read frames
past heartbeats. One place for what used to be written in each live test module.

Frames are built from `imagechat.protocol`'s constants, but by hand: tests also send fields the
protocol's builders would refuse or reshape (a `since` without `epoch`, a `tenant`, bad values)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from websockets.sync.client import ClientConnection, connect

from imagechat import protocol
from tests.conftest import ServerProcess

TIMEOUT = 5


@contextmanager
def live(server: ServerProcess, **options: Any) -> Iterator[ClientConnection]:
    """A socket on the demo tenant, from the server's own origin (the one the demo tenant allows).
    `options` go to `websockets.sync.client.connect` (e.g. max_size)."""
    options = {"open_timeout": TIMEOUT, "close_timeout": TIMEOUT, **options}
    with connect(server.ws_url, origin=server.url, **options) as ws:
        yield ws


def recv_text(ws: ClientConnection, timeout: float = TIMEOUT) -> str:
    """The next text frame, skipping heartbeats (a subscribed socket gets one every few seconds)."""
    while True:
        frame = ws.recv(timeout=timeout)
        assert isinstance(frame, str), frame
        if frame != protocol.HEARTBEAT_FRAME:
            return frame


def recv_event(ws: ClientConnection, timeout: float = TIMEOUT) -> dict[str, Any]:
    """The next frame (an event, a batch, an answer), decoded, skipping heartbeats."""
    return json.loads(recv_text(ws, timeout))


def send_subscribe(ws: ClientConnection, url_id: str, **fields: Any) -> None:
    """A `subscribe` frame with exactly these fields (token, since, epoch, or anything else)."""
    ws.send(json.dumps({"type": protocol.SUBSCRIBE, "urlId": url_id, **fields}))


def subscribe_answer(ws: ClientConnection, url_id: str, timeout: float = TIMEOUT, **fields: Any) -> dict[str, Any]:
    """Subscribe; the server's answer, whatever it is (`subscribed` or an `error`)."""
    send_subscribe(ws, url_id, **fields)
    return recv_event(ws, timeout)


def subscribe(ws: ClientConnection, url_id: str, timeout: float = TIMEOUT, **fields: Any) -> dict[str, Any]:
    """Subscribe (with a position: since=, epoch=; or token=); the `subscribed` answer."""
    answer = subscribe_answer(ws, url_id, timeout, **fields)
    assert answer["type"] == protocol.SUBSCRIBED, answer
    return answer


def frames_until_pong(ws: ClientConnection, timeout: float = TIMEOUT) -> Iterator[str]:
    """Every frame the server queued before answering a ping, heartbeats left out (frames on one
    socket keep their order: nothing queued before the pong is missed)."""
    ws.send(protocol.PING_FRAME)
    while (frame := ws.recv(timeout=timeout)) != protocol.PONG_FRAME:
        if frame != protocol.HEARTBEAT_FRAME:
            yield frame
