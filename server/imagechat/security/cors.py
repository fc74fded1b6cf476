"""Cross-origin headers. The widget's files may be loaded by any site (they are public); the API
answers browsers only from the origins each tenant allows, so another site's scripts cannot read
or change a tenant's threads with a visitor's browser.

Which origin may read an API answer is the guard's decision (it looks the tenant up once, after
the rate limit): it records it in the request's scope, and this middleware turns it into headers.
A refusal (forbidden origin, unknown tenant, too many requests) is readable too: it shows nothing
but itself, and lets the widget tell "not allowed here" from "the network is down"."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from imagechat.errors import ApiError

_TENANT_PATH = re.compile(r"^/api/v1/tenants/([^/]+)/")
# What a site's page loads to run the widget: readable by any origin.
PUBLIC_FILES = ("/embed.js", "/widget.css", "/widget/", "/vendor/")
READABLE_BY = "imagechat.readable_by"  # scope key: the origin that may read this answer
ALLOW_HEADERS = "Authorization, Content-Type"
ALLOW_METHODS = "GET, POST, PUT, PATCH, DELETE"


def let_read(scope: Scope, origin: str) -> None:
    scope[READABLE_BY] = origin


class CorsMiddleware:
    def __init__(self, app: ASGIApp, preflight: Callable[[Request, str], Awaitable[str]]) -> None:
        """`preflight(request, tenant_id)`: the origin that may call, or an ApiError (the guard's)."""
        self.app = app
        self.preflight = preflight

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope) if scope["type"] == "http" else None
        if headers is None or "origin" not in headers:
            await self.app(scope, receive, send)
            return
        tenant_path = _TENANT_PATH.match(scope["path"])
        if tenant_path and scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            response = await self._preflight(scope, tenant_path.group(1))
            await response(scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                allowed = scope.get(READABLE_BY) if tenant_path else "*" if _public(scope["path"]) else None
                if allowed:
                    response_headers = MutableHeaders(scope=message)
                    response_headers["Access-Control-Allow-Origin"] = allowed
                    response_headers.add_vary_header("Origin")
            await send(message)

        await self.app(scope, receive, send_with_cors)

    async def _preflight(self, scope: Scope, tenant_id: str) -> Response:
        try:
            origin = await self.preflight(Request(scope), tenant_id)
        except ApiError as error:
            return JSONResponse(error.as_json(), status_code=error.status, headers=error.headers)
        return Response(status_code=204, headers={
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": ALLOW_METHODS,
            "Access-Control-Allow-Headers": ALLOW_HEADERS,
            "Access-Control-Max-Age": "600",
            "Vary": "Origin",
        })


def _public(path: str) -> bool:
    return path.startswith(PUBLIC_FILES)
