"""Which sockets of this process watch which image, and the fan-out of each image's events.

The hub is the broker's one consumer and the node's one channel registry: the broker hands it each
message (seq and encoded event) in the task that read it, the image's batcher turns it into a frame
encoded once, and the frame is handed to every viewer of that image, which writes it to its socket
at once when the socket has room (nearly always) and keeps it in a backlog otherwise: one slow
socket never holds up the others.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from functools import partial

from starlette.websockets import WebSocket

from imagechat import limits, protocol
from imagechat.broker import Broker, Envelope
from imagechat.live.batching import Batcher, Frame
from imagechat.live.presence import Presence
from imagechat.security.connections import WRITE_NOW
from imagechat.usage import Tally

GONE = (1006, "the client is gone")  # why a viewer whose socket failed takes no more frames
# A replay reads and queues its next page only once the backlog is down to this (about to be empty).
OUTBOX_LOW_WATER = 64 * 1024
HEARTBEAT = Frame(protocol.HEARTBEAT_FRAME)
# Sent when this node may have missed events (its broker connection dropped): resume from your seq.
RESYNC = Frame(protocol.RESYNC_FRAME)


def image_channel(tenant_id: str, url_id: str) -> str:
    """The broker channel of one image's events: what the publisher and the hub agree on."""
    return f"image:{tenant_id}:{url_id}"


class Viewer:
    """One WebSocket, and the frames on their way to it.

    A frame is written to the socket at once when its transport takes it (the server's `WRITE_NOW`
    extension: the transport's buffer is under its high-water mark), which is nearly always: an
    idle or keeping-up viewer has no queue and no task, and a delivery costs one `transport.write`
    of bytes built once for all viewers. Otherwise (a slow reader, a closing socket, or a server
    without the extension) frames wait in a backlog that a writer task sends through the ASGI
    `send`, which waits for room; the task exists only while there is a backlog, and frames go
    through the backlog while it does, to keep their order.

    The backlog is bounded in bytes, counting the live frames kept aside during a replay: past the
    bound the viewer is dropped (its client reconnects and reloads)."""

    __slots__ = ("websocket", "_write_now", "_tally", "_backlog", "_queued", "_held", "_held_bytes",
                 "_drained", "_closing", "_writer")

    def __init__(self, websocket: WebSocket, tally: Tally) -> None:
        self.websocket = websocket
        extensions = websocket.scope.get("extensions") or {}
        self._write_now: Callable[[Frame], bool] | None = extensions.get(WRITE_NOW)
        self._tally = tally  # what this viewer's tenant was sent (usage)
        self._backlog: deque[Frame] | None = None  # only while the socket does not keep up
        self._queued = 0  # bytes in the backlog, and of the frame being written from it
        self._held: list[Frame] | None = None
        self._held_bytes = 0
        self._drained: asyncio.Event | None = None  # only while a replay waits for room
        self._closing: tuple[int, str] | None = None  # once set, nothing more is queued
        self._writer: asyncio.Task[None] | None = None  # only while there is a backlog or a close to send

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
        """Wait until the backlog is down to its low-water mark; False when the socket is closing.
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
            self._start_writer()  # the writer closes the socket after the backlog
            self._wake()

    async def stop(self) -> None:
        """The connection is over: what is still queued cannot be sent."""
        writer = self._writer
        if writer is not None:
            writer.cancel()
            await asyncio.wait([writer])

    def _queue(self, frame: Frame) -> None:
        if not self.open:
            return
        if self._writer is None and self._write_now is not None and self._write_now(frame):
            self._tally.sent(frame.size)
        elif self._fits(frame.size):
            if self._backlog is None:
                self._backlog = deque()
            self._backlog.append(frame)
            self._queued += frame.size
            self._start_writer()

    def _start_writer(self) -> None:
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_backlog(), name="viewer-backlog")

    async def _write_backlog(self) -> None:
        """Send the backlog through the ASGI `send` (it waits while the socket has no room), then
        the close if one was asked for; end when the backlog is empty."""
        try:
            while self._backlog:
                frame = self._backlog.popleft()
                await self.websocket.send_text(frame.text)
                self._queued -= frame.size
                self._tally.sent(frame.size)
                if self._queued <= OUTBOX_LOW_WATER:
                    self._wake()
            if self._closing is not None:
                await self.websocket.close(*self._closing)
        except asyncio.CancelledError:
            self._closing = self._closing or GONE
            raise
        except Exception:  # the socket failed (its client left): nothing more can reach it
            self._closing = self._closing or GONE
        finally:
            self._writer = None
            self._backlog = None
            self._queued = 0
            self._wake()

    def _fits(self, size: int) -> bool:
        if self._queued + self._held_bytes + size <= limits.MAX_OUTBOX_BYTES_PER_SOCKET:
            return True
        self._drop()
        return False

    def _drop(self) -> None:
        """Too slow to keep up: what is queued goes (the byte counts no longer matter), and the
        client reloads when it reconnects."""
        if self._backlog is not None:
            self._backlog.clear()
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
        self.presence = Presence(broker, heartbeat_seconds)  # who watches each image, over the nodes
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

    def on_presence(self, channel: str, payload: str) -> None:
        self.presence.on_presence(channel, payload)

    async def close(self) -> None:
        for room in self._rooms.values():
            room.batcher.cancel()
        self._rooms.clear()
        await self.presence.close()
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
            self.presence.beat()
