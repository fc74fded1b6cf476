"""The Host header must name this server. A page on another name that resolves to this server (DNS
rebinding) would otherwise be same-origin with it: its Host and Origin agree, and a tenant that
allows `self` would take its requests for the demo site's own."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

LOCAL_NAMES = ("localhost", "127.0.0.1", "::1")
ANY = "*"


def allowed_hosts(configured: str, bind_host: str) -> frozenset[str]:
    """The configured names, or by default the bound address and the local names."""
    names = [name.strip().lower() for name in configured.split(",") if name.strip()]
    return frozenset(names or [*LOCAL_NAMES, bind_host.lower()])


def host_name(host_header: str) -> str:
    """`example.com:8000` -> `example.com`; `[::1]:8000` -> `::1`."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


class HostMiddleware:
    def __init__(self, app: ASGIApp, hosts: frozenset[str]) -> None:
        self.app = app
        self.hosts = hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and ANY not in self.hosts:
            host = host_name(Headers(scope=scope).get("host", ""))
            if host not in self.hosts:
                # A WebSocket handshake gets this as its HTTP denial response.
                refusal = JSONResponse({"error": "invalid_host", "message": f"this server does not answer to {host!r}"},
                                       status_code=400)
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)
