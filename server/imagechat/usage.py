"""Usage per tenant: what live sync costs each site.

Counted in memory per minute, added to the database every few seconds (and at shutdown) with an
upsert that adds, so that counts survive restarts and add up over every node. The same counts
feed Prometheus counters for operators (`/metrics`).

Frames sent to viewers are counted on the hot path of every delivery: there, a tenant's `Tally`
takes two integer adds, and its counts are folded into the minute buckets and the Prometheus
counters when usage is flushed, reported or scraped (so every reader sees exact counts).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from prometheus_client import REGISTRY, Counter, Gauge
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import and_, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from imagechat.storage.database import WRITE
from imagechat.storage.schema import events, images, usage

log = logging.getLogger("imagechat.usage")
METRICS = ("messages", "bytes", "connections", "markers")
# Names on the wire and in the dashboard, as the product description has them.
PUBLIC_NAMES = {"messages": "pubSubMessageCount", "bytes": "pubSubBandwidth",
                "connections": "connections", "markers": "markersCreated"}

CONNECTIONS_OPENED = Counter("imagechat_connections_opened", "Live connections opened", ["tenant"])
CONNECTIONS_OPEN = Gauge("imagechat_connections_open", "Live connections open now", ["tenant"])
MARKERS_CREATED = Counter("imagechat_markers_created", "Markers created", ["tenant"])


def minute_of(stamp_seconds: float) -> int:
    return int(stamp_seconds // 60) * 60_000


class Tally:
    """Frames and bytes sent to one tenant's viewers since they were last folded into the usage
    counts. Every viewer of the tenant holds it: a delivery costs two integer adds, not dictionary
    updates, a clock reading and Prometheus label lookups."""

    __slots__ = ("frames", "bytes")

    def __init__(self) -> None:
        self.frames = 0
        self.bytes = 0

    def sent(self, size: int) -> None:
        self.frames += 1
        self.bytes += size


class Usage:
    def __init__(self, engine: AsyncEngine, flush_seconds: float = 5.0) -> None:
        self._engine = engine
        self._flush_seconds = flush_seconds
        self._counts: dict[tuple[str, int], dict[str, int]] = defaultdict(lambda: dict.fromkeys(METRICS, 0))
        self._tallies: dict[str, Tally] = {}
        self._tallied_since = time.time()  # when the tallies' counts began (the last fold)
        self._task: asyncio.Task[None] | None = None
        self._flushing = asyncio.Lock()
        _COUNTING.add(self)

    # -- counting (deliveries: `Tally.sent`; the rest: a dictionary add) ------------------------

    def _add(self, tenant_id: str, metric: str, amount: int = 1) -> None:
        self._counts[(tenant_id, minute_of(time.time()))][metric] += amount

    def tally(self, tenant_id: str) -> Tally:
        """Where the frames sent to `tenant_id`'s viewers are counted (`Tally.sent`)."""
        tally = self._tallies.get(tenant_id)
        if tally is None:
            tally = self._tallies[tenant_id] = Tally()
        return tally

    def fold(self) -> None:
        """Move what the tallies counted into the minute buckets and the Prometheus counts. They go
        to the minute in which they began to be counted (the last fold): the flush loop also wakes
        just after each minute's end, so what one fold moves hardly ever spans two minutes."""
        now = time.time()
        minute, self._tallied_since = minute_of(self._tallied_since), now
        for tenant_id, tally in self._tallies.items():
            if tally.frames:
                counts = self._counts[(tenant_id, minute)]
                counts["messages"] += tally.frames
                counts["bytes"] += tally.bytes
                sent = _SENT.setdefault(tenant_id, [0, 0])
                sent[0] += tally.frames
                sent[1] += tally.bytes
                tally.frames = tally.bytes = 0

    def connection_opened(self, tenant_id: str) -> None:
        self._add(tenant_id, "connections")
        CONNECTIONS_OPENED.labels(tenant_id).inc()
        CONNECTIONS_OPEN.labels(tenant_id).inc()

    def connection_closed(self, tenant_id: str) -> None:
        CONNECTIONS_OPEN.labels(tenant_id).dec()

    def marker_created(self, tenant_id: str) -> None:
        self._add(tenant_id, "markers")
        MARKERS_CREATED.labels(tenant_id).inc()

    # -- storing -------------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._flush_forever(), name="usage-flush")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush()

    async def _flush_forever(self) -> None:
        while True:
            # Every few seconds, and just after each minute's end (see `fold`).
            await asyncio.sleep(min(self._flush_seconds, 60.01 - time.time() % 60))
            try:
                await self.flush()
            except Exception:  # the database may be briefly away: keep counting, retry later
                log.exception("storing usage counts failed; will retry")

    async def flush(self) -> None:
        # One flush at a time: a report's flush must not read the table while the periodic flush
        # still holds counts it took and has not committed yet (the report would miss them).
        async with self._flushing:
            await self._flush()

    async def _flush(self) -> None:
        self.fold()
        counts, self._counts = self._counts, defaultdict(lambda: dict.fromkeys(METRICS, 0))
        if not counts:
            return
        rows = [{"tenant_id": tenant, "minute": minute, **values} for (tenant, minute), values in counts.items()]
        try:
            async with self._engine.execution_options(**WRITE).begin() as conn:
                dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
                statement = dialect.insert(usage)
                statement = statement.on_conflict_do_update(
                    index_elements=["tenant_id", "minute"],
                    set_={metric: getattr(usage.c, metric) + getattr(statement.excluded, metric) for metric in METRICS},
                )
                await conn.execute(statement, rows)
        except BaseException:  # failed or cancelled (a stop mid-flush): nothing may be lost
            for row in rows:  # put them back: they are added next time
                for metric in METRICS:
                    self._counts[(row["tenant_id"], row["minute"])][metric] += row[metric]
            raise

    # -- reading -------------------------------------------------------------------------------

    async def report(self, tenant_id: str, minutes: int) -> dict[str, Any]:
        """Totals, the per-minute series and the busiest images of the last `minutes` minutes."""
        await self.flush()  # include what this node counted since its last flush
        now = time.time()
        start = minute_of(now - (minutes - 1) * 60)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(
                select(usage).where(and_(usage.c.tenant_id == tenant_id, usage.c.minute >= start)).order_by(usage.c.minute)
            )).mappings().all()
            busiest = (await conn.execute(
                select(images.c.url_id, func.count().label("events"))
                .join(events, events.c.image_id == images.c.id)
                .where(and_(images.c.tenant_id == tenant_id, events.c.created_at >= start))
                .group_by(images.c.url_id).order_by(func.count().desc(), images.c.url_id).limit(10)
            )).all()
        series = [{"minute": row["minute"], **{PUBLIC_NAMES[m]: row[m] for m in METRICS}} for row in rows]
        totals = {PUBLIC_NAMES[m]: sum(row[m] for row in rows) for m in METRICS}
        return {
            # The period is [from, to): from the first minute's start to the current minute's end.
            "from": start, "to": minute_of(now) + 60_000, "bucketSeconds": 60, "totals": totals, "series": series,
            "busiestImages": [{"urlId": url_id, "events": count} for url_id, count in busiest],
        }


# Frames and bytes sent per tenant by this process, as folded from the tallies (Prometheus counts
# are per process), and the Usage objects whose tallies a scrape folds first.
_SENT: dict[str, list[int]] = {}
_COUNTING: weakref.WeakSet[Usage] = weakref.WeakSet()


class _SentCollector(Collector):
    """imagechat_pubsub_messages_total and imagechat_pubsub_bytes_total, exact at each scrape:
    the tallies are folded first."""

    def describe(self) -> Iterator[Metric]:
        return iter(self._families())

    def collect(self) -> Iterator[Metric]:
        for counting in list(_COUNTING):
            counting.fold()
        frames, sent = self._families()
        for tenant_id, (frame_count, byte_count) in _SENT.items():
            frames.add_metric([tenant_id], frame_count)
            sent.add_metric([tenant_id], byte_count)
        yield frames
        yield sent

    @staticmethod
    def _families() -> tuple[CounterMetricFamily, CounterMetricFamily]:
        return (CounterMetricFamily("imagechat_pubsub_messages", "WebSocket frames sent to viewers", labels=["tenant"]),
                CounterMetricFamily("imagechat_pubsub_bytes", "Bytes of WebSocket frames sent to viewers", labels=["tenant"]))


REGISTRY.register(_SentCollector())
