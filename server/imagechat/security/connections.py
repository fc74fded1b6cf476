"""TCP connections, below the application: a deadline for request headers, and a cap on the open
connections of one address. uvicorn closes a keep-alive connection that idles after a response,
but never one that sends nothing at all or stops half-way through its headers; each such socket
holds a file descriptor, and enough of them (from one client) stop the server from accepting any.

The HTTP protocol counts a connection when it is made; when it becomes a WebSocket, the transport
(and its count) passes to the WebSocket protocol, which gives it back when the connection ends.

The WebSocket protocol also offers the application a synchronous write (`WRITE_NOW`, an ASGI scope
extension) for the live fan-out, and keeps what an idle socket holds small: see
`GuardedWebSocketProtocol`."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Request

from imagechat.config import Settings

# The ASGI scope extension under which a WebSocket offers `write_now` (absent on other servers,
# and in Starlette's TestClient: the application then uses the ordinary ASGI `send`).
WRITE_NOW = "imagechat.write_now"
# Connections for REST requests an address may hold on top of its live ones (browsers open up to 6
# per host; several tabs, or a proxy of a few visitors).
REST_HEADROOM = 50


class SharedText(Protocol):
    """A text message written as is to many sockets: its UTF-8 bytes, and its whole frame."""

    @property
    def data(self) -> bytes: ...

    @property
    def wire(self) -> bytes: ...


def text_frame(data: bytes) -> bytes:
    """A text frame as a server sends it. A server's frames are not masked, so without a
    compression extension these bytes are the same on every socket: build them once, write them
    to each."""
    return Frame(Opcode.TEXT, data).serialize(mask=False)


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


T = TypeVar("T")


class Inbox(Generic[T]):
    """The part of asyncio.Queue that uvicorn's WebSocket protocol uses for what the client sends
    (put_nowait, get, empty; one reader: the application). An asyncio.Queue holds three deques
    and an Event's deque, about 3 KB for every socket, most of them idle."""

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: list[T] = []
        self._waiter: asyncio.Future[None] | None = None

    def put_nowait(self, item: T) -> None:
        self._items.append(item)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def empty(self) -> bool:
        return not self._items

    async def get(self) -> T:
        while not self._items:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._items.pop(0)


class Flag:
    """asyncio.Event as uvicorn's WebSocket protocol uses it for `writable`, with no deque of
    waiters per socket: a list exists only while a send waits for room."""

    __slots__ = ("_set", "_waiters")

    def __init__(self) -> None:
        self._set = True
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        self._set = True
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self._set = False

    async def wait(self) -> None:
        while not self._set:
            waiter = asyncio.get_running_loop().create_future()
            if self._waiters is None:
                self._waiters = []
            self._waiters.append(waiter)
            try:
                await waiter
            finally:
                if self._waiters is not None and waiter in self._waiters:
                    self._waiters.remove(waiter)


class GuardedWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's WebSocket protocol, giving back the address's connection slot at the end, with
    `write_now` for the fan-out, and lean while idle: every viewer holds one for its whole visit."""

    slots: ClassVar[AddressSlots]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = Inbox()  # type: ignore[assignment]
        self.writable = Flag()  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.slots.give_back(self.client[0] if self.client else "")
        super().connection_lost(exc)

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)  # builds the scope and schedules the application's task
        del self.request  # its headers are in the scope now: the parsed request need not stay
        if self.handshake_initiated and not self.close_sent:  # an upgrade, not a refused handshake
            self.scope["extensions"][WRITE_NOW] = self.write_now

    def start_keepalive(self) -> None:
        """Called once the handshake's answer is written: its headers are not needed any more."""
        del self.response
        super().start_keepalive()

    def write_now(self, message: SharedText) -> bool:
        """Write a text message at once if the transport takes it now; False if not (its buffer is
        over the high-water mark: a slow reader; or the socket is closing), and the caller keeps
        the message for the ordinary `send`, which waits for room (or fails).

        The ASGI `send` costs a coroutine, an event wait and a frame encoding per socket: for the
        same message to a thousand sockets, the encoding is the same each time and the socket
        almost always has room. Without compression the frame's bytes are built once for all
        sockets (`SharedText.wire`); with permessage-deflate each socket compresses its own."""
        if not self.writable.is_set() or self.close_sent or self.transport.is_closing():
            return False
        if self.conn.extensions:  # permessage-deflate: each socket's compressor has its own state
            self.conn.send_text(message.data)
            self.transport.write(b"".join(self.conn.data_to_send()))
        else:
            self.transport.write(message.wire)
        return True


def connection_cap(settings: Settings) -> int:
    """Open TCP connections per address. Never below the live connections an address may hold
    (`--max-connections-per-ip`), plus room for its REST requests: raising that one alone must
    not leave sockets refused at the TCP level."""
    if settings.max_http_connections_per_ip == 0:
        return 0
    return max(settings.max_http_connections_per_ip, settings.max_connections_per_ip + REST_HEADROOM)


def protocols(settings: Settings) -> tuple[type[asyncio.Protocol], type[asyncio.Protocol]]:
    """The HTTP and WebSocket protocol classes for uvicorn's `http=` and `ws=`, sharing one count."""
    slots = AddressSlots(connection_cap(settings))
    http = type("ImageChatHttpProtocol", (GuardedHttpProtocol,),
                {"slots": slots, "header_timeout": settings.header_timeout_seconds})
    ws = type("ImageChatWebSocketProtocol", (GuardedWebSocketProtocol,), {"slots": slots})
    return http, ws
