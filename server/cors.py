"""Cross-origin headers. The widget's files may be loaded by any site (they are public); the API
answers browsers only from the origins each tenant allows, so another site's scripts cannot read
or change a tenant's threads with a visitor's browser."""

from __future__ import annotations

import re

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from imagechat.tenants import Tenants

_TENANT_PATH = re.compile(r"^/api/v1/tenants/([^/]+)/")
ALLOW_HEADERS = "Authorization, Content-Type"
ALLOW_METHODS = "GET, POST, PATCH, DELETE"


class CorsMiddleware:
    def __init__(self, app: ASGIApp, tenants: Tenants) -> None:
        self.app = app
        self.tenants = tenants

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope) if scope["type"] == "http" else None
        origin = headers.get("origin") if headers else None
        if headers is None or origin is None:
            await self.app(scope, receive, send)
            return
        allowed = await self._allowed_origin(scope, headers, origin)
        if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            await self._preflight(allowed)(scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start" and allowed:
                response_headers = MutableHeaders(scope=message)
                response_headers["Access-Control-Allow-Origin"] = allowed
                response_headers.add_vary_header("Origin")
            await send(message)

        await self.app(scope, receive, send_with_cors)

    async def _allowed_origin(self, scope: Scope, headers: Headers, origin: str) -> str | None:
        match = _TENANT_PATH.match(scope["path"])
        if match is None:  # public files (embed.js, the widget, the runtime) for any site; not the rest
            return None if scope["path"].startswith(("/api/", "/metrics", "/dashboard")) else "*"
        tenant = await self.tenants.get(match.group(1))
        own = f"{scope.get('scheme', 'http')}://{headers.get('host', '')}"
        return origin if tenant is not None and tenant.allows_origin(origin, own) else None

    @staticmethod
    def _preflight(allowed: str | None) -> Response:
        if allowed is None:
            return JSONResponse({"error": "origin_not_allowed", "message": "this origin may not use this tenant"},
                                status_code=403)
        return Response(status_code=204, headers={
            "Access-Control-Allow-Origin": allowed,
            "Access-Control-Allow-Methods": ALLOW_METHODS,
            "Access-Control-Allow-Headers": ALLOW_HEADERS,
            "Access-Control-Max-Age": "600",
            "Vary": "Origin",
        })
