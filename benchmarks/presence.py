"""Presence under churn: what 200 viewers joining and leaving one image cost in presence frames.

Starts `imagechat serve` (SQLite, memory broker), opens one watcher on the image, then runs VIEWERS
(default 200) viewers for SECONDS (default 30) that each, over and over, connect, subscribe asking
for presence (half of them signed in), stay 0.2–2 s and leave. Prints the joins and leaves per
second, the presence frames the watcher received per second (one image's rate: the design holds it
to at most one per `protocol.PRESENCE_SECONDS`), the presence frames all sockets received per
second, and the server's CPU. Asserts nothing.

    .venv/bin/python benchmarks/presence.py [VIEWERS] [SECONDS]
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time

from live_load import URL_ID, cpu_seconds, raise_open_file_limit, start_server, table, temporary_folder
from websockets.asyncio.client import ClientConnection, connect

from imagechat import protocol
from tests.conftest import ServerProcess


class Counts:
    def __init__(self) -> None:
        self.joins = 0
        self.leaves = 0
        self.presence_frames = 0  # received by every socket
        self.watcher_frames = 0  # received by the one watcher
        self.largest_count = 0


async def subscribed(server: ServerProcess, token: str | None) -> ClientConnection:
    ws = await connect(server.ws_url, origin=server.url, compression=None, open_timeout=60, ping_interval=None)
    await ws.send(protocol.subscribe(URL_ID, token, presence=True))
    while json.loads(await ws.recv())["type"] != protocol.SUBSCRIBED:
        pass
    return ws


async def read(ws: ClientConnection, counts: Counts, watcher: bool) -> None:
    async for text in ws:
        if '"presence"' in text[:24]:
            counts.presence_frames += 1
            if watcher:
                counts.watcher_frames += 1
                counts.largest_count = max(counts.largest_count, json.loads(text)["count"])


async def churn(server: ServerProcess, token: str | None, counts: Counts, until: float) -> None:
    while time.monotonic() < until:
        ws = await subscribed(server, token)
        counts.joins += 1
        reader = asyncio.create_task(read(ws, counts, watcher=False))
        await asyncio.sleep(random.uniform(0.2, 2))
        await ws.close()
        await reader
        counts.leaves += 1


async def measure(viewers: int, seconds: float) -> dict[str, object]:
    counts = Counts()
    with temporary_folder() as folder:
        server = start_server(folder)
        try:
            tokens = [server.sign_in(f"Viewer {n}")["Authorization"].removeprefix("Bearer ") for n in range(viewers // 2)]
            watcher = await subscribed(server, None)
            watching = asyncio.create_task(read(watcher, counts, watcher=True))
            cpu_start = cpu_seconds(server)
            started = time.monotonic()
            until = started + seconds
            await asyncio.gather(*(churn(server, tokens[n] if n < len(tokens) else None, counts, until)
                                   for n in range(viewers)))
            elapsed = time.monotonic() - started
            cpu = cpu_seconds(server) - cpu_start
            await watcher.close()
            await watching
        finally:
            server.stop()
    return {"viewers": viewers, "seconds": f"{elapsed:.1f}",
            "joins+leaves /s": f"{(counts.joins + counts.leaves) / elapsed:.0f}",
            "most seen at once": counts.largest_count,
            "presence frames /s to one viewer": f"{counts.watcher_frames / elapsed:.2f}",
            "presence frames /s, all sockets": f"{counts.presence_frames / elapsed:.0f}",
            "server CPU % of a core": f"{100 * cpu / elapsed:.0f}"}


def main() -> None:
    raise_open_file_limit()
    viewers = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 30
    print(table([asyncio.run(measure(viewers, seconds))]))


if __name__ == "__main__":
    main()
