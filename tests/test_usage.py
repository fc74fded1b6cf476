"""Usage counting in process: deliveries counted in a tenant's tally (two integer adds) come out
exact in the usage report and in the Prometheus counters, whenever either is read."""

from __future__ import annotations

import asyncio
import contextlib
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from prometheus_client import generate_latest

from tests.services import run
from imagechat.storage.database import create_engine
from imagechat.storage.migrate import upgrade
from imagechat.usage import Usage


def scraped(tenant_id: str, name: str) -> float:
    found = re.search(rf'^{name}\{{tenant="{tenant_id}"\}} (\S+)$', generate_latest().decode(), re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def test_frames_counted_in_tallies_are_exact_in_the_report_and_in_prometheus(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'usage.db'}"
    upgrade(url)

    def counters() -> tuple[float, float]:  # this process's, since any test may have counted
        return scraped("demo", "imagechat_pubsub_messages_total"), scraped("demo", "imagechat_pubsub_bytes_total")

    async def body() -> None:
        engine = create_engine(url)
        usage = Usage(engine)
        try:
            frames, sent = counters()
            tally = usage.tally("demo")
            assert usage.tally("demo") is tally  # one per tenant, shared by its viewers
            for size in (100, 250, 7):
                tally.sent(size)
            # A scrape between deliveries sees them all; the next ones add to them.
            assert counters() == (frames + 3, sent + 357)
            tally.sent(43)
            report = await usage.report("demo", 10)
            assert report["totals"]["pubSubMessageCount"] == 4 and report["totals"]["pubSubBandwidth"] == 400
            assert counters() == (frames + 4, sent + 400)
            tally.sent(1)
            await usage.stop()  # a stop stores what is still counted
            report = await usage.report("demo", 10)
            assert report["totals"]["pubSubMessageCount"] == 5 and report["totals"]["pubSubBandwidth"] == 401
        finally:
            await engine.dispose()

    run(body())


class HeldCommit:
    """The real engine, whose write transactions wait before committing until `release` is set:
    a periodic flush caught half-way (a busy machine)."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.writing = asyncio.Event()
        self.release = asyncio.Event()

    def execution_options(self, **options: Any) -> Any:
        real, held = self.engine.execution_options(**options), self

        @contextlib.asynccontextmanager
        async def begin() -> Any:
            async with real.begin() as conn:
                yield conn
                held.writing.set()
                await held.release.wait()

        return SimpleNamespace(begin=begin)

    def connect(self) -> Any:
        return self.engine.connect()


def test_a_report_during_a_flush_waits_for_it_and_misses_nothing(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'usage.db'}"
    upgrade(url)

    async def body() -> None:
        engine = create_engine(url)
        usage = Usage(engine)
        held = HeldCommit(engine)
        usage._engine = held  # type: ignore[assignment]
        try:
            for _ in range(3):
                usage.marker_created("demo")
            periodic = asyncio.create_task(usage.flush())  # the flush loop's write, under way
            await held.writing.wait()
            report = asyncio.create_task(usage.report("demo", 10))
            # Unlocked, it would answer from the table meanwhile (0): it must wait for the flush.
            done, _ = await asyncio.wait([report], timeout=1.0)
            assert not done
            held.release.set()
            await periodic
            assert (await report)["totals"]["markersCreated"] == 3
        finally:
            await engine.dispose()

    run(body())
