"""Security headers. Every response says what it is (no content sniffing); the server's own pages
(demo, sign-on demo, dashboard) may not be framed by another site, where a click on them could be
steered (clickjacking) - the sign-on demo page carries a moderator's sign-on."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# The demo pages run the widget (PyScript + Pyodide, which compile WebAssembly and inject styles):
# their scripts are files, never inline, but the runtime needs more than a strict policy allows.
PAGE_POLICY = "frame-ancestors 'none'; object-src 'none'; base-uri 'self'; form-action 'self'"
# The dashboard is plain JavaScript from this server.
DASHBOARD_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "frame-ancestors 'none'; object-src 'none'; base-uri 'none'; form-action 'self'"
)


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["X-Content-Type-Options"] = "nosniff"
                if headers.get("content-type", "").startswith("text/html"):
                    dashboard = scope["path"].startswith("/dashboard")
                    headers["Content-Security-Policy"] = DASHBOARD_POLICY if dashboard else PAGE_POLICY
                    headers["X-Frame-Options"] = "DENY"
            await send(message)

        await self.app(scope, receive, send_with_headers)
