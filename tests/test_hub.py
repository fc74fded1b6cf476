"""The hub in process: fan-out, hold/release around a replay, leave, gaps, heartbeats, the outbox
bound. Viewers write to fake sockets; the broker is the memory backend or a recording one."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

import pytest

from tests.services import run
from imagechat import limits, protocol
from imagechat.broker import Broker, Receiver
from imagechat.broker.memory import MemoryBackend
from imagechat.live.hub import Hub, Viewer, image_channel

CHANNEL = image_channel("demo", "img")


class FakeSocket:
    def __init__(self) -> None:
        self.sent: list[str] = []
        self.closed: tuple[int, str] | None = None

    async def send_text(self, text: str) -> None:
        self.sent.append(text)

    async def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)

    def seqs(self) -> list[int]:
        found = []
        for frame in map(json.loads, self.sent):
            found += [e["seq"] for e in frame["events"]] if frame["type"] == "batch" else [frame.get("seq")]
        return found


class FakeUsage:
    def __init__(self) -> None:
        self.frames = 0

    def frame_sent(self, tenant_id: str, size: int) -> None:
        self.frames += 1


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


async def settle() -> None:
    """Let the writer tasks send what is queued."""
    for _ in range(5):
        await asyncio.sleep(0)


def with_hub(test: Callable[[Hub, Broker, Callable[[], tuple[Viewer, FakeSocket]]], Awaitable[None]],
             window: float = 0.0, backend: MemoryBackend | None = None) -> None:
    async def body() -> None:
        broker = Broker(backend=backend or MemoryBackend())
        hub = Hub(broker, heartbeat_seconds=3600, batch_window_seconds=window)
        writers = []

        def new_viewer() -> tuple[Viewer, FakeSocket]:
            socket = FakeSocket()
            viewer = Viewer(socket, "demo", FakeUsage())  # type: ignore[arg-type]
            writers.append(asyncio.create_task(viewer.run_writer()))
            return viewer, socket

        try:
            await test(hub, broker, new_viewer)
        finally:
            for writer in writers:
                writer.cancel()
            await hub.close()

    run(body())


def test_each_event_reaches_every_viewer_of_its_image_once_and_no_other():
    async def test(hub: Hub, broker: Broker, new_viewer) -> None:
        (a, a_socket), (b, b_socket), (other, other_socket) = new_viewer(), new_viewer(), new_viewer()
        await hub.join(CHANNEL, a)
        await hub.join(CHANNEL, b)
        await hub.join(image_channel("demo", "elsewhere"), other)
        for seq in (1, 2):
            await broker.publish(CHANNEL, seq, event(seq))
        await settle()
        assert a_socket.sent == b_socket.sent == [event(1), event(2)]  # the encoded text, as published
        assert other_socket.sent == []

    with_hub(test)


def test_live_events_held_during_a_replay_go_out_after_it_without_those_it_sent():
    async def test(hub: Hub, broker: Broker, new_viewer) -> None:
        viewer, socket = new_viewer()
        viewer.hold()
        await hub.join(CHANNEL, viewer)
        for seq in (5, 6, 7):  # 5 alone (quiet), 6 and 7 batched
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

