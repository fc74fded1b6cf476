"""What benchmarks/idle_viewers.py and benchmarks/deflate.py share: a real `imagechat serve` process
with its limits out of the way, its CPU time and memory read from /proc, and many WebSocket
viewers subscribed to one image from this process (the `websockets` client; it offers
permessage-deflate unless told not to). A measurement tool: it asserts nothing."""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "widget")]  # tests.conftest imports the widget's package
from tests.conftest import ServerProcess  # noqa: E402

# Many sockets from one address, and writes as fast as the benchmark makes them.
OPEN_FLAGS = ("--ip-requests-per-minute", "10000000", "--user-changes-per-minute", "10000000",
              "--max-connections-per-ip", "100000", "--max-markers-per-image", "100000000")
OPEN_ENV = {"IMAGECHAT_MAX_HTTP_CONNECTIONS_PER_IP": "0"}
URL_ID = "bench-image"
CONNECT_AT_ONCE = 50


def start_server(folder: str, *flags: str) -> ServerProcess:
    server = ServerProcess(Path(folder) / f"bench-{time.monotonic_ns()}.db", None, *OPEN_FLAGS, *flags, env=OPEN_ENV)
    return server.start()


def cpu_seconds(server: ServerProcess) -> float:
    """User + system CPU time the server process has used so far."""
    assert server.process is not None
    fields = Path(f"/proc/{server.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kb(server: ServerProcess) -> int:
    assert server.process is not None
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1))


def raise_open_file_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class WireCount:
    """Bytes the viewers' sockets received, counted below the WebSocket protocol (what travelled:
    compressed when the socket negotiated permessage-deflate)."""

    received = 0

    @classmethod
    def install(cls) -> None:
        original: Callable[[ClientConnection, bytes], None] = ClientConnection.data_received

        def counted(connection: ClientConnection, data: bytes) -> None:
            cls.received += len(data)
            original(connection, data)

        ClientConnection.data_received = counted  # type: ignore[method-assign]


class Viewers:
    """`count` subscribed viewers of one image; each counts the events and frames it receives."""

    def __init__(self, server: ServerProcess, count: int, compression: str | None = "deflate") -> None:
        self.server = server
        self.count = count
        self.compression = compression
        self.sockets: list[ClientConnection] = []
        self.events = 0
        self.frames = 0
        self.text_bytes = 0
        self.heartbeats = 0
        self._readers: list[asyncio.Task[None]] = []
        self.changed = asyncio.Event()

    async def open(self) -> None:
        for start in range(0, self.count, CONNECT_AT_ONCE):
            opened = await asyncio.gather(*(self._open_one() for _ in range(start, min(self.count, start + CONNECT_AT_ONCE))))
            self.sockets += opened
        self._readers = [asyncio.create_task(self._read(ws)) for ws in self.sockets]

    async def _open_one(self) -> ClientConnection:
        ws = await connect(self.server.ws_url, origin=self.server.url, compression=self.compression,
                           max_size=None, open_timeout=60, ping_interval=None)
        await ws.send(json.dumps({"type": "subscribe", "urlId": URL_ID}))
        answer = json.loads(await ws.recv())
        assert answer["type"] == "subscribed", answer
        return ws

    async def _read(self, ws: ClientConnection) -> None:
        async for text in ws:
            assert isinstance(text, str)
            self.frames += 1
            self.text_bytes += len(text.encode())
            head = text[:24]  # parse only what must be: this process reads for hundreds of viewers
            if '"heartbeat"' in head:
                self.heartbeats += 1
            elif '"batch"' in head:
                self.events += len(json.loads(text)["events"])
            else:
                self.events += 1
            self.changed.set()

    async def wait_for_events(self, total: int, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while self.events < total:
            self.changed.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{self.events} of {total} events arrived")
            try:
                await asyncio.wait_for(self.changed.wait(), remaining)
            except TimeoutError:
                pass

    async def close(self) -> None:
        for task in self._readers:
            task.cancel()
        await asyncio.gather(*(ws.close() for ws in self.sockets), return_exceptions=True)
        await asyncio.gather(*self._readers, return_exceptions=True)


WORDS = ("the header blue spec page compare button checkout cart looks off here should we move this left "
         "right bigger smaller font icon margin padding color contrast mobile desktop design review ok agreed "
         "why not maybe later ship it done fixed please check again spacing aligned").split()


def comment(n: int) -> str:
    """About 100 characters of words, different for each event (as comments are: what compression sees)."""
    chosen = random.Random(n).choices(WORDS, k=30)
    return f"{n}: " + " ".join(chosen)[:95]


async def publish(server: ServerProcess, headers: dict[str, str], count: int, rate: float) -> None:
    """`count` markers on the image, `rate` a second (open loop: on schedule, not after answers)."""
    async with httpx.AsyncClient(base_url=f"{server.url}/api/v1/tenants/demo", timeout=60) as client:
        async def create(n: int) -> None:
            answer = await client.post("/markers", headers=headers,
                                       json={"urlId": URL_ID, "x": 0.4231, "y": 0.618, "text": comment(n)})
            answer.raise_for_status()

        started, posts = time.monotonic(), []
        for n in range(count):
            await asyncio.sleep(max(0.0, started + n / rate - time.monotonic()))
            posts.append(asyncio.create_task(create(n)))
        await asyncio.gather(*posts)


def temporary_folder() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="imagechat-bench-")


def table(rows: list[dict[str, Any]]) -> str:
    keys = list(rows[0])
    widths = {key: max(len(key), *(len(f"{row[key]}") for row in rows)) for key in keys}
    lines = ["  ".join(f"{key:>{widths[key]}}" for key in keys)]
    lines += ["  ".join(f"{row[key]:>{widths[key]}}" for key in keys) for row in rows]
    return "\n".join(lines)
