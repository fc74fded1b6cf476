"""The WebSocket endpoint, /api/v1/tenants/{tenant}/live: a client subscribes to one image of the
tenant and receives its live events. The handshake is refused (HTTP 404 / 403 / 429 with a JSON
body) for an unknown tenant, an origin the tenant does not allow, or too many connections from
one address.

Client -> server:
  {"type": "subscribe", "urlId": "...", "since": 41, "epoch": "...", "token": "..."}
      `since`/`epoch`: the last seq the client applied and its image's epoch, to resume after a
      reconnect; left out on a first connection. `token`: the session token, if signed in.
  {"type": "resume", "since": 41}   a gap seen on a live connection: replay what follows 41
  {"type": "ping"}
Server -> client:
  {"type": "subscribed", "seq": 45, "epoch": "...", "resume": true, "heartbeat": 15}
      then, with `resume` true, the missed events 42..45 in order, then live events; with `resume`
      false (first connection, other epoch, or more missed than the replay limit) the client
      loads the snapshot. `reason` says why: "new", "epoch", "too_old".
  {"type": "reload", "reason": "too_old"}   answer to a resume that the log cannot serve
  {"type": "resync"}   this node may have missed events (broker reconnected): resume from your seq
  {"type": "batch", "events": [...]}   several events in order (busy moments, and replays)
  the events of `imagechat.protocol`, {"type": "heartbeat"} every `heartbeat` seconds,
  {"type": "pong"}, and {"type": "error", "error": code, "message": ...} for a bad frame: the
  connection stays open (a failed subscribe leaves it unsubscribed; the client may try again).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from starlette.responses import JSONResponse
from starlette.websockets import WebSocket

from imagechat import limits, protocol
from imagechat.errors import ApiError
from imagechat.batching import batch_frame
from imagechat.guard import client_ip
from imagechat.hub import Viewer
from imagechat.ratelimit import RateLimiter
from imagechat.tenants import Tenant
from imagechat.store import image_channel
from imagechat.validation import clean_url_id


log = logging.getLogger("imagechat.live")
REPLAY_BATCH = 50  # events per frame of a replay


def error_frame(code: str, message: str) -> str:
    return protocol.dumps({"type": "error", "error": code, "message": message})


class Session:
    """One client connection and the image it watches."""

    def __init__(self, websocket: WebSocket, tenant: Tenant) -> None:
        self.services = websocket.app.state.services
        self.websocket = websocket
        self.viewer = Viewer(websocket, tenant.id, self.services.usage)
        self.tenant = tenant
        self.tenant_id = tenant.id
        self.url_id = ""
        self.channel: str | None = None
        self._frames = RateLimiter(limits.WS_FRAMES_PER_SECOND * 60, limits.WS_FRAMES_BURST)

    async def receive(self, text: str | None) -> None:
        self._frames.take("frames")  # a flood gets error frames, not work
        await self.handle(_parse(text))

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
        tenant_id = self.tenant_id
        url_id = clean_url_id(request.get("urlId"))
        token = request.get("token")
        if token is not None:
            if not isinstance(token, str):
                raise ApiError(400, "invalid_field", "token: must be a string")
            self.services.guard.identify(self.websocket, self.tenant, token)
        since = _since(request, required=False)
        epoch = request.get("epoch")
        if epoch is not None and not isinstance(epoch, str):
            raise ApiError(400, "invalid_field", "epoch: must be a string")
        store = self.services.store
        seq, current_epoch = await store.position(tenant_id, url_id)
        if since is not None and since > seq and epoch == current_epoch:
            raise _from_future(since, seq)

        channel = image_channel(tenant_id, url_id)
        self.viewer.hold()
        await self.services.hub.join(channel, self.viewer)
        self.url_id, self.channel = url_id, channel
        log.info("viewer %s watches an image of tenant %s", client_ip(self.websocket), tenant_id)
        # Read after joining: every event from here on is either replayed or held.
        seq, current_epoch = await store.position(tenant_id, url_id)
        replay = None
        reason = "new"
        if since is not None and epoch == current_epoch and since <= seq:
            replay = await store.events_after(tenant_id, url_id, since, seq, self.services.settings.replay_limit)
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
        self._replay(replay or [])
        self.viewer.release(seq)

    async def resume(self, request: dict[str, Any]) -> None:
        if self.channel is None:
            raise ApiError(400, "not_subscribed", "subscribe before resuming")
        since = _since(request, required=True)
        seq, _epoch = await self.services.store.position(self.tenant_id, self.url_id)
        if since > seq:
            raise _from_future(since, seq)
        replay = await self.services.store.events_after(
            self.tenant_id, self.url_id, since, seq, self.services.settings.replay_limit
        )
        if replay is None:
            self.viewer.send(protocol.dumps({"type": "reload", "reason": "too_old"}))
        self._replay(replay or [])

    def _replay(self, frames: list[str]) -> None:
        """Missed events, in `batch` frames: a long replay must not fill the socket's outbox."""
        for start in range(0, len(frames), REPLAY_BATCH):
            chunk = frames[start:start + REPLAY_BATCH]
            self.viewer.send(chunk[0] if len(chunk) == 1 else batch_frame(chunk))

    def close(self) -> None:
        if self.channel is not None:
            self.services.hub.leave(self.channel, self.viewer)


async def live_endpoint(websocket: WebSocket) -> None:
    guard = websocket.app.state.services.guard
    try:
        tenant = await guard.tenants.require(websocket.path_params["tenant"])
        guard.check_origin(websocket, tenant)
    except ApiError as error:
        await _refuse(websocket, error)
        return
    if not guard.open_connection(websocket):
        await _refuse(websocket, ApiError(429, "too_many_connections", "too many live connections from this address"))
        return
    await websocket.accept()
    usage = websocket.app.state.services.usage
    usage.connection_opened(tenant.id)
    session = Session(websocket, tenant)
    writer = asyncio.create_task(session.viewer.run_writer())
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                break
            try:
                await session.receive(message.get("text"))
            except ApiError as error:
                session.viewer.send(error_frame(error.code, error.message))
    finally:
        usage.connection_closed(tenant.id)
        guard.close_connection(websocket)
        session.close()
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await writer


async def _refuse(websocket: WebSocket, error: ApiError) -> None:
    """Refuse the handshake with an HTTP answer that says why, where the server can send one."""
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(JSONResponse(error.as_json(), status_code=error.status))
    else:
        await websocket.close(code=4000 + error.status, reason=error.code)


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
