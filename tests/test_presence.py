"""Presence in process: what a node counts and names, how it coalesces comings and goings into at
most one frame per image per interval, and how nodes merge each other's reports (and forget those
of a node gone silent). Viewers are the hub's real `Viewer` on the fake sockets of test_hub; nodes
talk through the memory backend, or a bus of them (several nodes in one process)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

from imagechat import protocol
from imagechat.broker import Broker
from imagechat.broker.memory import MemoryBackend
from imagechat.live.hub import Viewer, image_channel
from imagechat.live.presence import Presence
from imagechat.security.tokens import Identity
from imagechat.usage import Tally
from tests.services import run
from tests.test_hub import FakeSocket

INTERVAL = 0.2  # the interval under test (2 s in service)
IMAGE = image_channel("demo", "img")


class Bus:
    """Several nodes' memory backends joined: a presence report reaches every node, as on Redis."""

    def __init__(self) -> None:
        self.backends: list[BusBackend] = []


class BusBackend(MemoryBackend):
    def __init__(self, bus: Bus) -> None:
        super().__init__()
        self._bus = bus
        bus.backends.append(self)

    async def publish_presence(self, channel: str, payload: str) -> None:
        for backend in self._bus.backends:
            backend._receiver.on_presence(channel, payload)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def node(bus: Bus, clock: Clock | None = None, heartbeat: float = 10) -> Presence:
    backend = BusBackend(bus)
    presence = Presence(Broker(backend=backend), heartbeat, interval=INTERVAL, clock=clock or Clock())
    backend.listen(presence)  # type: ignore[arg-type]  # the hub relays on_presence so in service
    return presence


def viewer() -> tuple[Viewer, FakeSocket]:
    socket = FakeSocket()
    return Viewer(socket, Tally()), socket  # type: ignore[arg-type]


def presences(socket: FakeSocket) -> list[tuple[int, list[str]]]:
    frames = [json.loads(text) for text in socket.sent]
    return [protocol.read_presence(frame) for frame in frames if frame["type"] == protocol.PRESENCE]


def person(name: str) -> Identity:
    return Identity(id=f"anon-{name.lower()}", name=name)


async def rounds(count: int = 1) -> None:
    """Let the presence task run `count` intervals."""
    await asyncio.sleep(count * INTERVAL + 0.05)


def scenario(test: Callable[[], Awaitable[None]]) -> None:
    run(test())


def test_a_first_viewer_is_told_at_once_and_a_lone_viewer_counts_itself() -> None:
    async def body() -> None:
        here = node(Bus())
        ada, ada_socket = viewer()
        here.arrive(IMAGE, ada, person("Ada"), watches=True)
        for _ in range(5):
            await asyncio.sleep(0)
        assert presences(ada_socket) == [(1, ["Ada"])]
        await here.close()

    scenario(body)


def test_a_crowd_coming_and_going_costs_one_frame_per_interval() -> None:
    async def body() -> None:
        here = node(Bus())
        watcher, socket = viewer()
        here.arrive(IMAGE, watcher, None, watches=True)
        started = asyncio.get_running_loop().time()
        crowd = []
        for step in range(400):  # 200 arrive and leave again, over about 4 intervals
            if step < 200:
                crowd.append(viewer()[0])
                here.arrive(IMAGE, crowd[-1], person(f"P{step:03}") if step % 2 else None, watches=True)
            else:
                here.depart(IMAGE, crowd[step - 200])
            await asyncio.sleep(INTERVAL * 4 / 400)
        await rounds(2)
        elapsed = asyncio.get_running_loop().time() - started
        seen = presences(socket)
        assert len(seen) <= elapsed / INTERVAL + 1, (len(seen), elapsed)
        assert seen[-1] == (1, [])  # the crowd is gone; the watcher is anonymous
        assert max(count for count, _names in seen) > 50
        assert all(len(names) <= protocol.MAX_PRESENCE_NAMES for _count, names in seen)
        await here.close()

    scenario(body)


def test_frames_go_out_only_on_a_change_but_a_newcomer_always_gets_one() -> None:
    async def body() -> None:
        here = node(Bus())
        ada, ada_socket = viewer()
        here.arrive(IMAGE, ada, person("Ada"), watches=True)
        await rounds()
        bo, _ = viewer()
        here.arrive(IMAGE, bo, person("Bo"), watches=False)  # counted, but asked for no frames
        await rounds()
        assert presences(ada_socket) == [(1, ["Ada"]), (2, ["Ada", "Bo"])]
        here.depart(IMAGE, bo)
        cy, cy_socket = viewer()
        here.arrive(IMAGE, cy, person("Bo"), watches=True)  # same count and names as before
        await rounds(2)
        assert presences(ada_socket) == [(1, ["Ada"]), (2, ["Ada", "Bo"])]
        assert presences(cy_socket) == [(2, ["Ada", "Bo"])]
        await here.close()

    scenario(body)


def test_one_person_in_two_tabs_counts_once_and_names_are_bounded_and_sorted() -> None:
    async def body() -> None:
        here = node(Bus())
        watcher, socket = viewer()
        here.arrive(IMAGE, watcher, person("Zoe"), watches=True)
        here.arrive(IMAGE, viewer()[0], person("Zoe"), watches=False)
        for index in range(30):
            here.arrive(IMAGE, viewer()[0], person(f"user{index:02}"), watches=False)
        here.arrive(IMAGE, viewer()[0], None, watches=False)
        await rounds()
        count, names = presences(socket)[-1]
        assert count == 1 + 30 + 1
        assert names == [f"user{index:02}" for index in range(protocol.MAX_PRESENCE_NAMES)]
        await here.close()

    scenario(body)


def test_other_images_and_tenants_never_mix() -> None:
    async def body() -> None:
        here = node(Bus())
        ada, ada_socket = viewer()
        other, other_socket = viewer()
        stranger, stranger_socket = viewer()
        here.arrive(IMAGE, ada, person("Ada"), watches=True)
        here.arrive(image_channel("demo", "other-img"), other, person("Bo"), watches=True)
        here.arrive(image_channel("acme", "img"), stranger, person("Cy"), watches=True)
        await rounds()
        assert presences(ada_socket) == [(1, ["Ada"])]
        assert presences(other_socket) == [(1, ["Bo"])]
        assert presences(stranger_socket) == [(1, ["Cy"])]
        await here.close()

    scenario(body)


def test_nodes_merge_their_reports_and_a_node_whose_viewers_left_drops_out_at_once() -> None:
    async def body() -> None:
        bus = Bus()
        first, second = node(bus), node(bus)
        ada, ada_socket = viewer()
        bo, bo_socket = viewer()
        first.arrive(IMAGE, ada, person("Ada"), watches=True)
        second.arrive(IMAGE, bo, person("Bo"), watches=True)
        await rounds(2)
        assert presences(ada_socket)[-1] == (2, ["Ada", "Bo"])
        assert presences(bo_socket)[-1] == (2, ["Ada", "Bo"])
        second.depart(IMAGE, bo)
        await rounds(2)
        assert presences(ada_socket)[-1] == (1, ["Ada"])
        await first.close()
        await second.close()

    scenario(body)


def test_a_node_coming_later_hears_of_the_viewers_already_there() -> None:
    async def body() -> None:
        bus = Bus()
        first, second = node(bus), node(bus)
        first.arrive(IMAGE, viewer()[0], person("Ada"), watches=False)
        await rounds(2)  # its report went out while the second node had no viewer of the image
        bo, bo_socket = viewer()
        second.arrive(IMAGE, bo, person("Bo"), watches=True)
        await rounds(2)
        assert presences(bo_socket)[-1] == (2, ["Ada", "Bo"])
        await first.close()
        await second.close()

    scenario(body)


def test_a_node_gone_silent_is_forgotten_after_three_heartbeats() -> None:
    async def body() -> None:
        bus, clock = Bus(), Clock()
        first, second = node(bus, clock), node(bus, clock)
        ada, ada_socket = viewer()
        first.arrive(IMAGE, ada, person("Ada"), watches=True)
        second.arrive(IMAGE, viewer()[0], person("Bo"), watches=False)
        await rounds(2)
        assert presences(ada_socket)[-1] == (2, ["Ada", "Bo"])
        await second.close()  # it dies: no more reports, no farewell
        for _ in range(2):
            clock.now += 10
            first.beat()
            await rounds()
        assert presences(ada_socket)[-1] == (2, ["Ada", "Bo"])  # two heartbeats: still trusted
        clock.now += 11
        first.beat()
        await rounds()
        assert presences(ada_socket)[-1] == (1, ["Ada"])
        await first.close()

    scenario(body)


def test_reports_are_renewed_every_heartbeat_so_a_live_node_is_never_forgotten() -> None:
    async def body() -> None:
        bus, clock = Bus(), Clock()
        first, second = node(bus, clock), node(bus, clock)
        ada, ada_socket = viewer()
        first.arrive(IMAGE, ada, person("Ada"), watches=True)
        second.arrive(IMAGE, viewer()[0], None, watches=False)
        await rounds(2)
        for _ in range(6):
            clock.now += 10
            second.beat()
            await rounds()
            first.beat()
            await rounds()
        # 60 s on: never dropped, and nothing re-sent after the first two
        assert presences(ada_socket) == [(1, ["Ada"]), (2, ["Ada"])]
        await first.close()
        await second.close()

    scenario(body)


def test_a_bad_report_is_ignored() -> None:
    async def body() -> None:
        here = node(Bus())
        ada, ada_socket = viewer()
        here.arrive(IMAGE, ada, person("Ada"), watches=True)
        for payload in ("not json", '{"node":"x"}', '{"node":"x","count":-1,"names":[]}', "[]"):
            here.on_presence(IMAGE, payload)
        await rounds()
        assert presences(ada_socket) == [(1, ["Ada"])]
        await here.close()

    scenario(body)


def test_read_presence_holds_any_frame_to_the_bounds() -> None:
    assert protocol.read_presence(json.loads(protocol.presence(3, ["Ada", "Bo"]))) == (3, ["Ada", "Bo"])
    assert protocol.read_presence({"type": protocol.PRESENCE}) == (0, [])
    assert protocol.read_presence({"count": True, "names": "Ada"}) == (0, [])
    count, names = protocol.read_presence({"count": 99, "names": ["x" * 500, 7, " ", *["n"] * 40]})
    assert count == 99
    assert names[0] == "x" * protocol.MAX_NAME_CHARS
    assert len(names) == protocol.MAX_PRESENCE_NAMES


def test_the_badge_says_how_many_and_who_and_nothing_when_alone() -> None:
    from imagechat_widget.state import initials, presence_label

    assert presence_label(1, ["Ada"]) == ("", "")
    assert presence_label(0, []) == ("", "")
    assert presence_label(2, ["Ada Lovelace", "Bo"]) == ("2 here · AL, BO", "Ada Lovelace, Bo looking at this image")
    assert presence_label(3, []) == ("3 here", "3 more looking at this image")
    text, tooltip = presence_label(7, ["Ada", "Bo", "Cy", "Di"])
    assert text == "7 here · AD, BO, CY +1"
    assert tooltip == "Ada, Bo, Cy, Di and 3 more looking at this image"
    assert [initials(name) for name in ("", "  ", "é", "jean luc picard")] == ["?", "?", "É", "JL"]
