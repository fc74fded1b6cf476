"""Live delivery to many viewers of one image: one node vs two nodes, batching on vs off.

For each setup it starts real `imagechat serve` processes (two nodes share PostgreSQL and Redis),
opens VIEWERS WebSocket viewers on one image (spread over the nodes), then a writer creates
EVENTS markers through REST, EVENTS_PER_SECOND of them a second. Each marker's text carries the
time it was sent; every viewer notes when it arrived. Prints deliveries per second, p50/p99
delivery latency, and frames per second received; asserts nothing.

    .venv/bin/python benchmarks/fanout.py [VIEWERS] [EVENTS] [EVENTS_PER_SECOND]
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from websockets.asyncio.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.conftest import ServerProcess  # noqa: E402
from tests.services import Postgres, Redis  # noqa: E402

OPEN = ("--ip-requests-per-minute", "10000000", "--user-changes-per-minute", "10000000",
        "--max-connections-per-ip", "100000", "--heartbeat-seconds", "3600")


async def viewer(node: ServerProcess, ready: asyncio.Event, expected: int, arrivals: list[float], frames: list[int]):
    async with connect(node.ws_url, origin=node.url, max_size=None) as ws:
        await ws.send(json.dumps({"type": "subscribe", "urlId": "bench"}))
        await ws.recv()
        ready.set()
        seen = 0
        while seen < expected:
            message = json.loads(await ws.recv())
            now = time.time()
            frames.append(1)
            events = message["events"] if message["type"] == "batch" else [message]
            for event in events:
                if event.get("type") == "new-image-chat":
                    arrivals.append(now - float(event["marker"]["comments"][0]["text"]))
                    seen += 1


async def run_setup(nodes: list[ServerProcess], viewers: int, events: int, rate: float) -> dict[str, float]:
    arrivals: list[float] = []
    frames: list[int] = []
    readies = [asyncio.Event() for _ in range(viewers)]
    tasks = [asyncio.create_task(viewer(nodes[i % len(nodes)], readies[i], events, arrivals, frames))
             for i in range(viewers)]
    await asyncio.gather(*(ready.wait() for ready in readies))
    headers = [node.sign_in("Bench") for node in nodes]
    started = time.time()
    async with httpx.AsyncClient(timeout=30) as client:
        async def post(n: int) -> None:
            node = nodes[n % len(nodes)]
            await client.post(f"{node.url}/api/v1/tenants/demo/markers", headers=headers[n % len(nodes)],
                              json={"urlId": "bench", "x": 0.5, "y": 0.5, "text": repr(time.time())})

        posts = []
        for n in range(events):
            posts.append(asyncio.create_task(post(n)))
            await asyncio.sleep(1 / rate)
        await asyncio.gather(*posts)
    await asyncio.wait_for(asyncio.gather(*tasks), 300)
    elapsed = time.time() - started
    latencies = sorted(arrivals)
    return {
        "deliveries/s": len(arrivals) / elapsed,
        "p50 ms": 1000 * statistics.median(latencies),
        "p99 ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))],
        "frames/s": len(frames) / elapsed,
        "frames": len(frames),
    }


def main(viewers: int, events: int, rate: float) -> None:
    postgres = Postgres.find_or_start()
    redis = Redis().start()
    results = {}
    try:
        with tempfile.TemporaryDirectory() as folder:
            setups = {
                "1 node, batching on": (1, ()),
                "1 node, batching off": (1, ("--batch-window-seconds", "0")),
                "2 nodes, batching on": (2, ("--broker-url", redis.url)),
            }
            for name, (count, flags) in setups.items():
                database = postgres.new_database()
                nodes = [ServerProcess(Path(folder) / f"{name}-{n}.db", None, *OPEN, *flags, database_url=database).start()
                         for n in range(count)]
                try:
                    results[name] = asyncio.run(run_setup(nodes, viewers, events, rate))
                finally:
                    for node in nodes:
                        node.stop()
    finally:
        redis.stop()
        postgres.close()
    print(f"{viewers} viewers on one image, {events} markers at {rate:g}/s (PostgreSQL)")
    for name, numbers in results.items():
        print(f"  {name:22} " + "   ".join(f"{key} {value:8.1f}" for key, value in numbers.items()))


if __name__ == "__main__":
    arguments = [float(value) for value in sys.argv[1:]]
    main(int(arguments[0]) if arguments else 200, int(arguments[1]) if len(arguments) > 1 else 100,
         arguments[2] if len(arguments) > 2 else 50)
