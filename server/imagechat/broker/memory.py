"""In-process backend: the default for one server process, and for tests. A publish is handed to
the receiver at once, in the publisher's call: no queue, no task switch. Every channel is
delivered (the receiver drops those it does not watch), so subscribing costs nothing."""

from __future__ import annotations

from imagechat.broker import Discard, Envelope, Receiver


class MemoryBackend:
    def __init__(self) -> None:
        self._receiver: Receiver = Discard()

    def listen(self, receiver: Receiver) -> None:
        self._receiver = receiver

    async def connect(self) -> None:
        pass

    async def disconnect(self) -> None:
        pass

    async def subscribe(self, channel: str) -> None:
        pass

    async def unsubscribe(self, channel: str) -> None:
        pass

    async def publish(self, channel: str, envelope: Envelope) -> None:
        self._receiver.on_message(channel, envelope)

    async def publish_presence(self, channel: str, payload: str) -> None:
        self._receiver.on_presence(channel, payload)
