"""Several server processes sharing PostgreSQL and Redis: live events across nodes, concurrent
writers, a Redis restart, batching, and usage counts that add up over nodes."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field

import httpx
import pytest
from playwright.sync_api import expect
from websockets.sync.client import connect

from imagechat import protocol
from tests import live
from tests.conftest import ServerProcess
from tests.rest import Rest
from tests.services import run
from tests.widget_page import Viewer

NO_RATE_LIMITS = ("--ip-requests-per-minute", "1000000", "--user-changes-per-minute", "1000000")
URL_ID = "demo-dashboard-v1"


@pytest.fixture
def cluster(tmp_path, postgres, redis_server):
    """Start nodes sharing one PostgreSQL database and one Redis."""
    database_url = postgres.new_database()
    nodes: list[ServerProcess] = []

    def start(count: int = 2, *flags: str) -> list[ServerProcess]:
        for _ in range(count):
            node = ServerProcess(tmp_path / f"node{len(nodes)}.db", None, "--broker-url", redis_server.url,
                                 *NO_RATE_LIMITS, *flags, database_url=database_url)
            nodes.append(node.start())
        return nodes

    yield start
    for node in nodes:
        node.stop()


@dataclass
class Listener:
    """A WebSocket viewer that records every frame it receives, with its size."""

    node: ServerProcess
    url_id: str
    frames: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.ws = connect(self.node.ws_url, origin=self.node.url).__enter__()  # closed by finish()
        live.send_subscribe(self.ws, self.url_id)
        answer = self.recv()  # recorded: it counts in the usage too
        assert answer["type"] == protocol.SUBSCRIBED, answer

    def recv(self, timeout: float = 10) -> dict:
        frame = self.ws.recv(timeout=timeout)
        self.frames.append(frame)
        return json.loads(frame)

    def events(self) -> list[dict]:
        found = []
        for frame in map(json.loads, self.frames):
            found += frame["events"] if frame["type"] == "batch" else [frame] if "seq" in frame and frame["type"] != "subscribed" else []
        return found

    def wait_for_seq(self, seq: int) -> None:
        while not self.events() or self.events()[-1]["seq"] < seq:
            self.recv()

    def finish(self) -> tuple[int, int]:
        """Drain up to a pong, close; the frames and bytes received."""
        self.ws.send(protocol.PING_FRAME)
        while self.recv()["type"] != protocol.PONG:
            pass
        self.ws.close()
        return len(self.frames), sum(len(frame.encode()) for frame in self.frames)


def create(node: ServerProcess, headers: dict, text: str, url_id: str = URL_ID) -> httpx.Response:
    # Behind a load balancer every node has one public origin; here each node is its own origin.
    with Rest(node, None) as rest:
        return rest.create_marker(url_id, text, headers={**headers, "Origin": node.url})


def test_users_on_different_nodes_see_each_others_changes(cluster, new_context):
    node1, node2 = cluster(2)
    alice = Viewer(new_context(node1).new_page()).open()
    bob = Viewer(new_context(node2).new_page()).open()
    alice.drop_marker(300, 200, "From node 1")
    expect(bob.pins).to_have_count(1)
    bob.open_thread(1)
    bob.reply("From node 2", name="Bob")
    expect(alice.comments).to_have_count(2)


def test_concurrent_writers_on_both_nodes_give_a_gap_free_seq_everyone_agrees_on(cluster):
    node1, node2 = cluster(2)
    listeners = [Listener(node, "busy") for node in (node1, node2, node1, node2)]
    writers = [(node1 if n % 2 else node2, node1.sign_in(f"Writer {n}")) for n in range(5)]

    async def write_all() -> list[int]:
        async with httpx.AsyncClient() as client:
            async def writer(node, headers, n):
                seqs = []
                for k in range(8):
                    answer = await client.post(f"{node.url}/api/v1/tenants/demo/markers",
                                               headers={**headers, "Origin": node.url},
                                               json={"urlId": "busy", "x": 0.1, "y": 0.1, "text": f"{n}/{k}"})
                    assert answer.status_code == 201, answer.text
                    seqs.append(answer.json()["seq"])
                return seqs

            results = await asyncio.gather(*(writer(node, headers, n) for n, (node, headers) in enumerate(writers)))
            return sorted(seq for seqs in results for seq in seqs)

    assert run(write_all()) == list(range(1, 41))
    snapshot = httpx.get(f"{node2.url}/api/v1/tenants/demo/snapshot", params={"urlId": "busy"}).json()
    assert snapshot["seq"] == 40 and len(snapshot["markers"]) == 40
    for listener in listeners:
        listener.wait_for_seq(40)
        seqs = [event["seq"] for event in listener.events()]
        assert sorted(seqs) == list(range(1, 41)) and len(seqs) == 40  # every event, once
        assert {e["marker"]["id"] for e in listener.events()} == {m["id"] for m in snapshot["markers"]}


def test_after_a_redis_restart_every_viewer_catches_up_and_applies_nothing_twice(cluster, redis_server, new_context):
    node1, node2 = cluster(2)
    alice = Viewer(new_context(node1).new_page()).open()
    bob = Viewer(new_context(node2).new_page()).open()
    for viewer in (alice, bob):
        viewer.watch_pins()
    headers = node1.sign_in("Carol")
    assert create(node1, headers, "Before the outage").status_code == 201
    expect(bob.pins).to_have_count(1)

    redis_server.stop()
    for n in range(3):  # stored, but no node can publish them
        assert create(node1 if n % 2 else node2, headers, f"During the outage {n}").status_code == 201
    redis_server.start()  # same port: the nodes reconnect, resubscribe and tell viewers to resume

    snapshot = httpx.get(f"{node1.url}/api/v1/tenants/demo/snapshot", params={"urlId": URL_ID}).json()
    for viewer in (alice, bob):
        expect(viewer.pins).to_have_count(4, timeout=30_000)
        assert {pin for pin in viewer.pins.evaluate_all("pins => pins.map(p => p.dataset.marker)")} == {
            marker["id"] for marker in snapshot["markers"]}
        assert viewer.max_pins_seen() == 4
    assert create(node2, headers, "After the outage").status_code == 201  # live again
    for viewer in (alice, bob):
        expect(viewer.pins).to_have_count(5)


def test_a_burst_reaches_a_viewer_in_batches_in_order(server_with):
    node = server_with(*NO_RATE_LIMITS, "--batch-window-seconds", "0.1")
    listener = Listener(node, "burst")
    headers = node.sign_in("Burst")

    async def burst() -> None:
        async with httpx.AsyncClient() as client:
            async def one(n: int) -> None:
                answer = await client.post(f"{node.url}/api/v1/tenants/demo/markers", headers=headers,
                                           json={"urlId": "burst", "x": 0.2, "y": 0.2, "text": f"burst {n}"})
                assert answer.status_code == 201
            for start in range(0, 200, 20):
                await asyncio.gather(*(one(n) for n in range(start, start + 20)))

    started = time.monotonic()
    run(burst())
    listener.wait_for_seq(200)
    took = time.monotonic() - started
    frames = [json.loads(frame) for frame in listener.frames[1:]]  # after the subscription's answer
    events = listener.events()
    assert [event["seq"] for event in events] == list(range(1, 201))  # all, once, in order
    # At most one frame per window, plus one per `batch-max-events` (50) that filled up early:
    # however fast this machine wrote the burst, the viewer never got more.
    assert len(frames) <= took / 0.1 + 1 + 200 / 50, (len(frames), took)
    assert any(frame["type"] == "batch" for frame in frames)
    snapshot = httpx.get(f"{node.url}/api/v1/tenants/demo/snapshot", params={"urlId": "burst"}).json()
    assert {event["marker"]["id"] for event in events} == {marker["id"] for marker in snapshot["markers"]}
    print(f"\n200 events arrived in {len(frames)} frames")


def test_a_lone_event_is_sent_at_once_whatever_the_window(server_with):
    node = server_with("--batch-window-seconds", "30")
    listener = Listener(node, "quiet")
    create(node, node.sign_in("Quiet"), "Alone", url_id="quiet")
    assert listener.recv(timeout=5)["type"] == "new-image-chat"  # not held for 30 s


def test_usage_counts_equal_what_viewers_received_summed_over_nodes(cluster):
    node1, node2 = cluster(2, "--heartbeat-seconds", "3600")
    listeners = [Listener(node, "metered") for node in (node1, node2, node2)]
    headers = node1.sign_in("Meter")
    for n in range(6):
        assert create(node1 if n % 2 else node2, headers, f"metered {n}", url_id="metered").status_code == 201
    for listener in listeners:
        listener.wait_for_seq(6)
    received = [listener.finish() for listener in listeners]
    frames, size = sum(f for f, _ in received), sum(b for _, b in received)
    for node in (node1, node2):
        node.stop()  # a graceful stop stores what the node counted
    node1.start()
    secret = demo_secret_of(node1)
    usage = httpx.get(f"{node1.url}/api/v1/tenants/demo/usage", params={"minutes": 10},
                      headers={"Authorization": f"Secret {secret}"}).json()
    assert usage["totals"]["pubSubMessageCount"] == frames
    assert usage["totals"]["pubSubBandwidth"] == size
    assert usage["totals"]["connections"] == 3 and usage["totals"]["markersCreated"] == 6
    assert usage["busiestImages"][0] == {"urlId": "metered", "events": 6}


def demo_secret_of(node: ServerProcess) -> str:
    async def fetch() -> str:
        import asyncpg

        connection = await asyncpg.connect(node.database_url)
        try:
            return await connection.fetchval("SELECT secret FROM tenants WHERE id = 'demo'")
        finally:
            await connection.close()

    return run(fetch())
