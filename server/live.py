"""The WebSocket endpoint: a client subscribes to one image and receives its live events.

Client -> server:
  {"type": "subscribe", "tenant": "demo", "urlId": "...", "since": 41, "epoch": "..."}
      `since`/`epoch`: the last seq the client applied and its image's epoch, to resume after a
      reconnect; left out on a first connection.
  {"type": "resume", "since": 41}   a gap seen on a live connection: replay what follows 41
  {"type": "ping"}
Server -> client:
  {"type": "subscribed", "seq": 45, "epoch": "...", "resume": true, "heartbeat": 15}
      then, with `resume` true, the missed events 42..45 in order, then live events; with `resume`
      false (first connection, other epoch, or more missed than the replay limit) the client
      loads the snapshot. `reason` says why: "new", "epoch", "too_old".
  {"type": "reload", "reason": "too_old"}   answer to a resume that the log cannot serve
  the events of `imagechat.protocol`, {"type": "heartbeat"} every `heartbeat` seconds,
  {"type": "pong"}, and {"type": "error", "error": code, "message": ...} for a bad frame: the
  connection stays open (a failed subscribe leaves it unsubscribed; the client may try again).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from starlette.websockets import WebSocket

from imagechat import protocol
from imagechat.errors import ApiError
from imagechat.hub import Viewer
from imagechat.store import image_channel
from imagechat.validation import clean_url_id


def error_frame(code: str, message: str) -> str:
    return protocol.dumps({"type": "error", "error": code, "message": message})


class Session:
    """One client connection and the image it watches."""

    def __init__(self, websocket: WebSocket) -> None:
        self.services = websocket.app.state.services
        self.viewer = Viewer(websocket)
        self.tenant_id = ""
        self.url_id = ""
        self.channel: str | None = None

    async def handle(self, request: dict[str, Any]) -> None:
        kind = request["type"]
        if kind == "ping":
            self.viewer.send(protocol.dumps({"type": "pong"}))
        elif kind == "subscribe":
            await self.subscribe(request)
        elif kind == "resume":
            await self.resume(request)
        else:
            raise ApiError(400, "unknown_type", f"unknown message type {kind!r}")

    async def subscribe(self, request: dict[str, Any]) -> None:
        if self.channel is not None:
            raise ApiError(400, "already_subscribed", "this connection is subscribed already")
        tenant_id = request.get("tenant")
        if not isinstance(tenant_id, str) or not tenant_id:
            raise ApiError(400, "invalid_field", "tenant: must be a non-empty string")
        url_id = clean_url_id(request.get("urlId"))
        since = _since(request, required=False)
        epoch = request.get("epoch")
        if epoch is not None and not isinstance(epoch, str):
            raise ApiError(400, "invalid_field", "epoch: must be a string")
        store = self.services.store
        await store.require_tenant(tenant_id)
        seq, current_epoch = await store.position(tenant_id, url_id)
        if since is not None and since > seq and epoch == current_epoch:
            raise _from_future(since, seq)

        channel = image_channel(tenant_id, url_id)
        self.viewer.hold()
        await self.services.hub.join(channel, self.viewer)
        self.tenant_id, self.url_id, self.channel = tenant_id, url_id, channel
        # Read after joining: every event from here on is either replayed or held.
        seq, current_epoch = await store.position(tenant_id, url_id)
        replay = None
        reason = "new"
        if since is not None and epoch == current_epoch and since <= seq:
            replay = await store.events_after(tenant_id, url_id, since, self.services.settings.replay_limit)
            reason = "too_old" if replay is None else ""
        elif since is not None:
            reason = "epoch"
        acknowledgement = {
            "type": "subscribed", "seq": seq, "epoch": current_epoch, "resume": replay is not None,
            "heartbeat": self.services.settings.heartbeat_seconds,
        }
        if reason:
            acknowledgement["reason"] = reason
        self.viewer.send(protocol.dumps(acknowledgement))
        for frame in replay or ():
            self.viewer.send(frame)
        self.viewer.release(seq)

    async def resume(self, request: dict[str, Any]) -> None:
        if self.channel is None:
            raise ApiError(400, "not_subscribed", "subscribe before resuming")
        since = _since(request, required=True)
        seq, _epoch = await self.services.store.position(self.tenant_id, self.url_id)
        if since > seq:
            raise _from_future(since, seq)
        replay = await self.services.store.events_after(
            self.tenant_id, self.url_id, since, self.services.settings.replay_limit
        )
        if replay is None:
            self.viewer.send(protocol.dumps({"type": "reload", "reason": "too_old"}))
        for frame in replay or ():
            self.viewer.send(frame)

    def close(self) -> None:
        if self.channel is not None:
            self.services.hub.leave(self.channel, self.viewer)


async def live_endpoint(websocket: WebSocket) -> None:
    await websocket.accept()
    session = Session(websocket)
    writer = asyncio.create_task(session.viewer.run_writer())
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                break
            try:
                await session.handle(_parse(message.get("text")))
            except ApiError as error:
                session.viewer.send(error_frame(error.code, error.message))
    finally:
        session.close()
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await writer


def _parse(text: str | None) -> dict[str, Any]:
    if text is None:
        raise ApiError(400, "invalid_frame", "frames must be JSON text, not binary")
    try:
        request = json.loads(text)
    except (ValueError, RecursionError):
        raise ApiError(400, "invalid_json", "the frame is not valid JSON") from None
    if not isinstance(request, dict) or not isinstance(request.get("type"), str):
        raise ApiError(400, "invalid_frame", 'a frame is a JSON object with a string "type"')
    return request


def _since(request: dict[str, Any], required: bool) -> int | None:
    since = request.get("since")
    if since is None and not required:
        return None
    if isinstance(since, bool) or not isinstance(since, int) or since < 0:
        raise ApiError(400, "invalid_field", "since: must be a whole number, the last seq applied")
    return since


def _from_future(since: int, seq: int) -> ApiError:
    return ApiError(
        400, "seq_from_future",
        f"since {since} is ahead of this image's last change ({seq}): subscribe without since and reload",
    )
