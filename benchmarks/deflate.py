"""permessage-deflate on and off: what compression costs the server per delivery, what it saves on
the wire, and what it costs in memory per viewer.

For each mode (`imagechat serve` with --no-ws-deflate, then --ws-deflate) and each viewer count, on
a fresh server: the write path alone first (EVENTS markers created at RATE a second with no
viewer: their CPU is not the fan-out's), then VIEWERS viewers that offer permessage-deflate, as
browsers do (the `websockets` client does by default; the server accepts it only with
--ws-deflate), and the same EVENTS again. Prints per mode and viewer count:

- CPU per delivery: (server CPU with the viewers − CPU of the write path alone) / deliveries, in µs
- wire B/frame: bytes the viewers' sockets received / frames received (WebSocket headers included)
- text B/frame: the frames' UTF-8 text, as the application wrote it
- KB/viewer: (server RSS with the viewers − RSS before them) / viewers

    .venv/bin/python benchmarks/deflate.py [--viewers 100,500] [--events 200] [--rate 20] [--modes off,on]

Asserts nothing. `--modes off` runs on servers without the --ws-deflate flag (older checkouts).
"""

from __future__ import annotations

import argparse
import asyncio

from live_load import (Viewers, WireCount, cpu_seconds, publish, raise_open_file_limit, rss_kb, start_server,
                       table, temporary_folder)

FLAGS = {"off": (), "on": ("--ws-deflate",)}


async def measure(mode: str, viewers: int, events: int, rate: float) -> dict[str, object]:
    with temporary_folder() as folder:
        server = start_server(folder, *FLAGS[mode])
        try:
            headers = server.sign_in("Bench")
            warm_up = Viewers(server, 20)
            await warm_up.open()
            await publish(server, headers, 20, rate)
            await warm_up.wait_for_events(20 * 20)
            await warm_up.close()

            started = cpu_seconds(server)
            await publish(server, headers, events, rate)
            write_path = cpu_seconds(server) - started

            before = rss_kb(server)
            watching = Viewers(server, viewers)
            await watching.open()
            await asyncio.sleep(1)
            after = rss_kb(server)
            negotiated = sum(1 for ws in watching.sockets if ws.protocol.extensions)
            frames, wire, text = watching.frames, WireCount.received, watching.text_bytes
            started = cpu_seconds(server)
            await publish(server, headers, events, rate)
            await watching.wait_for_events(viewers * events)
            with_viewers = cpu_seconds(server) - started
            frames, wire, text = watching.frames - frames, WireCount.received - wire, watching.text_bytes - text
            await watching.close()
        finally:
            server.stop()
    deliveries = viewers * events
    return {"deflate": mode, "viewers": viewers, "negotiated": negotiated, "events": events,
            "CPU us/delivery": f"{1e6 * (with_viewers - write_path) / deliveries:.1f}",
            "write path ms/event": f"{1e3 * write_path / events:.2f}",
            "wire B/frame": f"{wire / frames:.0f}", "text B/frame": f"{text / frames:.0f}",
            "KB/viewer": f"{(after - before) / viewers:.1f}"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--viewers", default="100,500")
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--rate", type=float, default=20)
    parser.add_argument("--modes", default="off,on")
    args = parser.parse_args()
    raise_open_file_limit()
    WireCount.install()
    rows = [asyncio.run(measure(mode, int(viewers), args.events, args.rate))
            for mode in args.modes.split(",") for viewers in args.viewers.split(",")]
    print(table(rows))


if __name__ == "__main__":
    main()
