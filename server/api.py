"""REST endpoints under /api/v1. Each change is stored, then its event is published."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from imagechat import limits
from imagechat.errors import ApiError
from imagechat.identity import author_from_request
from imagechat.store import Change
from imagechat.validation import clean_fraction, clean_id, clean_text, clean_url_id, optional_id


async def read_json(request: Request) -> dict[str, Any]:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limits.MAX_BODY_BYTES:
        raise _too_large()
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limits.MAX_BODY_BYTES:
            raise _too_large()
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
        raise ApiError(400, "invalid_json", "the request body is not valid JSON") from None
    if not isinstance(value, dict):
        raise ApiError(400, "invalid_json", "the request body must be a JSON object")
    return value


def _too_large() -> ApiError:
    return ApiError(413, "body_too_large", f"the request body is over {limits.MAX_BODY_BYTES} bytes")


def _broadcast_id(value: Any) -> str | None:
    return None if value is None else clean_id(value, "broadcastId")


async def _publish(request: Request, change: Change, status: int) -> JSONResponse:
    await request.app.state.services.broker.publish(change.channel, change.event)
    return JSONResponse(change.result, status_code=status)


async def get_snapshot(request: Request) -> JSONResponse:
    """
    summary: The markers of an image with their comments, and the seq of the last change included
    parameters:
      - {name: tenant, in: path, required: true, schema: {type: string}}
      - {name: urlId, in: query, required: true, schema: {type: string}}
    responses:
      200: {description: "{urlId, seq, epoch, markers: [{id, x, y, author, createdAt, comments}]}"}
      404: {description: unknown tenant}
    """
    url_id = clean_url_id(request.query_params.get("urlId"))
    snapshot = await request.app.state.services.store.snapshot(request.path_params["tenant"], url_id)
    return JSONResponse(snapshot)


async def create_marker(request: Request) -> JSONResponse:
    """
    summary: Drop a marker on an image with the first comment of its thread
    parameters:
      - {name: tenant, in: path, required: true, schema: {type: string}}
    requestBody:
      content:
        application/json:
          schema:
            type: object
            required: [urlId, x, y, text]
            properties:
              urlId: {type: string}
              x: {type: number, minimum: 0, maximum: 1}
              y: {type: number, minimum: 0, maximum: 1}
              text: {type: string}
              id: {type: string, description: optional client-chosen marker id}
              commentId: {type: string, description: optional client-chosen comment id}
              broadcastId: {type: string}
    responses:
      201: {description: "{seq, marker}"}
      400: {description: invalid input}
      409: {description: id already taken}
    """
    body = await read_json(request)
    author = author_from_request(request)
    change = await request.app.state.services.store.create_marker(
        request.path_params["tenant"],
        clean_url_id(body.get("urlId")),
        author,
        x=clean_fraction(body.get("x"), "x"),
        y=clean_fraction(body.get("y"), "y"),
        text=clean_text(body.get("text")),
        broadcast_id=_broadcast_id(body.get("broadcastId")),
        marker_id=optional_id(body, "id"),
        comment_id=optional_id(body, "commentId"),
    )
    return await _publish(request, change, 201)


async def delete_marker(request: Request) -> JSONResponse:
    """
    summary: Delete a marker and its thread (its author only)
    parameters:
      - {name: tenant, in: path, required: true, schema: {type: string}}
      - {name: marker, in: path, required: true, schema: {type: string}}
      - {name: broadcastId, in: query, required: false, schema: {type: string}}
    responses:
      200: {description: "{seq, markerId}"}
      403: {description: not the author}
      404: {description: unknown marker}
    """
    author = author_from_request(request)
    change = await request.app.state.services.store.delete_marker(
        request.path_params["tenant"],
        request.path_params["marker"],
        author,
        _broadcast_id(request.query_params.get("broadcastId")),
    )
    return await _publish(request, change, 200)


async def add_comment(request: Request) -> JSONResponse:
    """
    summary: Reply in a marker's thread
    parameters:
      - {name: tenant, in: path, required: true, schema: {type: string}}
      - {name: marker, in: path, required: true, schema: {type: string}}
    requestBody:
      content:
        application/json:
          schema:
            type: object
            required: [text]
            properties:
              text: {type: string}
              id: {type: string}
              broadcastId: {type: string}
    responses:
      201: {description: "{seq, markerId, change, comment}"}
      404: {description: unknown marker}
    """
    body = await read_json(request)
    author = author_from_request(request)
    change = await request.app.state.services.store.add_comment(
        request.path_params["tenant"],
        request.path_params["marker"],
        author,
        clean_text(body.get("text")),
        _broadcast_id(body.get("broadcastId")),
        comment_id=optional_id(body, "id"),
    )
    return await _publish(request, change, 201)


async def edit_comment(request: Request) -> JSONResponse:
    """
    summary: Change the text of a comment (its author only)
    parameters:
      - {name: tenant, in: path, required: true, schema: {type: string}}
      - {name: comment, in: path, required: true, schema: {type: string}}
    requestBody:
      content:
        application/json:
          schema:
            type: object
            required: [text]
            properties:
              text: {type: string}
              broadcastId: {type: string}
    responses:
      200: {description: "{seq, markerId, change, comment}"}
      403: {description: not the author}
      404: {description: unknown comment}
    """
    body = await read_json(request)
    author = author_from_request(request)
    change = await request.app.state.services.store.edit_comment(
        request.path_params["tenant"],
        request.path_params["comment"],
        author,
        clean_text(body.get("text")),
        _broadcast_id(body.get("broadcastId")),
    )
    return await _publish(request, change, 200)


async def delete_comment(request: Request) -> JSONResponse:
    """
    summary: Delete a comment (its author only); deleting a thread's last comment deletes the marker
    parameters:
      - {name: tenant, in: path, required: true, schema: {type: string}}
      - {name: comment, in: path, required: true, schema: {type: string}}
      - {name: broadcastId, in: query, required: false, schema: {type: string}}
    responses:
      200: {description: "{seq, markerId, change, commentId} or, for a thread's last comment, {seq, markerId}"}
      403: {description: not the author}
      404: {description: unknown comment}
    """
    author = author_from_request(request)
    change = await request.app.state.services.store.delete_comment(
        request.path_params["tenant"],
        request.path_params["comment"],
        author,
        _broadcast_id(request.query_params.get("broadcastId")),
    )
    return await _publish(request, change, 200)


PREFIX = "/tenants/{tenant}"  # under the /api/v1 mount

routes = [
    Route(f"{PREFIX}/snapshot", get_snapshot, methods=["GET"]),
    Route(f"{PREFIX}/markers", create_marker, methods=["POST"]),
    Route(f"{PREFIX}/markers/{{marker}}", delete_marker, methods=["DELETE"]),
    Route(f"{PREFIX}/markers/{{marker}}/comments", add_comment, methods=["POST"]),
    Route(f"{PREFIX}/comments/{{comment}}", edit_comment, methods=["PATCH"]),
    Route(f"{PREFIX}/comments/{{comment}}", delete_comment, methods=["DELETE"]),
]
