"""TCP connections, below the application: a deadline for request headers, and a cap on the open
connections of one address. uvicorn closes a keep-alive connection that idles after a response,
but never one that sends nothing at all or stops half-way through its headers; each such socket
holds a file descriptor, and enough of them (from one client) stop the server from accepting any.

The HTTP protocol counts a connection when it is made; when it becomes a WebSocket, the transport
(and its count) passes to the WebSocket protocol, which gives it back when the connection ends."""

from __future__ import annotations

import asyncio
from typing import ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from imagechat.config import Settings


class AddressSlots:
    """Open connections per client address, at most `limit` each (0: no cap, e.g. behind a proxy,
    where every visitor's connection comes from the proxy's address)."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._open: dict[str, int] = {}

    def take(self, address: str) -> bool:
        count = self._open.get(address, 0)
        if 0 < self._limit <= count:
            return False
        self._open[address] = count + 1
        return True

    def give_back(self, address: str) -> None:
        count = self._open.pop(address) - 1
        if count:
            self._open[address] = count


class GuardedHttpProtocol(HttpToolsProtocol):
    slots: ClassVar[AddressSlots]
    header_timeout: ClassVar[float]

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._address = self.client[0] if self.client else ""
        self._counted = self.slots.take(self._address)
        self._header_deadline: asyncio.TimerHandle | None = None
        if not self._counted:  # over the cap: refused before it costs more than this
            transport.abort()
            return
        self._await_headers()

    def connection_lost(self, exc: Exception | None) -> None:
        self._headers_arrived()
        if self._counted:
            self._counted = False
            self.slots.give_back(self._address)
        super().connection_lost(exc)

    def on_headers_complete(self) -> None:
        self._headers_arrived()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        waits_for_next_request = not self.pipeline
        super().on_response_complete()
        if waits_for_next_request and not self.transport.is_closing():
            self._await_headers()  # the keep-alive timeout covers silence; this, a request that trickles in

    def handle_websocket_upgrade(self) -> None:
        self._counted = False  # the WebSocket protocol gives the slot back when the socket closes
        super().handle_websocket_upgrade()

    def _await_headers(self) -> None:
        self._headers_arrived()
        self._header_deadline = self.loop.call_later(self.header_timeout, self._headers_too_late)

    def _headers_arrived(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_too_late(self) -> None:
        self._header_deadline = None
        self.transport.close()


class GuardedWebSocketProtocol(WebSocketsSansIOProtocol):
    slots: ClassVar[AddressSlots]

    def connection_lost(self, exc: Exception | None) -> None:
        self.slots.give_back(self.client[0] if self.client else "")
        super().connection_lost(exc)


def protocols(settings: Settings) -> tuple[type[asyncio.Protocol], type[asyncio.Protocol]]:
    """The HTTP and WebSocket protocol classes for uvicorn's `http=` and `ws=`, sharing one count."""
    slots = AddressSlots(settings.max_http_connections_per_ip)
    http = type("ImageChatHttpProtocol", (GuardedHttpProtocol,),
                {"slots": slots, "header_timeout": settings.header_timeout_seconds})
    ws = type("ImageChatWebSocketProtocol", (GuardedWebSocketProtocol,), {"slots": slots})
    return http, ws
