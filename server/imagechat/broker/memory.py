"""In-process backend: the default for one server process, and for tests."""

from __future__ import annotations

import asyncio


class MemoryBackend:
    def __init__(self) -> None:
        self._published: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self._channels: set[str] = set()

    async def connect(self) -> None:
        pass

    async def disconnect(self) -> None:
        pass

    async def subscribe(self, channel: str) -> None:
        self._channels.add(channel)

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)

    async def publish(self, channel: str, message: str) -> None:
        if channel in self._channels:
            self._published.put_nowait((channel, message))

    async def next_published(self) -> tuple[str, str]:
        return await self._published.get()
