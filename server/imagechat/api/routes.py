"""REST endpoints under /api/v1. Each write is stored, then its event is published and answered."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from imagechat import protocol
from imagechat.errors import ApiError, invalid
from imagechat.live.hub import image_channel
from imagechat.security.validation import clean_flag, clean_fraction, clean_id, clean_text, clean_url_id, optional_id
from imagechat.services import services
from imagechat.storage.store import Committed


async def read_json(request: Request) -> dict[str, Any]:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > protocol.MAX_BODY_BYTES:
        raise _too_large()
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > protocol.MAX_BODY_BYTES:
            raise _too_large()
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
        raise ApiError(400, "invalid_json", "the request body is not valid JSON") from None
    if not isinstance(value, dict):
        raise ApiError(400, "invalid_json", "the request body must be a JSON object")
    return value


def _too_large() -> ApiError:
    return ApiError(413, "body_too_large", f"the request body is over {protocol.MAX_BODY_BYTES} bytes")


def _broadcast_id(value: Any) -> str | None:
    return None if value is None else clean_id(value, "broadcastId")


async def _publish(request: Request, committed: Committed, status: int) -> Response:
    """Publish the committed event and answer it: its author applies it like everyone else."""
    channel = image_channel(committed.tenant_id, committed.url_id)
    await services(request).broker.publish(channel, committed.seq, committed.event)
    services(request).webhooks.wake(committed.tenant_id)  # deliver it to its webhooks now, not at the next poll
    return Response(committed.event, status_code=status, media_type="application/json")


async def create_session(request: Request) -> JSONResponse:
    """
    summary: Sign in - anonymously with a display name, or with the site's signed sign-on payload
    description: >
      Answers a session token to send as `Authorization: Bearer <token>` with every change.
      Sending a still valid anonymous token along keeps the same author id (to change one's name).
    parameters:
      - {name: tenant, in: path, required: true, schema: {type: string}}
    requestBody:
      content:
        application/json:
          schema:
            type: object
            properties:
              name: {type: string, description: display name of an anonymous user}
              sso: {type: string, description: payload.signature made with the tenant's API secret}
    responses:
      201: {description: "{token, expiresAt, author: {id, name}, roles}"}
      401: {description: "invalid_sso, expired_sso, invalid_token"}
      403: {description: origin not allowed}
    """
    tenant = await services(request).guard.tenant(request, check_origin=True)
    body = await read_json(request)
    identity = await services(request).guard.sign_in(request, tenant, body)
    token, expires = services(request).tokens.issue(tenant, identity)
    author = {"id": identity.id, "name": identity.name}
    return JSONResponse({"token": token, "expiresAt": expires, "author": author, "roles": list(identity.roles)},
                        status_code=201)


async def get_snapshot(request: Request) -> Response:
    """
    summary: The markers of an image, each with its thread's first comment, and the seq of the last change included
    description: >
      Each marker carries only the first comment of its thread and `commentCount`, the number of
      comments in it; read the rest from `GET .../markers/{marker}/comments`. The answer has an
      `ETag` (it changes with every change of the image) and `Cache-Control: no-cache`: sending it
      back as `If-None-Match` answers 304 with no body while nothing changed.
    parameters:
      - {name: tenant, in: path, required: true, schema: {type: string}}
      - {name: urlId, in: query, required: true, schema: {type: string}}
      - {name: If-None-Match, in: header, required: false, schema: {type: string}}
    responses:
      200: {description: "{urlId, seq, epoch, readonly, markers: [{id, x, y, author, createdAt, comments: [first], commentCount}]}"}
      304: {description: unchanged since the ETag sent}
      404: {description: unknown tenant}
    """
    tenant = await services(request).guard.tenant(request, check_origin=False)
    url_id = clean_url_id(request.query_params.get("urlId"))
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None:
        # Only the image's position is read to tell that nothing changed.
        seq, epoch = await services(request).store.position(tenant.id, url_id)
        tag = snapshot_etag(seq, epoch, tenant.readonly)
        if etag_matches(if_none_match, tag):
            return Response(status_code=304, headers={"ETag": tag, "Cache-Control": "no-cache"})
    snapshot = await services(request).store.snapshot(tenant.id, url_id)
    tag = snapshot_etag(snapshot["seq"], snapshot["epoch"], tenant.readonly)
    return JSONResponse({**snapshot, "readonly": tenant.readonly}, headers={"ETag": tag, "Cache-Control": "no-cache"})


def snapshot_etag(seq: int, epoch: str | None, readonly: bool) -> str:
    """Everything a snapshot's answer depends on: its history, its position in it, the mode.
    Weak: the same content may go out in another encoding."""
    return f'W/"{epoch or "none"}.{seq}.{"ro" if readonly else "rw"}"'


def etag_matches(if_none_match: str, tag: str) -> bool:
    """Weak comparison (RFC 9110, 13.1.2) against a list of tags or `*`."""
    sent = {value.strip().removeprefix("W/") for value in if_none_match.split(",")}
    return "*" in sent or tag.removeprefix("W/") in sent


async def get_thread(request: Request) -> JSONResponse:
    """
    summary: A page of a marker's thread, oldest first
    description: >
      Pass the `next` of an answer as `after` to read the following page; `next` is null on the
      last. `seq` is the image's seq when the page was read: the page includes every change up to
      it. A cursor naming a comment deleted meanwhile answers 404 `comment_not_found` (start over).
    parameters:
      - {name: tenant, in: path, required: true, schema: {type: string}}
      - {name: marker, in: path, required: true, schema: {type: string}}
      - {name: after, in: query, required: false, schema: {type: string}}
      - {name: limit, in: query, required: false, schema: {type: integer, default: 100, minimum: 1, maximum: 100}}
    responses:
      200: {description: "{markerId, seq, comments: [{id, author, text, createdAt, updatedAt}], next}"}
      400: {description: invalid after or limit}
      404: {description: "tenant_not_found, marker_not_found, comment_not_found (the cursor's)"}
    """
    tenant = await services(request).guard.tenant(request, check_origin=False)
    after = request.query_params.get("after")
    page = await services(request).store.thread(
        tenant.id,
        request.path_params["marker"],
        None if after is None else clean_id(after, "after"),
        _page_size(request.query_params.get("limit")),
    )
    return JSONResponse(page)


def _page_size(raw: str | None) -> int:
    if raw is None:
        return protocol.THREAD_PAGE_COMMENTS
    if not raw.isdigit() or not 1 <= int(raw) <= protocol.THREAD_PAGE_COMMENTS:
        raise invalid("limit", f"must be a whole number from 1 to {protocol.THREAD_PAGE_COMMENTS}")
    return int(raw)


async def create_marker(request: Request) -> Response:
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
      201: {description: "the committed new-image-chat event: {type, seq, broadcastId, marker}, and `epoch` on the image's first change"}
      400: {description: invalid input}
      409: {description: "id already taken (ids are unique per tenant)"}
      503: {description: "busy: the change kept colliding with others; retry after Retry-After"}
    """
    tenant, identity = await services(request).guard.writer(request)
    body = await read_json(request)
    committed = await services(request).store.create_marker(
        tenant.id,
        clean_url_id(body.get("urlId")),
        identity.author(),
        x=clean_fraction(body.get("x"), "x"),
        y=clean_fraction(body.get("y"), "y"),
        text=clean_text(body.get("text")),
        broadcast_id=_broadcast_id(body.get("broadcastId")),
        marker_id=optional_id(body, "id"),
        comment_id=optional_id(body, "commentId"),
    )
    services(request).usage.marker_created(tenant.id)
    return await _publish(request, committed, 201)


async def delete_marker(request: Request) -> Response:
    """
    summary: Delete a marker and its thread (its author, or a moderator)
    parameters:
      - {name: tenant, in: path, required: true, schema: {type: string}}
      - {name: marker, in: path, required: true, schema: {type: string}}
      - {name: broadcastId, in: query, required: false, schema: {type: string}}
    responses:
      200: {description: "the committed deleted-image-chat event: {type, seq, broadcastId, markerId}"}
      403: {description: not the author}
      404: {description: "unknown marker, or deleted meanwhile: nothing changed, no event"}
      503: {description: "busy: the change kept colliding with others; retry after Retry-After"}
    """
    tenant, identity = await services(request).guard.writer(request)
    committed = await services(request).store.delete_marker(
        tenant.id,
        request.path_params["marker"],
        identity.author(),
        _broadcast_id(request.query_params.get("broadcastId")),
    )
    return await _publish(request, committed, 200)


async def resolve_marker(request: Request) -> Response:
    """
    summary: Resolve a thread, or reopen it (its author, or a moderator)
    parameters:
      - {name: tenant, in: path, required: true, schema: {type: string}}
      - {name: marker, in: path, required: true, schema: {type: string}}
    requestBody:
      content:
        application/json:
          schema:
            type: object
            required: [resolved]
            properties:
              resolved: {type: boolean, description: "true: resolve; false: reopen"}
              broadcastId: {type: string}
    responses:
      200: {description: "the committed image-chat-updated event: {type, seq, broadcastId, markerId, change: resolved, resolvedAt, resolvedBy} or {..., change: reopened}"}
      400: {description: "resolved is not true or false"}
      403: {description: not the thread's author nor a moderator}
      404: {description: "unknown marker, or deleted meanwhile: nothing changed, no event"}
      503: {description: "busy: the change kept colliding with others; retry after Retry-After"}
    """
    tenant, identity = await services(request).guard.writer(request)
    body = await read_json(request)
    committed = await services(request).store.resolve_marker(
        tenant.id,
        request.path_params["marker"],
        identity.author(),
        clean_flag(body.get("resolved"), "resolved"),
        _broadcast_id(body.get("broadcastId")),
    )
    return await _publish(request, committed, 200)


async def add_comment(request: Request) -> Response:
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
      201: {description: "the committed image-chat-updated event: {type, seq, broadcastId, markerId, change, comment}"}
      404: {description: "unknown marker, or deleted meanwhile: nothing changed, no event"}
      503: {description: "busy: the change kept colliding with others; retry after Retry-After"}
    """
    tenant, identity = await services(request).guard.writer(request)
    body = await read_json(request)
    committed = await services(request).store.add_comment(
        tenant.id,
        request.path_params["marker"],
        identity.author(),
        clean_text(body.get("text")),
        _broadcast_id(body.get("broadcastId")),
        comment_id=optional_id(body, "id"),
    )
    return await _publish(request, committed, 201)


async def edit_comment(request: Request) -> Response:
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
      200: {description: "the committed image-chat-updated event: {type, seq, broadcastId, markerId, change, comment}"}
      403: {description: not the author}
      404: {description: "unknown comment, or deleted meanwhile: nothing changed, no event"}
      503: {description: "busy: the change kept colliding with others; retry after Retry-After"}
    """
    tenant, identity = await services(request).guard.writer(request)
    body = await read_json(request)
    committed = await services(request).store.edit_comment(
        tenant.id,
        request.path_params["comment"],
        identity.author(),
        clean_text(body.get("text")),
        _broadcast_id(body.get("broadcastId")),
    )
    return await _publish(request, committed, 200)


async def delete_comment(request: Request) -> Response:
    """
    summary: Delete a comment (its author, or a moderator); deleting a thread's last comment deletes the marker
    parameters:
      - {name: tenant, in: path, required: true, schema: {type: string}}
      - {name: comment, in: path, required: true, schema: {type: string}}
      - {name: broadcastId, in: query, required: false, schema: {type: string}}
    responses:
      200: {description: "the committed event: image-chat-updated {type, seq, broadcastId, markerId, change, commentId} or, for a thread's last comment, deleted-image-chat"}
      403: {description: not the author}
      404: {description: "unknown comment, or deleted meanwhile: nothing changed, no event"}
      503: {description: "busy: the change kept colliding with others; retry after Retry-After"}
    """
    tenant, identity = await services(request).guard.writer(request)
    committed = await services(request).store.delete_comment(
        tenant.id,
        request.path_params["comment"],
        identity.author(),
        _broadcast_id(request.query_params.get("broadcastId")),
    )
    return await _publish(request, committed, 200)


async def get_usage(request: Request) -> JSONResponse:
    """
    summary: What live sync cost this tenant, per minute, with its busiest images
    description: >
      For the site's owner: send `Authorization: Secret <tenant API secret>` (or the session token
      of a signed-on `admin`). Counts add up over every server node.
    parameters:
      - {name: tenant, in: path, required: true, schema: {type: string}}
      - {name: minutes, in: query, required: false, schema: {type: integer, default: 60, maximum: 43200}}
    responses:
      200: {description: "{tenant, name, from, to, bucketSeconds, totals, series, busiestImages}"}
      401: {description: "missing_secret, invalid_secret"}
    """
    tenant = await services(request).guard.tenant_owner(request)
    raw = request.query_params.get("minutes", "60")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_USAGE_MINUTES:
        raise invalid("minutes", f"must be a whole number from 1 to {MAX_USAGE_MINUTES}")
    report = await services(request).usage.report(tenant.id, int(raw))
    return JSONResponse({"tenant": tenant.id, "name": tenant.name, **report})


MAX_USAGE_MINUTES = 30 * 24 * 60
PREFIX = "/tenants/{tenant}"  # under the /api/v1 mount

routes = [
    Route(f"{PREFIX}/sessions", create_session, methods=["POST"]),
    Route(f"{PREFIX}/snapshot", get_snapshot, methods=["GET"]),
    Route(f"{PREFIX}/usage", get_usage, methods=["GET"]),
    Route(f"{PREFIX}/markers", create_marker, methods=["POST"]),
    Route(f"{PREFIX}/markers/{{marker}}", delete_marker, methods=["DELETE"]),
    Route(f"{PREFIX}/markers/{{marker}}/resolved", resolve_marker, methods=["PUT"]),
    Route(f"{PREFIX}/markers/{{marker}}/comments", add_comment, methods=["POST"]),
    Route(f"{PREFIX}/markers/{{marker}}/comments", get_thread, methods=["GET"]),
    Route(f"{PREFIX}/comments/{{comment}}", edit_comment, methods=["PATCH"]),
    Route(f"{PREFIX}/comments/{{comment}}", delete_comment, methods=["DELETE"]),
]
