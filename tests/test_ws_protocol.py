"""Our uvicorn WebSocket protocol in process, on a fake transport: the handshake offers `write_now`
to the application, which writes a shared frame at once while the transport has room and refuses
while it is paused or closing; and the lean stand-ins for asyncio.Queue and Event it uses."""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.config import Config
from uvicorn.server import ServerState
from websockets.client import ClientProtocol
from websockets.frames import Opcode
from websockets.typing import Origin
from websockets.uri import parse_uri

from imagechat.config import Settings
from imagechat.live.batching import Frame
from imagechat.security.connections import WRITE_NOW, Flag, Inbox, connection_cap, protocols
from tests.services import run


class FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.closing = False

    def write(self, data: bytes) -> None:  # type: ignore[override]
        self.written += data

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8000)}.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def test_write_now_writes_a_shared_frame_while_the_transport_has_room_and_refuses_otherwise():
    async def body() -> None:
        scopes: list[dict[str, Any]] = []

        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            scopes.append(scope)
            await receive()  # websocket.connect
            await send({"type": "websocket.accept"})
            await asyncio.Event().wait()  # stays connected

        config = Config(app=app, ws_per_message_deflate=False, log_level="warning")
        config.load()
        _http, ws_protocol = protocols(Settings())
        protocol = ws_protocol(config=config, server_state=ServerState(), app_state={})  # type: ignore[call-arg]
        transport = FakeTransport()
        protocol.connection_made(transport)
        client = ClientProtocol(parse_uri("ws://127.0.0.1:8000/live"), origin=Origin("http://127.0.0.1:8000"))
        client.send_request(client.connect())
        protocol.data_received(b"".join(client.data_to_send()))
        while not protocol.handshake_complete:
            await asyncio.sleep(0)
        client.receive_data(bytes(transport.written))  # the handshake's answer
        transport.written.clear()

        write_now = scopes[0]["extensions"][WRITE_NOW]
        frame = Frame('{"type":"heartbeat"}')
        assert write_now(frame) is True and bytes(transport.written) == frame.wire
        client.receive_data(bytes(transport.written))
        received = client.events_received()
        assert [(event.opcode, event.data) for event in received[1:]] == [(Opcode.TEXT, frame.data)]

        protocol.pause_writing()  # over the transport's high-water mark: a slow reader
        assert write_now(frame) is False
        protocol.resume_writing()
        assert write_now(frame) is True
        transport.closing = True
        assert write_now(frame) is False
        for task in protocol.tasks:
            task.cancel()

    run(body())


def test_the_inbox_hands_items_over_in_order_and_a_cancelled_reader_loses_none():
    async def body() -> None:
        inbox: Inbox[int] = Inbox()
        reader = asyncio.create_task(inbox.get())
        await asyncio.sleep(0)
        inbox.put_nowait(1)
        inbox.put_nowait(2)
        assert await reader == 1 and not inbox.empty()
        assert await inbox.get() == 2 and inbox.empty()
        cancelled = asyncio.create_task(inbox.get())
        await asyncio.sleep(0)
        inbox.put_nowait(3)
        cancelled.cancel()  # woken, then cancelled before it ran: 3 stays for the next reader
        await asyncio.gather(cancelled, return_exceptions=True)
        assert await inbox.get() == 3

    run(body())


def test_the_flag_lets_waiters_through_only_while_it_is_set():
    async def body() -> None:
        flag = Flag()
        assert flag.is_set()
        await flag.wait()  # set: no wait
        flag.clear()
        waiters = [asyncio.create_task(flag.wait()) for _ in range(2)]
        await asyncio.sleep(0)
        assert not any(waiter.done() for waiter in waiters)
        flag.set()
        await asyncio.gather(*waiters)
        flag.clear()
        given_up = asyncio.create_task(flag.wait())
        await asyncio.sleep(0)
        given_up.cancel()
        await asyncio.gather(given_up, return_exceptions=True)
        flag.set()  # nothing left waiting: nothing to wake

    run(body())


def test_the_tcp_cap_per_address_never_refuses_the_live_connections_it_allows():
    assert connection_cap(Settings(max_http_connections_per_ip=200, max_connections_per_ip=50)) == 200
    assert connection_cap(Settings(max_http_connections_per_ip=200, max_connections_per_ip=100_000)) == 100_050
    assert connection_cap(Settings(max_http_connections_per_ip=0, max_connections_per_ip=50)) == 0
