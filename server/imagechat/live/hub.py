"""Which sockets of this process watch which image, and the fan-out of each image's events.

The hub is the broker's one consumer and the node's one channel registry: the broker hands it each
message (seq and encoded event) in the task that read it, the image's batcher turns it into a frame
measured once, and the frame is queued to every viewer of that image. A socket's writer task sends
it: one slow socket never holds up the others.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from functools import partial

from starlette.websockets import WebSocket

from imagechat import limits, protocol
from imagechat.broker import Broker, Envelope
from imagechat.live.batching import Batcher, Frame
from imagechat.usage import Usage

GONE = (1006, "the client is gone")  # why a viewer whose socket failed takes no more frames
# A replay reads and queues its next page only once the outbox is down to this (about to be empty).
OUTBOX_LOW_WATER = 64 * 1024
HEARTBEAT = Frame(protocol.HEARTBEAT_FRAME)
# Sent when this node may have missed events (its broker connection dropped): resume from your seq.
RESYNC = Frame(protocol.RESYNC_FRAME)


def image_channel(tenant_id: str, url_id: str) -> str:
    """The broker channel of one image's events: what the publisher and the hub agree on."""
    return f"image:{tenant_id}:{url_id}"


class Viewer:
    """One WebSocket. Frames go through an outbox, bounded in bytes counting the live frames kept
    aside during a replay: past the bound the viewer is dropped (its client reconnects and reloads)."""

    __slots__ = ("websocket", "_tenant_id", "_usage", "_outbox", "_queued", "_held", "_held_bytes",
                 "_drained", "_closing")

    def __init__(self, websocket: WebSocket, tenant_id: str, usage: Usage) -> None:
        self.websocket = websocket
        self._tenant_id = tenant_id
        self._usage = usage
        self._outbox: asyncio.Queue[Frame | None] = asyncio.Queue()
        self._queued = 0  # bytes in the outbox, and of the frame being written
        self._held: list[Frame] | None = None
        self._held_bytes = 0
        self._drained: asyncio.Event | None = None  # only while a replay waits for room
        self._closing: tuple[int, str] | None = None  # once set, nothing more is queued

    @property
    def open(self) -> bool:
        return self._closing is None

    def hold(self) -> None:
        """Keep live frames aside while the missed events are replayed from the log."""
        self._held = []

    def release(self, replayed_up_to: int) -> None:
        """Send the live frames kept aside, without the events the replay already sent."""
        held, self._held = self._held or [], None
        self._held_bytes = 0
        for frame in held:
            rest = frame.after(replayed_up_to)
            if rest is not None:
                self._queue(rest)

    def deliver(self, frame: Frame) -> None:
        """A live frame from the hub (the same object for every viewer of the image)."""
        if self._held is None:
            self._queue(frame)
        elif self.open and self._fits(frame.size):
            self._held.append(frame)
            self._held_bytes += frame.size

    def send(self, text: str) -> None:
        self._queue(Frame(text))

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
            while (frame := await self._outbox.get()) is not None:
                await self.websocket.send_text(frame.text)
                self._queued -= frame.size
                self._usage.frame_sent(self._tenant_id, frame.size)
                if self._queued <= OUTBOX_LOW_WATER:
                    self._wake()
            assert self._closing is not None
            await self.websocket.close(*self._closing)
        finally:
            self._closing = self._closing or GONE
            self._wake()

    def _queue(self, frame: Frame) -> None:
        if self.open and self._fits(frame.size):
            self._queued += frame.size
            self._outbox.put_nowait(frame)

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
        self.close(protocol.CLOSE_TOO_SLOW, "too slow: reconnect and reload")

    def _wake(self) -> None:
        if self._drained is not None:
            self._drained.set()


class _Room:
    """The viewers of one image, and its batcher."""

    __slots__ = ("viewers", "batcher", "subscribed")

    def __init__(self, window_seconds: float, max_events: int, subscribed: asyncio.Task[None]) -> None:
        self.viewers: set[Viewer] = set()
        self.batcher = Batcher(window_seconds, max_events, self.fan_out)
        self.subscribed = subscribed

    def fan_out(self, frame: Frame) -> None:
        for viewer in self.viewers:
            viewer.deliver(frame)


class Hub:
    """The broker's receiver (`imagechat.broker.Receiver`)."""

    def __init__(self, broker: Broker, heartbeat_seconds: float, batch_window_seconds: float = 0.0,
                 batch_max_events: int = 50) -> None:
        self._broker = broker
        self._rooms: dict[str, _Room] = {}
        # Per channel, the last subscribe or unsubscribe asked of the broker, until it is done.
        self._changes: dict[str, asyncio.Task[None]] = {}
        self._batch_window = batch_window_seconds
        self._batch_max = batch_max_events
        self._heartbeat = asyncio.create_task(self._beat(heartbeat_seconds), name="heartbeat")
        broker.listen(self)

    async def join(self, channel: str, viewer: Viewer) -> None:
        """Returns once every event published on `channel` from now on will reach `viewer`."""
        room = self._rooms.get(channel)
        if room is None:
            subscribed = self._change(channel, self._broker.subscribe)
            room = self._rooms[channel] = _Room(self._batch_window, self._batch_max, subscribed)
        room.viewers.add(viewer)
        try:
            await asyncio.shield(room.subscribed)  # one joiner leaving early cancels no one's wait
        except BaseException:
            self.leave(channel, viewer)
            raise

    def leave(self, channel: str, viewer: Viewer) -> None:
        room = self._rooms.get(channel)
        if room is None:
            return
        room.viewers.discard(viewer)
        if not room.viewers:
            del self._rooms[channel]
            room.batcher.cancel()
            self._change(channel, self._broker.unsubscribe)

    def on_message(self, channel: str, envelope: Envelope) -> None:
        room = self._rooms.get(channel)
        if room is not None:  # else the last viewer just left: its unsubscription is under way
            room.batcher.add(envelope)

    def on_gap(self) -> None:
        for room in self._rooms.values():
            room.fan_out(RESYNC)

    async def close(self) -> None:
        for room in self._rooms.values():
            room.batcher.cancel()
        self._rooms.clear()
        changes = [self._heartbeat, *self._changes.values()]
        for task in changes:
            task.cancel()
        await asyncio.gather(*changes, return_exceptions=True)

    def _change(self, channel: str, step: Callable[[str], Awaitable[None]]) -> asyncio.Task[None]:
        """Run `step` (the broker's subscribe or unsubscribe) for `channel` once the one asked
        before it is done: a viewer joining as the last one leaves must not end up unsubscribed."""
        task = asyncio.create_task(self._after(self._changes.get(channel), step, channel))
        self._changes[channel] = task
        task.add_done_callback(partial(self._forget_change, channel))
        return task

    @staticmethod
    async def _after(before: asyncio.Task[None] | None, step: Callable[[str], Awaitable[None]], channel: str) -> None:
        if before is not None:
            await asyncio.wait([before])  # its outcome is its joiners' business
        await step(channel)

    def _forget_change(self, channel: str, task: asyncio.Task[None]) -> None:
        if self._changes.get(channel) is task:
            del self._changes[channel]

    async def _beat(self, interval: float) -> None:
        """Tell every viewer the connection lives, so that clients detect dead ones (a socket can
        die without a close: mobile sleep, a NAT dropping it silently)."""
        while True:
            await asyncio.sleep(interval)
            for room in self._rooms.values():
                room.fan_out(HEARTBEAT)
