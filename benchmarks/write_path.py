"""The write path alone: how many marker creations one server accepts per second, and the server CPU
each one costs, with no viewer watching (the shared bench measures fan-out; this isolates writes).

Starts `imagechat serve` (SQLite file, or PostgreSQL with --postgres), then creates markers from
CONCURRENCY clients at once, spread over IMAGES images, for SECONDS. Prints changes/s, server CPU
per change (user + sys of the server process, from /proc) and the answer latency. With --profile,
records the server with py-spy (pip install py-spy) as collapsed stacks.

    .venv/bin/python benchmarks/write_path.py [--postgres] [--broker-url URL] [--concurrency 64] [--images 8] [--seconds 10] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "widget")]
from tests.conftest import ServerProcess  # noqa: E402
from tests.services import Postgres  # noqa: E402

GENEROUS = ("--user-changes-per-minute", "10000000", "--ip-requests-per-minute", "10000000",
            "--max-markers-per-image", "100000000")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def load(server: ServerProcess, concurrency: int, images: int, seconds: float) -> tuple[int, list[float]]:
    """CONCURRENCY keep-alive connections, each posting one change after another. A few lines of
    raw HTTP/1.1: an HTTP client library would cost more CPU per request than the server does."""
    headers = server.sign_in("Bench")
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    latencies: list[float] = []
    deadline = time.monotonic() + seconds

    async def one_client(index: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        n = 0
        while time.monotonic() < deadline:
            n += 1
            body = json.dumps({"urlId": f"img-{(index + n) % images}", "x": 0.5, "y": 0.5, "text": "x" * 100}).encode()
            start = time.monotonic()
            writer.write(f"POST /api/v1/tenants/demo/markers HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n{head}"
                         f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
            status = (await reader.readline()).split()[1]
            length = 0
            while (line := await reader.readline()) != b"\r\n":
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            assert status == b"201", status
            latencies.append(time.monotonic() - start)
        writer.close()

    await asyncio.gather(*(one_client(i) for i in range(concurrency)))
    return len(latencies), latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL on 127.0.0.1:5432 (or throwaway)")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--broker-url", help="e.g. redis://127.0.0.1:6379/0 (a cluster node's broker; default: in memory)")
    parser.add_argument("--profile", action="store_true", help="py-spy collapsed stacks of the server (flamegraph.pl input)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        database_url = None
        postgres = None
        if args.postgres:
            postgres = Postgres.find_or_start()
            database_url = postgres.new_database()
        broker = ["--broker-url", args.broker_url] if args.broker_url else []
        server = ServerProcess(Path(folder) / "bench.db", None, *GENEROUS, *broker, database_url=database_url).start()
        assert server.process is not None
        spy = None
        try:
            if args.profile:
                svg = Path(folder).parent / f"write-path-{int(time.time())}.txt"
                spy = subprocess.Popen(["py-spy", "record", "-p", str(server.process.pid), "-o", str(svg), "--format", "raw",
                                        "--rate", "500", "--idle"], stdout=subprocess.DEVNULL)
            cpu_before, client_before = cpu_seconds(server.process.pid), time.process_time()
            started = time.monotonic()
            changes, latencies = asyncio.run(load(server, args.concurrency, args.images, args.seconds))
            elapsed = time.monotonic() - started
            cpu = cpu_seconds(server.process.pid) - cpu_before
            client_cpu = time.process_time() - client_before
        finally:
            if spy is not None:
                spy.send_signal(2)
                spy.wait()
            server.stop()
            if postgres is not None:
                postgres.close()
    latencies.sort()
    print(f"database      {'postgresql' if args.postgres else 'sqlite'}")
    print(f"changes/s     {changes / elapsed:.0f}  ({changes} in {elapsed:.1f} s, {args.concurrency} clients, {args.images} images)")
    print(f"cpu/change    {cpu / changes * 1000:.2f} ms  (server at {cpu / elapsed * 100:.0f} % of a core)")
    print(f"client        at {client_cpu / elapsed * 100:.0f} % of a core (near 100 %: the client is the limit)")
    print(f"latency ms    p50 {statistics.median(latencies) * 1000:.1f}  p99 {latencies[int(len(latencies) * 0.99)] * 1000:.1f}")
    if spy is not None:
        print(f"profile       {svg}")


if __name__ == "__main__":
    main()
