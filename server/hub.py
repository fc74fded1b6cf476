"""Which sockets of this process watch which image, and the fan-out of each image's events.

One broker subscription per watched image, however many viewers watch it: each event arrives
once, already encoded, and the same text is queued to every viewer of that image.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

from starlette.websockets import WebSocket

from imagechat import limits, protocol
from imagechat.broker import Broker

# Close code for a viewer too slow to keep up; its client reconnects and reloads.
CLOSE_TOO_SLOW = 4008
HEARTBEAT = protocol.dumps({"type": "heartbeat"})


class Viewer:
    """One WebSocket. Frames go through an outbox so that one slow socket never holds up others."""

    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket
        self._outbox: asyncio.Queue[str | None] = asyncio.Queue(limits.MAX_PENDING_FRAMES_PER_SOCKET)
        self._dropped = False
        self._held: list[str] | None = None

    def hold(self) -> None:
        """Keep live events aside while the missed ones are replayed from the log."""
        self._held = []

    def release(self, replayed_up_to: int) -> None:
        """Send the live events kept aside, but those the replay already sent."""
        held, self._held = self._held or [], None
        for frame in held:
            if json.loads(frame)["seq"] > replayed_up_to:
                self.send(frame)

    def deliver(self, frame: str) -> None:
        """A live event from the hub."""
        if self._held is not None:
            self._held.append(frame)
        else:
            self.send(frame)

    def send(self, frame: str) -> None:
        if self._dropped:
            return
        try:
            self._outbox.put_nowait(frame)
        except asyncio.QueueFull:
            # Drop what is queued: the client reloads the image's state when it reconnects.
            self._dropped = True
            while not self._outbox.empty():
                self._outbox.get_nowait()
            self._outbox.put_nowait(None)  # the writer closes the socket at this marker

    async def run_writer(self) -> None:
        while (frame := await self._outbox.get()) is not None:
            await self.websocket.send_text(frame)
        await self.websocket.close(CLOSE_TOO_SLOW, "too slow: reconnect and reload")


class _Room:
    def __init__(self) -> None:
        self.viewers: set[Viewer] = set()
        self.ready = asyncio.Event()
        self.pump: asyncio.Task[None] | None = None


class Hub:
    def __init__(self, broker: Broker, heartbeat_seconds: float) -> None:
        self._broker = broker
        self._rooms: dict[str, _Room] = {}
        self._heartbeat = asyncio.create_task(self._beat(heartbeat_seconds), name="heartbeat")

    async def join(self, channel: str, viewer: Viewer) -> None:
        """Returns once every event published on `channel` from now on will reach `viewer`."""
        room = self._rooms.get(channel)
        if room is None:
            room = self._rooms[channel] = _Room()
            room.pump = asyncio.create_task(self._pump(channel, room), name=f"pump {channel}")
        room.viewers.add(viewer)
        await room.ready.wait()

    def leave(self, channel: str, viewer: Viewer) -> None:
        room = self._rooms.get(channel)
        if room is None:
            return
        room.viewers.discard(viewer)
        if not room.viewers:
            del self._rooms[channel]
            assert room.pump is not None
            room.pump.cancel()

    def viewer_count(self, channel: str) -> int:
        room = self._rooms.get(channel)
        return 0 if room is None else len(room.viewers)

    async def close(self) -> None:
        self._heartbeat.cancel()
        for room in list(self._rooms.values()):
            assert room.pump is not None
            room.pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await room.pump
        self._rooms.clear()

    async def _pump(self, channel: str, room: _Room) -> None:
        async with self._broker.subscribe(channel) as subscriber:
            room.ready.set()
            async for frame in subscriber:
                for viewer in room.viewers:
                    viewer.deliver(frame)

    async def _beat(self, interval: float) -> None:
        """Tell every viewer the connection lives, so that clients detect dead ones (a socket can
        die without a close: mobile sleep, a NAT dropping it silently)."""
        while True:
            await asyncio.sleep(interval)
            for room in self._rooms.values():
                for viewer in room.viewers:
                    viewer.send(HEARTBEAT)
