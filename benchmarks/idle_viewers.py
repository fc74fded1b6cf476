"""Idle viewers: what a server holding many subscribed WebSockets spends when nothing happens.

Starts `imagechat serve` (SQLite, heartbeats every 15 s, the default), opens VIEWERS viewers (default
1,000) on one image from this process, then watches the server for SECONDS (default 30: two rounds
of heartbeats): its CPU (user + system, from /proc) as a share of one core, and its memory per
viewer ((RSS with the viewers − RSS before them) / VIEWERS, after a warm-up round of 20 viewers).
Asserts nothing.

    .venv/bin/python benchmarks/idle_viewers.py [VIEWERS] [SECONDS]
"""

from __future__ import annotations

import asyncio
import sys

from live_load import Viewers, cpu_seconds, raise_open_file_limit, rss_kb, start_server, table, temporary_folder


async def measure(viewers: int, seconds: float) -> dict[str, object]:
    with temporary_folder() as folder:
        server = start_server(folder)
        try:
            warm_up = Viewers(server, 20, compression=None)
            await warm_up.open()
            await warm_up.close()
            await asyncio.sleep(2)
            before = rss_kb(server)
            idle = Viewers(server, viewers, compression=None)
            await idle.open()
            await asyncio.sleep(2)  # the last handshakes' garbage, logging
            after = rss_kb(server)
            cpu_start = cpu_seconds(server)
            await asyncio.sleep(seconds)
            cpu = cpu_seconds(server) - cpu_start
            heartbeats = idle.heartbeats
            await idle.close()
        finally:
            server.stop()
    return {"viewers": viewers, "seconds": seconds, "heartbeats received": heartbeats,
            "server CPU % of a core": f"{100 * cpu / seconds:.2f}", "CPU s": f"{cpu:.2f}",
            "KB per viewer": f"{(after - before) / viewers:.1f}", "RSS MB": f"{after / 1024:.1f}"}


def main() -> None:
    raise_open_file_limit()
    viewers = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 30
    print(table([asyncio.run(measure(viewers, seconds))]))


if __name__ == "__main__":
    main()
