"""Publish/subscribe between the write path and the sockets, in the style of encode/broadcaster.

A backend only moves messages between processes (`memory://` inside one process; a Redis backend
plugs in here for several). `Broker` fans each received message out to the local subscribers of its
channel, so neither the API nor the WebSocket side knows which backend runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Protocol
from urllib.parse import urlparse


class BrokerBackend(Protocol):
    async def connect(self) -> None: ...
    async def disconnect(self) -> None: ...
    async def subscribe(self, channel: str) -> None: ...
    async def unsubscribe(self, channel: str) -> None: ...
    async def publish(self, channel: str, message: str) -> None: ...
    async def next_published(self) -> tuple[str, str]:
        """Wait for the next message of any subscribed channel."""
        ...


# What `next_published` returns when messages may have been lost (a reconnection): every local
# subscriber must be told to catch up from the event log.
GAP = ("", "")


def backend_for_url(url: str) -> BrokerBackend:
    scheme = urlparse(url).scheme
    if scheme == "memory":
        from imagechat.broker.memory import MemoryBackend

        return MemoryBackend()
    if scheme in ("redis", "rediss"):
        from imagechat.broker.redis import RedisBackend

        return RedisBackend(url)
    raise ValueError(f"unsupported broker URL scheme {scheme!r} (supported: memory://, redis://, rediss://)")


class Subscriber:
    def __init__(self) -> None:
        self._queue: asyncio.Queue[str] = asyncio.Queue()

    def _put(self, message: str) -> None:
        self._queue.put_nowait(message)

    async def __aiter__(self) -> AsyncIterator[str]:
        while True:
            yield await self._queue.get()


class Broker:
    def __init__(self, url: str = "memory://") -> None:
        self._backend = backend_for_url(url)
        self._subscribers: dict[str, set[Subscriber]] = {}
        self._listener: asyncio.Task[None] | None = None
        self._gap_listeners: list[Callable[[], None]] = []

    def on_gap(self, listener: Callable[[], None]) -> None:
        """Call `listener` whenever messages may have been lost (the backend reconnected)."""
        self._gap_listeners.append(listener)

    async def connect(self) -> None:
        await self._backend.connect()
        self._listener = asyncio.create_task(self._listen(), name="broker-listener")

    async def disconnect(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
        await self._backend.disconnect()

    async def publish(self, channel: str, message: str) -> None:
        await self._backend.publish(channel, message)

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[Subscriber]:
        """Messages published on `channel` after this is entered reach the yielded subscriber."""
        subscriber = Subscriber()
        first = channel not in self._subscribers
        self._subscribers.setdefault(channel, set()).add(subscriber)
        try:
            if first:
                await self._backend.subscribe(channel)
            yield subscriber
        finally:
            local = self._subscribers.get(channel, set())
            local.discard(subscriber)
            if not local:
                self._subscribers.pop(channel, None)
                await self._backend.unsubscribe(channel)

    async def _listen(self) -> None:
        while True:
            published = await self._backend.next_published()
            if published == GAP:
                for listener in self._gap_listeners:
                    listener()
                continue
            channel, message = published
            for subscriber in self._subscribers.get(channel, ()):
                subscriber._put(message)
