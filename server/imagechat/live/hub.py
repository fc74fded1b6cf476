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
from imagechat.live.batching import Batcher
from imagechat.broker import Broker
from imagechat.usage import Usage

# Close code for a viewer too slow to keep up; its client reconnects and reloads.
CLOSE_TOO_SLOW = 4008
GONE = (1006, "the client is gone")  # why a viewer whose socket failed takes no more frames
# A replay reads and queues its next page once the outbox is down to this (about to be empty).
OUTBOX_LOW_WATER = 64 * 1024
HEARTBEAT = protocol.dumps({"type": "heartbeat"})
# Sent when this node may have missed events (its broker connection dropped): resume from your seq.
RESYNC = protocol.dumps({"type": "resync"})


class Viewer:
    """One WebSocket. Frames go through an outbox so that one slow socket never holds up others.
    The outbox is bounded in bytes, counting the live frames kept aside during a replay: past the
    bound the viewer is dropped (its client reconnects and reloads)."""

    __slots__ = ("websocket", "_tenant_id", "_usage", "_outbox", "_queued", "_held", "_held_bytes",
                 "_drained", "_closing")

    def __init__(self, websocket: WebSocket, tenant_id: str, usage: Usage) -> None:
        self.websocket = websocket
        self._tenant_id = tenant_id
        self._usage = usage
        self._outbox: asyncio.Queue[tuple[str, int] | None] = asyncio.Queue()
        self._queued = 0  # bytes in the outbox, and of the frame being written
        self._held: list[tuple[str, int]] | None = None
        self._held_bytes = 0
        self._drained: asyncio.Event | None = None  # only while a replay waits for room
        self._closing: tuple[int, str] | None = None  # once set, nothing more is queued

    @property
    def open(self) -> bool:
        return self._closing is None

    def hold(self) -> None:
        """Keep live events aside while the missed ones are replayed from the log."""
        self._held = []

    def release(self, replayed_up_to: int) -> None:
        """Send the live events kept aside, but those the replay already sent."""
        held, self._held = self._held or [], None
        self._held_bytes = 0
        for frame, size in held:
            message = json.loads(frame)
            if message["type"] != "batch":
                if message.get("seq", replayed_up_to + 1) > replayed_up_to:
                    self.send(frame, size)
                continue
            events = [event for event in message["events"] if event["seq"] > replayed_up_to]
            if events:
                self.send(protocol.dumps({"type": "batch", "events": events}))

    def deliver(self, frame: str, size: int) -> None:
        """A live frame from the hub, already measured (one measure for all its viewers)."""
        if self._held is None:
            self.send(frame, size)
        elif self.open and self._fits(size):
            self._held.append((frame, size))
            self._held_bytes += size

    def send(self, frame: str, size: int | None = None) -> None:
        size = len(frame.encode()) if size is None else size
        if self.open and self._fits(size):
            self._queued += size
            self._outbox.put_nowait((frame, size))

    async def drained(self) -> bool:
        """Wait until the outbox is down to its low-water mark; False when the socket is closing.
        A replay queues its next page only then: a socket that does not read holds about a page."""
        while self.open and self._queued > OUTBOX_LOW_WATER:
            self._drained = asyncio.Event()
            await self._drained.wait()
        self._drained = None
        return self.open

    def close(self, code: int, reason: str) -> None:
        """Close the socket once the frames queued so far are sent."""
        if self.open:
            self._closing = (code, reason)
            self._outbox.put_nowait(None)  # the writer closes the socket at this marker
            self._wake()

    async def run_writer(self) -> None:
        try:
            while (item := await self._outbox.get()) is not None:
                frame, size = item
                await self.websocket.send_text(frame)
                self._queued -= size
                self._usage.frame_sent(self._tenant_id, size)
                if self._queued <= OUTBOX_LOW_WATER:
                    self._wake()
            assert self._closing is not None
            await self.websocket.close(*self._closing)
        finally:
            self._closing = self._closing or GONE
            self._wake()

    def _fits(self, size: int) -> bool:
        if self._queued + self._held_bytes + size <= limits.MAX_OUTBOX_BYTES_PER_SOCKET:
            return True
        self._drop()
        return False

    def _drop(self) -> None:
        """Too slow to keep up: what is queued goes (the byte counts no longer matter), and the
        client reloads when it reconnects."""
        while not self._outbox.empty():
            self._outbox.get_nowait()
        self._held = None
        self.close(CLOSE_TOO_SLOW, "too slow: reconnect and reload")

    def _wake(self) -> None:
        if self._drained is not None:
            self._drained.set()


class _Room:
    def __init__(self) -> None:
        self.viewers: set[Viewer] = set()
        self.ready = asyncio.Event()
        self.pump: asyncio.Task[None] | None = None

    def fan_out(self, frame: str) -> None:
        size = len(frame.encode())
        for viewer in self.viewers:
            viewer.deliver(frame, size)


class Hub:
    def __init__(self, broker: Broker, heartbeat_seconds: float, batch_window_seconds: float = 0.0,
                 batch_max_events: int = 50) -> None:
        self._broker = broker
        self._rooms: dict[str, _Room] = {}
        self._batch_window = batch_window_seconds
        self._batch_max = batch_max_events
        self._heartbeat = asyncio.create_task(self._beat(heartbeat_seconds), name="heartbeat")
        broker.on_gap(self._on_gap)

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
            batcher = Batcher(self._batch_window, self._batch_max, room.fan_out) if self._batch_window > 0 else None
            async for frame in subscriber:
                if batcher is None:
                    room.fan_out(frame)
                else:
                    batcher.add(frame)

    def _on_gap(self) -> None:
        for room in self._rooms.values():
            room.fan_out(RESYNC)

    async def _beat(self, interval: float) -> None:
        """Tell every viewer the connection lives, so that clients detect dead ones (a socket can
        die without a close: mobile sleep, a NAT dropping it silently)."""
        while True:
            await asyncio.sleep(interval)
            for room in self._rooms.values():
                room.fan_out(HEARTBEAT)
