"""The Host header must name this server. A page on another name that resolves to this server (DNS
rebinding) would otherwise be same-origin with it: its Host and Origin agree, and a tenant that
allows `self` would take its requests for the demo site's own."""

from __future__ import annotations

import socket

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

LOCAL_NAMES = ("localhost", "127.0.0.1", "::1")
WILDCARD_BINDS = ("0.0.0.0", "::", "")
ANY = "*"


def allowed_hosts(configured: str, bind_host: str) -> frozenset[str]:
    """The configured names, or by default the bound address and the local names; bound to every
    address (`--host 0.0.0.0`), also this machine's own name and the addresses it resolves to, so
    that the demo opened from another machine of the network works out of the box."""
    names = [name.strip().lower() for name in configured.split(",") if name.strip()]
    if names:
        return frozenset(names)
    defaults = {*LOCAL_NAMES, bind_host.lower()}
    if bind_host in WILDCARD_BINDS:
        defaults |= _machine_names()
    return frozenset(defaults)


def _machine_names() -> set[str]:
    hostname = socket.gethostname().lower()
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(hostname, None)}
    except OSError:  # a host name the machine cannot resolve: its name alone
        addresses = set()
    return {hostname, socket.getfqdn().lower(), *addresses}


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
