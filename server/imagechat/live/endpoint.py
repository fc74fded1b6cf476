"""The WebSocket endpoint, /api/v1/tenants/{tenant}/live: a client subscribes to one image of the
tenant and receives its live events. An unknown tenant or an origin the tenant does not allow is
accepted, then closed at once with code 4404 / 4403 and the error code as reason (browsers hide a
refused handshake's HTTP answer; the widget must tell "not allowed here" from "network down" to
stop retrying). Too many connections from one address is a transient refusal: HTTP 429 with a
JSON body, and the client backs off.

Client -> server:
  {"type": "subscribe", "urlId": "...", "since": 41, "epoch": "...", "token": "..."}
      `since`/`epoch`: the last seq the client applied and its image's epoch, to resume after a
      reconnect; left out on a first connection. `token`: the session token, if signed in.
      `"presence": true`: also send presence frames (live/presence.py).
  {"type": "resume", "since": 41}   a gap seen on a live connection: replay what follows 41
  {"type": "identify", "token": "..."}   signed in (or renamed) since subscribing: named in presence
  {"type": "ping"}
Server -> client:
  {"type": "subscribed", "seq": 45, "epoch": "...", "resume": true, "heartbeat": 15}
      then, with `resume` true, the missed events 42..45 in order, then live events; with `resume`
      false (first connection, other epoch, or more missed than the replay limit) the client
      loads the snapshot. `reason` says why: "new", "epoch", "too_old".
  {"type": "reload", "reason": "too_old"}   answer to a resume that the log cannot serve, or
      "too_many_resumes" past the socket's resume budget: the client loads the snapshot
  {"type": "resync"}   this node may have missed events (broker reconnected): resume from your seq
  {"type": "batch", "events": [...]}   several events in order (busy moments, and replays)
  the events of `imagechat.protocol`, {"type": "heartbeat"} every `heartbeat` seconds,
  {"type": "pong"}, {"type": "presence", "count": 3, "names": [...]} (when asked for), and {"type": "error", "error": code, "message": ...} for a bad frame: the
  connection stays open (a failed subscribe leaves it unsubscribed; the client may try again).

A connection that has not subscribed within --subscribe-timeout-seconds gets a `subscribe_timeout`
error frame and is closed with code 4408. Frames are handled one at a time, in order: a replay is
over before the next frame is read, so a socket has at most one replay going.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from typing import Any

from starlette.responses import JSONResponse
from starlette.websockets import WebSocket

from imagechat import limits, protocol
from imagechat.errors import ApiError
from imagechat.live.hub import Viewer, image_channel
from imagechat.security.guard import client_ip
from imagechat.security.tenants import Tenant
from imagechat.security.tokens import Identity
from imagechat.security.validation import clean_url_id
from imagechat.services import services
from imagechat.storage.errors import StorageError


log = logging.getLogger("imagechat.live")
# Replays of this process read the log a few pages at a time: many sockets replaying at once must
# not take every database connection (other requests would wait for one).
REPLAY_READS = asyncio.Semaphore(limits.CONCURRENT_REPLAY_READS)


class Budget:
    """A token bucket for one socket (its frames, its resumes): two numbers, where the keyed
    `RateLimiter` of the REST API would hold a dictionary per socket, for its whole life."""

    __slots__ = ("_tokens", "_when", "_rate", "_burst")

    def __init__(self, per_minute: float, burst: int) -> None:
        self._rate = per_minute / 60.0
        self._burst = burst
        self._tokens = float(burst)
        self._when = time.monotonic()

    def take(self) -> None:
        """Spend one token, or raise 429 with the seconds to wait (as the API's rate limits do)."""
        now = time.monotonic()
        self._tokens = min(self._burst, self._tokens + (now - self._when) * self._rate)
        self._when = now
        if self._tokens < 1:
            retry_after = math.ceil((1 - self._tokens) / self._rate) if self._rate else 60
            raise ApiError(429, "rate_limited", f"too many requests: try again in {retry_after} s",
                           headers={"Retry-After": str(retry_after)})
        self._tokens -= 1


class LiveConnection:
    """One client's WebSocket and the image it watches. Kept small: an idle server holds one per
    viewer."""

    __slots__ = ("services", "websocket", "viewer", "tenant", "tenant_id", "url_id", "channel", "_frames", "_resumes")

    def __init__(self, websocket: WebSocket, tenant: Tenant) -> None:
        self.services = services(websocket)
        self.websocket = websocket
        self.viewer = Viewer(websocket, self.services.usage.tally(tenant.id))
        self.tenant = tenant
        self.tenant_id = tenant.id
        self.url_id = ""
        self.channel: str | None = None
        self._frames = Budget(limits.WS_FRAMES_PER_SECOND * 60, limits.WS_FRAMES_BURST)
        self._resumes = Budget(limits.RESUMES_PER_MINUTE, limits.RESUMES_BURST)

    async def run(self) -> None:
        """Serve the client's frames until it leaves. One that has not subscribed in time is told
        and closed: an idle socket holds one of its address's connection slots."""
        timeout = self.services.settings.subscribe_timeout_seconds
        deadline: float | None = asyncio.get_running_loop().time() + timeout
        while True:
            try:
                async with asyncio.timeout_at(deadline if self.channel is None else None):
                    message = await self.websocket.receive()
            except TimeoutError:
                self.viewer.send(protocol.error(protocol.SUBSCRIBE_TIMEOUT, f"no subscribe within {timeout:g} s of connecting"))
                self.viewer.close(protocol.CLOSE_SUBSCRIBE_TIMEOUT, protocol.SUBSCRIBE_TIMEOUT)
                deadline = None
                continue
            if message["type"] == "websocket.disconnect":
                return
            try:
                await self.receive(message.get("text"))
            except (ApiError, StorageError) as error:  # the one place either becomes an error frame
                self.viewer.send(protocol.error(error.code, error.message))

    async def receive(self, text: str | None) -> None:
        self._frames.take()  # a flood gets error frames, not work
        await self.handle(_parse(text))

    async def handle(self, request: dict[str, Any]) -> None:
        kind = request["type"]
        if kind == protocol.PING:
            self.viewer.send(protocol.PONG_FRAME)
        elif kind == protocol.SUBSCRIBE:
            await self.subscribe(request)
        elif kind == protocol.RESUME:
            await self.resume(request)
        elif kind == protocol.IDENTIFY:
            self.identify(request)
        else:
            raise ApiError(400, "unknown_type", f"unknown message type {kind!r}")

    async def subscribe(self, request: dict[str, Any]) -> None:
        if self.channel is not None:
            raise ApiError(400, "already_subscribed", "this connection is subscribed already")
        tenant_id = self.tenant_id
        url_id = clean_url_id(request.get("urlId"))
        token = request.get("token")
        identity = None if token is None else self._identity(token)
        watches_presence = request.get(protocol.PRESENCE) is True
        since = None if request.get("since") is None else _since(request)
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
        self.services.hub.presence.arrive(channel, self.viewer, identity, watches_presence)
        log.info("viewer %s watches an image of tenant %s", client_ip(self.websocket), tenant_id)
        # Read after joining: every event from here on is either replayed or held.
        seq, current_epoch = await store.position(tenant_id, url_id)
        reason = protocol.REASON_NEW
        # A client at seq 0 has applied nothing: whatever history the image has is new to it.
        if since is not None and (epoch == current_epoch or since == 0) and since <= seq:
            reason = protocol.REASON_TOO_OLD if seq - since > self.services.settings.replay_limit else ""
        elif since is not None:
            reason = protocol.REASON_EPOCH
        self.viewer.send(protocol.subscribed(seq, current_epoch, self.services.settings.heartbeat_seconds, reason))
        if since is not None and not reason:
            await self._replay(since, seq)
        self.viewer.release(seq)

    def identify(self, request: dict[str, Any]) -> None:
        """The user signed in (or changed their name) after subscribing: presence names them now,
        not from their next connection. The token is checked as at subscribe."""
        if self.channel is None:
            raise ApiError(400, "not_subscribed", "subscribe before identifying")
        identity = self._identity(request.get("token"))
        self.services.hub.presence.identify(self.channel, self.viewer, identity)

    def _identity(self, token: object) -> Identity:
        if not isinstance(token, str):
            raise ApiError(400, "invalid_field", "token: must be a string")
        return self.services.guard.identify(self.websocket, self.tenant, token)

    async def resume(self, request: dict[str, Any]) -> None:
        if self.channel is None:
            raise ApiError(400, "not_subscribed", "subscribe before resuming")
        since = _since(request)
        try:
            self._resumes.take()
        except ApiError:  # a snapshot is one request; a replay may be a thousand events each time
            self.viewer.send(protocol.reload(protocol.REASON_TOO_MANY_RESUMES))
            return
        self.viewer.hold()
        seq, _epoch = await self.services.store.position(self.tenant_id, self.url_id)
        if seq - since > self.services.settings.replay_limit:
            self.viewer.send(protocol.reload(protocol.REASON_TOO_OLD))
        elif since <= seq:
            await self._replay(since, seq)
        self.viewer.release(seq)
        if since > seq:
            raise _from_future(since, seq)

    async def _replay(self, since: int, upto: int) -> None:
        """The events after `since` up to `upto`, read from the log a page (one `batch` frame) at a
        time as the socket drains: a socket that does not read holds about a page, and the log is
        not read ahead of it. Live events meanwhile are held by the viewer."""
        while since < upto and await self.viewer.drained():
            async with REPLAY_READS:
                page = await self.services.store.events_after(
                    self.tenant_id, self.url_id, since, upto, limits.REPLAY_PAGE_EVENTS
                )
            if not page:
                return
            payloads = [payload for _seq, payload in page]
            self.viewer.send(payloads[0] if len(payloads) == 1 else protocol.batch_frame(payloads))
            since = page[-1][0]

    def close(self) -> None:
        if self.channel is not None:
            self.services.hub.leave(self.channel, self.viewer)
            self.services.hub.presence.depart(self.channel, self.viewer)


async def live_endpoint(websocket: WebSocket) -> None:
    guard = services(websocket).guard
    try:
        tenant = await guard.tenants.require(websocket.path_params["tenant"])
        guard.check_origin(websocket, tenant)
    except ApiError as error:
        await _refuse(websocket, error)
        return
    if not guard.open_connection(websocket):
        await _refuse(websocket, ApiError(429, "too_many_connections", "too many live connections from this address"))
        return
    try:  # the slot is given back however the socket ends, even when its client left before accept()
        await websocket.accept()
        await _serve(LiveConnection(websocket, tenant))
    finally:
        guard.close_connection(websocket)


async def _serve(connection: LiveConnection) -> None:
    usage = connection.services.usage
    usage.connection_opened(connection.tenant_id)
    try:
        await connection.run()
    finally:
        usage.connection_closed(connection.tenant_id)
        connection.close()
        await connection.viewer.stop()


async def _refuse(websocket: WebSocket, error: ApiError) -> None:
    """A permanent refusal (4xx but 429) as a close code the browser can read: 4000 + status, the
    error code as reason. A 429 stays an HTTP answer: the client retries later anyway."""
    if error.status != 429:
        await websocket.accept()
        await websocket.close(code=protocol.refusal_close_code(error.status), reason=error.code)
    elif "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(JSONResponse(error.as_json(), status_code=error.status))
    else:
        await websocket.close(code=protocol.refusal_close_code(error.status), reason=error.code)


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


def _since(request: dict[str, Any]) -> int:
    since = request.get("since")
    if isinstance(since, bool) or not isinstance(since, int) or since < 0:
        raise ApiError(400, "invalid_field", "since: must be a whole number, the last seq applied")
    return since


def _from_future(since: int, seq: int) -> ApiError:
    return ApiError(
        400, protocol.SEQ_FROM_FUTURE,
        f"since {since} is ahead of this image's last change ({seq}): subscribe without since and reload",
    )
