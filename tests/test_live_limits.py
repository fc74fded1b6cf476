"""What one WebSocket client can make the server hold or send, against a real server process:
replays of a big event log to sockets that never read, repeated resumes, handshakes abandoned
half-way, and sockets that never subscribe.

The image here has 1,000 events of 2,000-character comments (about 2.3 MB of log), so that a
replay is expensive: a server that replays it again for every `resume`, or reads it whole into
memory for a socket that does not read, shows it at once in its memory and its bytes sent.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import struct
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from websockets.client import ClientProtocol
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.protocol import State
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Origin
from websockets.uri import parse_uri

from imagechat import limits, protocol
from tests import live
from tests.conftest import NO_RATE_LIMITS, ServerProcess, new_id, new_url_id, wait_until
from tests.rest import Rest

EVENTS = 1000
COMMENT = "c" * protocol.MAX_COMMENT_CHARS
SOCKETS = 50  # the per-address cap
RESUMES_PER_SOCKET = 30
WATCH_SECONDS = 10  # how long the server is watched while the non-reading sockets press on it
REPLAY_TIMEOUT = 60  # a whole replay of the big image may come before a pong


# -- helpers ------------------------------------------------------------------------------------


class RawSocket:
    """A WebSocket on a plain TCP socket that reads nothing but its handshake answer: a client
    that never reads what the server sends (with a tiny receive buffer, so the server's side fills)."""

    def __init__(self, server: ServerProcess) -> None:
        self.protocol = ClientProtocol(parse_uri(server.ws_url), origin=Origin(server.url))
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.connect(("127.0.0.1", server.port))
        self.protocol.send_request(self.protocol.connect())
        self._flush()
        while self.protocol.state is State.CONNECTING:
            self.protocol.receive_data(self.sock.recv(1))  # byte by byte: not a byte past the handshake
        assert self.protocol.state is State.OPEN, self.protocol.handshake_exc

    def send(self, frame: dict) -> None:
        self.protocol.send_text(json.dumps(frame).encode())
        self._flush()

    def close_code(self) -> int:
        """Read all the server sent, up to its close frame: the close code."""
        self.sock.settimeout(30)
        while self.protocol.close_rcvd is None and (data := self.sock.recv(1 << 16)):
            self.protocol.receive_data(data)
            self.protocol.events_received()
        assert self.protocol.close_rcvd is not None
        return self.protocol.close_rcvd.code

    def abort(self) -> None:
        """Leave at once: a TCP reset, no closing handshake."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

    def _flush(self) -> None:
        self.sock.sendall(b"".join(self.protocol.data_to_send()))


def rss_mb(server: ServerProcess) -> float:
    """The server process's resident memory, in MB."""
    assert server.process is not None
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) / 1024


def metric(server: ServerProcess, name: str) -> float:
    text = httpx.get(f"{server.url}/metrics").text
    found = re.search(rf'^{name}\{{tenant="demo"\}} (\S+)$', text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def snapshot_seconds(server: ServerProcess, url_id: str) -> float:
    started = time.monotonic()
    answer = httpx.get(f"{server.url}/api/v1/tenants/demo/snapshot", params={"urlId": url_id}, timeout=60)
    assert answer.status_code == 200, answer.text
    return time.monotonic() - started


def create_markers(server: ServerProcess, url_id: str, count: int, text: str = COMMENT) -> None:
    with Rest(server, "Ada", timeout=30) as author:
        def create(_: int) -> None:
            answer = author.create_marker(url_id, text, id=new_id("marker"), commentId=new_id("comment"))
            assert answer.status_code == 201, answer.text

        with ThreadPoolExecutor(4) as pool:
            list(pool.map(create, range(count)))


def events_up_to(ws: ClientConnection, last: int) -> list[int]:
    """The seqs of the events the server queued before a pong, and then up to `last` (live events
    may still be on their way: batching holds them a few milliseconds); nothing more after it."""
    seqs = event_seqs(list(live.frames_until_pong(ws, REPLAY_TIMEOUT)))
    while last not in seqs:
        seqs += event_seqs([ws.recv(timeout=30)])
    assert event_seqs(list(live.frames_until_pong(ws, REPLAY_TIMEOUT))) == []
    return seqs


def event_seqs(frames: list[str]) -> list[int]:
    seqs = []
    for frame in frames:
        message = json.loads(frame)
        if message["type"] == "batch":
            seqs += [event["seq"] for event in message["events"]]
        elif "seq" in message:
            seqs.append(message["seq"])
    return seqs


@pytest.fixture(scope="module")
def big_image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, str]]:
    """A server (no practical rate limits) with an image of 1,000 events of 2,000-character comments."""
    server = ServerProcess(tmp_path_factory.mktemp("big") / "imagechat.db", None, *NO_RATE_LIMITS,
                           "--max-markers-per-image", "5000", "--replay-limit", str(EVENTS)).start()
    url_id = new_url_id()
    create_markers(server, url_id, EVENTS)
    yield server, url_id
    server.stop()


def current_seq(server: ServerProcess, url_id: str) -> int:
    return httpx.get(f"{server.url}/api/v1/tenants/demo/snapshot", params={"urlId": url_id}).json()["seq"]


# -- replays: bounded memory, bounded bytes, nothing lost -------------------------------------


def press_with_non_reading_sockets(server: ServerProcess, url_id: str, count: int) -> list[RawSocket]:
    """Sockets that subscribe, then ask for the whole log again and again, and never read."""
    seq = current_seq(server, url_id)
    sockets = [RawSocket(server) for _ in range(count)]
    for raw in sockets:
        raw.send({"type": "subscribe", "urlId": url_id})
    for raw in sockets:
        for _ in range(RESUMES_PER_SOCKET):
            raw.send({"type": "resume", "since": seq - EVENTS})
    return sockets


def leave(server: ServerProcess, sockets: list[RawSocket]) -> None:
    for raw in sockets:
        raw.abort()
    wait_until(lambda: metric(server, "imagechat_connections_open") == 0, timeout=30)


def test_sockets_that_never_read_and_resume_over_and_over_hold_little_memory(big_image) -> None:
    server, url_id = big_image
    # Warm up with a few such sockets: the database connections, their caches and the allocator's
    # pools that any busy server has are not what is measured here.
    leave(server, press_with_non_reading_sockets(server, url_id, 10))
    snapshot_seconds(server, url_id)
    start, sent = rss_mb(server), metric(server, "imagechat_pubsub_bytes_total")
    sockets = press_with_non_reading_sockets(server, url_id, SOCKETS)
    peak, latencies = start, []
    watch_until = time.monotonic() + WATCH_SECONDS
    while time.monotonic() < watch_until:  # a bystander keeps loading the snapshot meanwhile
        latencies.append(snapshot_seconds(server, url_id))
        peak = max(peak, rss_mb(server))
    sent = metric(server, "imagechat_pubsub_bytes_total") - sent
    latencies.sort()
    after = [rss_mb(server)]
    try:
        leave(server, sockets)
        wait_until(lambda: after.append(rss_mb(server)) or after[-1] < start + 50, timeout=30)
    finally:
        print(f"\nRSS start {start:.0f} MB, peak {peak:.0f} MB, after {after[-1]:.0f} MB; bystander snapshot "
              f"median {latencies[len(latencies) // 2]:.3f} s, max {latencies[-1]:.3f} s ({len(latencies)} loads); "
              f"bytes sent to the tenant meanwhile {sent / 1e6:.1f} MB")
    assert peak - start < 150
    assert sent < SOCKETS * limits.RESUMES_BURST * EVENTS * 2500  # at most a few replays each, as sent


def test_a_reader_resuming_over_and_over_gets_a_bounded_replay_then_reload_frames(big_image) -> None:
    server, url_id = big_image
    sent_before = metric(server, "imagechat_pubsub_bytes_total")
    with connect(server.ws_url, origin=server.url, max_size=None) as ws:
        seq = live.subscribe(ws, url_id, timeout=10)["seq"]
        for _ in range(20):
            ws.send(json.dumps({"type": "resume", "since": seq - EVENTS}))
        frames = list(live.frames_until_pong(ws, REPLAY_TIMEOUT))
    received = sum(len(frame.encode()) for frame in frames)
    replays = event_seqs(frames).count(seq - EVENTS + 1)
    reloads = frames.count('{"type":"reload","reason":"too_many_resumes"}')
    print(f"\n20 resumes: {received / 1e6:.2f} MB received, {replays} replays, {reloads} reload frames")
    assert replays <= limits.RESUMES_BURST and replays + reloads == 20
    assert event_seqs(frames) == list(range(seq - EVENTS + 1, seq + 1)) * replays
    counted = metric(server, "imagechat_pubsub_bytes_total") - sent_before
    assert received <= counted < received + 1000  # what was sent (and a pong), not what was asked for


def test_live_events_during_a_paged_replay_are_neither_lost_nor_repeated(big_image) -> None:
    server, url_id = big_image
    with connect(server.ws_url, origin=server.url, max_size=None) as ws:
        epoch = live.subscribe(ws, url_id, timeout=10)["epoch"]
    seq = current_seq(server, url_id)
    since = seq - 900  # under the replay limit even with the changes made meanwhile
    writer = threading.Thread(target=create_markers, args=(server, url_id, 30, "during the replay"))
    with connect(server.ws_url, origin=server.url, max_size=None) as ws:
        writer.start()
        acknowledged = live.subscribe(ws, url_id, since=since, epoch=epoch, timeout=10)
        assert acknowledged["resume"] is True
        # Subscribing from `since`: every later event exactly once, in order, replayed or live.
        assert events_up_to(ws, seq + 30) == list(range(since + 1, seq + 31))
        writer.join()

        seq += 30
        writer = threading.Thread(target=create_markers, args=(server, url_id, 30, "during the resume"))
        writer.start()
        ws.send(json.dumps({"type": "resume", "since": seq - 900}))
        seqs = events_up_to(ws, seq + 30)
        writer.join()
    # Live events that went out before the resume was read come first; then the replay from
    # `since`, and every later event once, in order.
    replay_start = seqs.index(seq - 900 + 1)
    assert all(live > seq for live in seqs[:replay_start]) and seqs[:replay_start] == sorted(seqs[:replay_start])
    assert seqs[replay_start:] == list(range(seq - 900 + 1, seq + 31))


def test_a_socket_that_stops_reading_is_dropped_past_its_byte_bound_even_mid_replay(big_image) -> None:
    server, url_id = big_image
    seq = current_seq(server, url_id)
    sent = metric(server, "imagechat_pubsub_bytes_total")
    raw = RawSocket(server)
    raw.send({"type": "subscribe", "urlId": url_id})
    for _ in range(limits.RESUMES_BURST):  # more replays than the socket's buffers take
        raw.send({"type": "resume", "since": seq - EVENTS})
    wait_until(lambda: metric(server, "imagechat_pubsub_bytes_total") - sent > 2e6, timeout=30)
    # Live events go on meanwhile: kept aside during the replay, they count against the bound.
    create_markers(server, url_id, 600)  # about 1.4 MB
    assert raw.close_code() == 4008


# -- handshakes abandoned half-way --------------------------------------------------------------


def upgrade_request(server: ServerProcess) -> bytes:
    protocol = ClientProtocol(parse_uri(server.ws_url), origin=Origin(server.url))
    protocol.send_request(protocol.connect())
    return b"".join(protocol.data_to_send())


def test_handshakes_abandoned_half_way_give_their_connection_slot_back(server_with) -> None:
    server = server_with()
    request = upgrade_request(server)
    for n in range(200):  # the client leaves right after asking: half with a FIN, half with a reset
        with socket.create_connection(("127.0.0.1", server.port)) as raw:
            if n % 2:
                raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            raw.sendall(request)

    connected: list[int] = []

    def all_connect() -> bool:  # the server may still be finishing the last abandoned handshakes
        opened: list[ClientConnection] = []
        with contextlib.ExitStack() as sockets:  # all closed on the way out
            try:
                for _ in range(SOCKETS):
                    opened.append(sockets.enter_context(connect(server.ws_url, origin=server.url, open_timeout=10)))
            except InvalidStatus as refused:
                assert refused.response.status_code == 429
        connected.append(len(opened))
        return len(opened) == SOCKETS

    try:
        wait_until(all_connect, timeout=10)
    finally:
        print(f"\n{connected[-1]} of {SOCKETS} sockets connected after 200 abandoned handshakes")


# -- sockets that never subscribe ---------------------------------------------------------------


def test_a_socket_that_does_not_subscribe_in_time_is_closed_with_4408(server_with) -> None:
    server = server_with("--subscribe-timeout-seconds", "0.5")
    # The watcher connects first: once the idle socket is closed at its deadline, the watcher's has passed.
    with connect(server.ws_url, origin=server.url) as watcher, connect(server.ws_url, origin=server.url) as idle:
        live.subscribe(watcher, new_url_id(), timeout=10)
        for _ in range(3):  # pings do not keep an unsubscribed socket open
            idle.send('{"type":"ping"}')
            assert json.loads(idle.recv(timeout=5)) == {"type": "pong"}
            time.sleep(0.1)  # the client's pace: its pings spread over the deadline, not a wait on the server
        answer = json.loads(idle.recv(timeout=5))
        assert (answer["type"], answer["error"]) == ("error", "subscribe_timeout"), answer
        with pytest.raises(ConnectionClosed) as closed:
            idle.recv(timeout=5)
        assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4408, "subscribe_timeout")
        watcher.send('{"type":"ping"}')
        assert json.loads(watcher.recv(timeout=5)) == {"type": "pong"}
