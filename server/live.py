"""The WebSocket endpoint: a client subscribes to one image and receives its live events.

Client -> server: {"type": "subscribe", "tenant": "demo", "urlId": "..."}, {"type": "ping"}
Server -> client: {"type": "subscribed", "seq": N}, {"type": "pong"}, the events of
`imagechat.protocol`, and {"type": "error", "error": code, "message": ...} for a bad frame
(the connection stays open).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from starlette.websockets import WebSocket

from imagechat import protocol
from imagechat.errors import ApiError
from imagechat.hub import Viewer
from imagechat.store import image_channel
from imagechat.validation import clean_url_id

log = logging.getLogger("imagechat.live")


def error_frame(code: str, message: str) -> str:
    return protocol.dumps({"type": "error", "error": code, "message": message})


async def live_endpoint(websocket: WebSocket) -> None:
    services = websocket.app.state.services
    await websocket.accept()
    viewer = Viewer(websocket)
    writer = asyncio.create_task(viewer.run_writer())
    channel: str | None = None
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                break
            try:
                request = _parse(message.get("text"))
                kind = request["type"]
                if kind == "ping":
                    viewer.send(protocol.dumps({"type": "pong"}))
                elif kind == "subscribe":
                    if channel is not None:
                        raise ApiError(400, "already_subscribed", "this connection is subscribed already")
                    tenant_id, url_id = _subscription(request)
                    await services.store.require_tenant(tenant_id)
                    channel = image_channel(tenant_id, url_id)
                    await services.hub.join(channel, viewer)
                    seq = await services.store.current_seq(tenant_id, url_id)
                    viewer.send(protocol.dumps({"type": "subscribed", "seq": seq}))
                else:
                    raise ApiError(400, "unknown_type", f"unknown message type {kind!r}")
            except ApiError as error:
                viewer.send(error_frame(error.code, error.message))
    finally:
        if channel is not None:
            services.hub.leave(channel, viewer)
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await writer


def _parse(text: str | None) -> dict[str, Any]:
    if text is None:
        raise ApiError(400, "invalid_frame", "frames must be JSON text, not binary")
    try:
        request = json.loads(text)
    except ValueError:
        raise ApiError(400, "invalid_json", "the frame is not valid JSON") from None
    if not isinstance(request, dict) or not isinstance(request.get("type"), str):
        raise ApiError(400, "invalid_frame", 'a frame is a JSON object with a string "type"')
    return request


def _subscription(request: dict[str, Any]) -> tuple[str, str]:
    tenant_id = request.get("tenant")
    if not isinstance(tenant_id, str) or not tenant_id:
        raise ApiError(400, "invalid_field", "tenant: must be a non-empty string")
    return tenant_id, clean_url_id(request.get("urlId"))
