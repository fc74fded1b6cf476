"""Publish/subscribe between the write path and the live side, in the style of encode/broadcaster.

A backend only moves messages between processes (`memory://` inside one process, `redis://` for
several). Unlike broadcaster, there is no subscriber queue here: the node has one consumer (the
hub, which knows which sockets watch which channel), and the backend hands each message straight
to it. A message is an `Envelope`: the event's seq and its JSON, encoded once by the store, so
that nobody downstream parses JSON to learn the seq.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol
from urllib.parse import urlparse


class Envelope(NamedTuple):
    seq: int
    payload: str  # the event, encoded


class Receiver(Protocol):
    """The one consumer of a node's broker."""

    def on_message(self, channel: str, envelope: Envelope) -> None: ...

    def on_gap(self) -> None:
        """Messages may have been lost (the backend reconnected): viewers must catch up from the log."""
        ...

    def on_presence(self, channel: str, payload: str) -> None:
        """Another node's (or this one's) viewers of the image on `channel`: no seq, never stored."""
        ...


class Discard:
    """The receiver until one listens: a message for nobody is dropped."""

    def on_message(self, channel: str, envelope: Envelope) -> None:
        pass

    def on_gap(self) -> None:
        pass

    def on_presence(self, channel: str, payload: str) -> None:
        pass


class BrokerBackend(Protocol):
    def listen(self, receiver: Receiver) -> None: ...
    async def connect(self) -> None: ...
    async def disconnect(self) -> None: ...
    async def subscribe(self, channel: str) -> None: ...
    async def unsubscribe(self, channel: str) -> None: ...
    async def publish(self, channel: str, envelope: Envelope) -> None: ...
    async def publish_presence(self, channel: str, payload: str) -> None: ...


def backend_for_url(url: str) -> BrokerBackend:
    scheme = urlparse(url).scheme
    if scheme == "memory":
        from imagechat.broker.memory import MemoryBackend

        return MemoryBackend()
    if scheme in ("redis", "rediss"):
        from imagechat.broker.redis import RedisBackend

        return RedisBackend(url)
    raise ValueError(f"unsupported broker URL scheme {scheme!r} (supported: memory://, redis://, rediss://)")


class Broker:
    """The backend named by `url`, or the one given (tests, embedding)."""

    def __init__(self, url: str | None = None, *, backend: BrokerBackend | None = None) -> None:
        if backend is None:
            if url is None:
                raise ValueError("a broker needs a URL or a backend")
            backend = backend_for_url(url)
        self._backend = backend

    def listen(self, receiver: Receiver) -> None:
        """Hand every message of a subscribed channel, and every gap, to `receiver`."""
        self._backend.listen(receiver)

    async def connect(self) -> None:
        await self._backend.connect()

    async def disconnect(self) -> None:
        await self._backend.disconnect()

    async def subscribe(self, channel: str) -> None:
        """Returns once messages published on `channel` from now on reach the receiver."""
        await self._backend.subscribe(channel)

    async def unsubscribe(self, channel: str) -> None:
        await self._backend.unsubscribe(channel)

    async def publish(self, channel: str, seq: int, payload: str) -> None:
        await self._backend.publish(channel, Envelope(seq, payload))

    async def publish_presence(self, channel: str, payload: str) -> None:
        """This node's viewers of the image on `channel`, to every node subscribed to it (beside
        its events: no seq, not in the log; lost messages are made good by the next one)."""
        await self._backend.publish_presence(channel, payload)
