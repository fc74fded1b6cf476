"""The hub in process: fan-out, hold/release around a replay, leave, gaps, heartbeats, and each
viewer's two ways to its socket: written at once while the socket has room, a bounded backlog
(dropped past its bound) while it has none. Viewers write to fake sockets; the broker is the
memory backend or a recording one."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

import pytest

from tests.services import run
from imagechat import limits, protocol
from imagechat.broker import Broker, Receiver
from imagechat.broker.memory import MemoryBackend
from imagechat.live import hub as hub_module
from imagechat.live.batching import Frame
from imagechat.live.hub import Hub, Viewer, image_channel
from imagechat.security.connections import WRITE_NOW
from imagechat.usage import Tally

CHANNEL = image_channel("demo", "img")


class FakeSocket:
    """A WebSocket as a viewer sees it. Like uvicorn's, its ASGI `send` (send_text, close) waits
    while the socket has no `room` (its transport paused: a slow reader); with `direct`, it offers
    WRITE_NOW, which takes a frame at once while there is room and refuses it otherwise."""

    def __init__(self, direct: bool = True) -> None:
        self.sent: list[str] = []
        self.written_at_once = 0
        self.closed: tuple[int, str] | None = None
        self.sent_before_close = 0
        self.fail = False  # send_text raises, as when the client has left
        self.room = asyncio.Event()
        self.room.set()
        self.scope = {"type": "websocket", "extensions": {WRITE_NOW: self.write_now} if direct else {}}

    def write_now(self, frame: Frame) -> bool:
        if not self.room.is_set() or self.closed is not None:
            return False
        assert frame.wire.endswith(frame.data)  # the whole frame: a header, then the UTF-8 text
        self.sent.append(frame.data.decode())
        self.written_at_once += 1
        return True

    async def send_text(self, text: str) -> None:
        await self.room.wait()
        if self.fail:
            raise OSError("the client is gone")
        self.sent.append(text)

    async def close(self, code: int, reason: str) -> None:
        await self.room.wait()
        self.closed = (code, reason)
        self.sent_before_close = len(self.sent)

    def seqs(self) -> list[int]:
        found = []
        for frame in map(json.loads, self.sent):
            found += [e["seq"] for e in frame["events"]] if frame["type"] == "batch" else [frame.get("seq")]
        return found


class RecordingBackend(MemoryBackend):
    """The memory backend that remembers the subscriptions asked of it."""

    def __init__(self) -> None:
        super().__init__()
        self.steps: list[tuple[str, str]] = []

    @property
    def receiver(self) -> Receiver:
        return self._receiver

    async def subscribe(self, channel: str) -> None:
        await asyncio.sleep(0.01)  # a round trip, during which others may join or leave
        self.steps.append(("subscribe", channel))

    async def unsubscribe(self, channel: str) -> None:
        await asyncio.sleep(0.01)
        self.steps.append(("unsubscribe", channel))


def event(seq: int) -> str:
    return protocol.dumps(protocol.event(protocol.NEW_IMAGE_CHAT, seq, None, text=f"n{seq}"))


def frame(seq: int) -> Frame:
    return Frame(event(seq))


async def settle() -> None:
    """Let the backlog writers send what they can."""
    for _ in range(5):
        await asyncio.sleep(0)


def backlog_writers() -> list[asyncio.Task]:
    return [task for task in asyncio.all_tasks() if task.get_name() == "viewer-backlog"]


def with_hub(test: Callable[[Hub, Broker, Callable[..., tuple[Viewer, FakeSocket]]], Awaitable[None]],
             window: float = 0.0, backend: MemoryBackend | None = None, heartbeat: float = 3600) -> None:
    async def body() -> None:
        broker = Broker(backend=backend or MemoryBackend())
        hub = Hub(broker, heartbeat_seconds=heartbeat, batch_window_seconds=window)
        viewers = []

        def new_viewer(direct: bool = True) -> tuple[Viewer, FakeSocket]:
            socket = FakeSocket(direct)
            viewer = Viewer(socket, Tally())  # type: ignore[arg-type]
            viewers.append(viewer)
            return viewer, socket

        try:
            await test(hub, broker, new_viewer)
        finally:
            for viewer in viewers:
                await viewer.stop()
            await hub.close()

    run(body())


def with_viewer(test: Callable[[Viewer, FakeSocket, Tally], Awaitable[None]], direct: bool = True) -> None:
    """One viewer, no hub: frames are handed to it as the hub would."""
    async def body() -> None:
        socket, tally = FakeSocket(direct), Tally()
        viewer = Viewer(socket, tally)  # type: ignore[arg-type]
        try:
            await test(viewer, socket, tally)
        finally:
            await viewer.stop()

    run(body())


def test_each_event_reaches_every_viewer_of_its_image_once_and_no_other():
    async def test(hub: Hub, broker: Broker, new_viewer) -> None:
        (a, a_socket), (b, b_socket), (other, other_socket) = new_viewer(), new_viewer(), new_viewer()
        await hub.join(CHANNEL, a)
        await hub.join(CHANNEL, b)
        await hub.join(image_channel("demo", "elsewhere"), other)
        for seq in (1, 2):
            await broker.publish(CHANNEL, seq, event(seq))
            await settle()  # each in a turn of its own: each its own frame
        assert a_socket.sent == b_socket.sent == [event(1), event(2)]  # the encoded text, as published
        assert other_socket.sent == []

    with_hub(test)


def test_live_events_held_during_a_replay_go_out_after_it_without_those_it_sent():
    async def test(hub: Hub, broker: Broker, new_viewer) -> None:
        viewer, socket = new_viewer()
        viewer.hold()
        await hub.join(CHANNEL, viewer)
        for seq in (5, 6, 7):  # 5 and 6 alone, 7 batched (the third event within a window: busy)
            await broker.publish(CHANNEL, seq, event(seq))
        await asyncio.sleep(0.3)
        await settle()
        assert socket.sent == []  # held
        viewer.send(event(5))  # what the replay sent: up to 6
        viewer.send(event(6))
        viewer.release(6)
        await settle()
        assert socket.seqs() == [5, 6, 7]
        assert socket.sent[-1] == event(7)  # the batch's remainder, one event: not a batch

    with_hub(test, window=0.2)


def test_a_held_control_frame_goes_out_on_release():
    async def test(hub: Hub, broker: Broker, new_viewer) -> None:
        viewer, socket = new_viewer()
        await hub.join(CHANNEL, viewer)
        viewer.hold()
        hub.on_gap()
        viewer.release(0)
        await settle()
        assert socket.sent == [protocol.RESYNC_FRAME]

    with_hub(test)


def test_a_broker_gap_tells_every_viewer_to_resync():
    async def test(hub: Hub, broker: Broker, new_viewer) -> None:
        (a, a_socket), (b, b_socket) = new_viewer(), new_viewer()
        await hub.join(CHANNEL, a)
        await hub.join(image_channel("demo", "other"), b)
        backend.receiver.on_gap()
        await settle()
        assert a_socket.sent == b_socket.sent == [protocol.RESYNC_FRAME]

    backend = RecordingBackend()
    with_hub(test, backend=backend)


def test_the_broker_subscribes_once_per_image_and_unsubscribes_when_its_last_viewer_leaves():
    async def test(hub: Hub, broker: Broker, new_viewer) -> None:
        (a, a_socket), (b, _) = new_viewer(), new_viewer()
        await asyncio.gather(hub.join(CHANNEL, a), hub.join(CHANNEL, b))
        hub.leave(CHANNEL, a)
        hub.leave(CHANNEL, b)
        await broker.publish(CHANNEL, 1, event(1))  # in flight as the last one left: dropped
        await asyncio.sleep(0.05)
        await settle()
        assert backend.steps == [("subscribe", CHANNEL), ("unsubscribe", CHANNEL)]
        assert a_socket.sent == []

    backend = RecordingBackend()
    with_hub(test, backend=backend)


def test_a_viewer_joining_as_the_last_one_leaves_ends_subscribed():
    async def test(hub: Hub, broker: Broker, new_viewer) -> None:
        (a, _), (b, b_socket) = new_viewer(), new_viewer()
        await hub.join(CHANNEL, a)
        hub.leave(CHANNEL, a)  # its unsubscription is under way...
        await hub.join(CHANNEL, b)  # ...and this subscription waits for it
        assert backend.steps == [("subscribe", CHANNEL), ("unsubscribe", CHANNEL), ("subscribe", CHANNEL)]
        await broker.publish(CHANNEL, 1, event(1))
        await settle()
        assert b_socket.sent == [event(1)]

    backend = RecordingBackend()
    with_hub(test, backend=backend)


def test_a_joiner_that_gives_up_before_the_subscription_is_confirmed_is_not_kept():
    async def test(hub: Hub, broker: Broker, new_viewer) -> None:
        viewer, socket = new_viewer()
        joining = asyncio.create_task(hub.join(CHANNEL, viewer))
        await asyncio.sleep(0)
        joining.cancel()
        with pytest.raises(asyncio.CancelledError):
            await joining
        await asyncio.sleep(0.05)
        await broker.publish(CHANNEL, 1, event(1))
        await settle()
        assert socket.sent == []
        assert backend.steps == [("subscribe", CHANNEL), ("unsubscribe", CHANNEL)]

    backend = RecordingBackend()
    with_hub(test, backend=backend)


def test_a_viewer_past_its_outbox_bound_is_dropped_and_told_why(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(limits, "MAX_OUTBOX_BYTES_PER_SOCKET", 3 * len(event(1)))

    async def test(hub: Hub, broker: Broker, new_viewer) -> None:
        viewer, socket = new_viewer()
        await hub.join(CHANNEL, viewer)
        viewer.hold()  # held frames count against the bound too
        for seq in range(1, 5):
            await broker.publish(CHANNEL, seq, event(seq))
        await settle()
        assert not viewer.open
        assert socket.sent == [] and socket.closed == (protocol.CLOSE_TOO_SLOW, "too slow: reconnect and reload")

    with_hub(test)


def test_heartbeats_reach_every_viewer():
    async def test(hub: Hub, broker: Broker, new_viewer) -> None:
        (a, a_socket), (b, b_socket) = new_viewer(), new_viewer(direct=False)
        await hub.join(CHANNEL, a)
        await hub.join(image_channel("demo", "other"), b)
        while protocol.HEARTBEAT_FRAME not in a_socket.sent or protocol.HEARTBEAT_FRAME not in b_socket.sent:
            await asyncio.sleep(0.01)  # a condition polled, not a duration asserted

    with_hub(test, heartbeat=0.01)


# -- one viewer and its socket --------------------------------------------------------------------


def test_a_socket_with_room_gets_each_frame_at_once_without_a_task():
    async def test(viewer: Viewer, socket: FakeSocket, tally: Tally) -> None:
        viewer.deliver(frame(1))
        viewer.send(event(2))
        assert socket.sent == [event(1), event(2)] and socket.written_at_once == 2  # before any await
        assert backlog_writers() == []
        assert (tally.frames, tally.bytes) == (2, len(event(1).encode()) + len(event(2).encode()))

    with_viewer(test)


def test_frames_a_paused_socket_refuses_wait_in_order_and_the_writer_ends_with_the_backlog():
    async def test(viewer: Viewer, socket: FakeSocket, tally: Tally) -> None:
        socket.room.clear()  # the client stopped reading: the transport is paused
        viewer.deliver(frame(1))
        viewer.deliver(frame(2))
        await settle()
        assert socket.sent == [] and tally.frames == 0 and len(backlog_writers()) == 1
        socket.room.set()  # room again: the socket would take frame 3 at once, but 1 and 2 go first
        viewer.deliver(frame(3))
        await settle()
        assert socket.seqs() == [1, 2, 3] and socket.written_at_once == 0
        assert backlog_writers() == [] and tally.frames == 3
        viewer.deliver(frame(4))  # the backlog is gone: at once again
        assert socket.seqs() == [1, 2, 3, 4] and socket.written_at_once == 1

    with_viewer(test)


def test_without_the_write_now_extension_every_frame_goes_through_the_asgi_send():
    async def test(viewer: Viewer, socket: FakeSocket, tally: Tally) -> None:
        for seq in (1, 2, 3):
            viewer.deliver(frame(seq))
        assert socket.sent == []
        await settle()
        assert socket.seqs() == [1, 2, 3] and socket.written_at_once == 0 and tally.frames == 3

    with_viewer(test, direct=False)


def test_a_backlog_past_its_bound_is_dropped_and_the_socket_closed_as_too_slow(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(limits, "MAX_OUTBOX_BYTES_PER_SOCKET", 3 * len(event(1)))

    async def test(viewer: Viewer, socket: FakeSocket, tally: Tally) -> None:
        viewer.deliver(frame(1))  # written at once: the transport's buffer is not the backlog's bound
        socket.room.clear()
        for seq in (2, 3, 4):
            viewer.deliver(frame(seq))
        await settle()
        assert viewer.open  # 2 is being written, 3 and 4 wait: three frames, at the bound
        viewer.deliver(frame(5))
        assert not viewer.open
        viewer.deliver(frame(6))  # a closing viewer takes nothing more
        socket.room.set()
        await settle()
        # What was on its way to the socket (1, and 2 being written) went; the rest was dropped.
        assert socket.seqs() == [1, 2] and socket.sent_before_close == 2
        assert socket.closed == (protocol.CLOSE_TOO_SLOW, "too slow: reconnect and reload")
        assert backlog_writers() == []

    with_viewer(test)


def test_close_comes_after_the_frames_sent_before_it():
    async def test(viewer: Viewer, socket: FakeSocket, tally: Tally) -> None:
        viewer.deliver(frame(1))  # at once
        socket.room.clear()
        viewer.deliver(frame(2))  # waits
        viewer.close(4000, "bye")
        viewer.deliver(frame(3))  # after the close: never sent
        assert not viewer.open
        socket.room.set()
        await settle()
        assert socket.seqs() == [1, 2] and socket.sent_before_close == 2 and socket.closed == (4000, "bye")

    with_viewer(test)


def test_a_close_with_nothing_waiting_is_sent_at_once():
    async def test(viewer: Viewer, socket: FakeSocket, tally: Tally) -> None:
        viewer.send(event(1))
        viewer.close(4408, "subscribe_timeout")
        await settle()
        assert socket.sent == [event(1)] and socket.closed == (4408, "subscribe_timeout")

    with_viewer(test)


def test_a_replay_waits_for_the_backlog_to_drain_and_stops_when_the_socket_closes(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(hub_module, "OUTBOX_LOW_WATER", len(event(1)))

    async def test(viewer: Viewer, socket: FakeSocket, tally: Tally) -> None:
        assert await viewer.drained()  # nothing waiting
        socket.room.clear()
        for seq in (1, 2, 3):  # a page the socket does not take
            viewer.send(event(seq))
        drained = asyncio.create_task(viewer.drained())
        await settle()
        assert not drained.done()
        socket.room.set()
        assert await drained is True and socket.seqs() == [1, 2, 3]
        socket.room.clear()
        for seq in (4, 5, 6):
            viewer.send(event(seq))
        drained = asyncio.create_task(viewer.drained())
        await settle()
        viewer.close(4000, "bye")
        assert await drained is False  # the replay stops: the socket is closing

    with_viewer(test)


def test_a_socket_that_fails_takes_no_more_frames():
    async def test(viewer: Viewer, socket: FakeSocket, tally: Tally) -> None:
        socket.fail = True
        viewer.deliver(frame(1))
        await settle()
        assert not viewer.open and socket.sent == [] and tally.frames == 0
        viewer.deliver(frame(2))
        await settle()
        assert socket.sent == [] and backlog_writers() == []

    with_viewer(test, direct=False)


def test_stopping_a_viewer_ends_its_writer():
    async def test(viewer: Viewer, socket: FakeSocket, tally: Tally) -> None:
        socket.room.clear()
        viewer.deliver(frame(1))
        await settle()
        await viewer.stop()  # its connection is over; the socket will never have room
        assert backlog_writers() == [] and not viewer.open

    with_viewer(test)

