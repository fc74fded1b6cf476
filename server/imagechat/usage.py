"""Usage per tenant: what live sync costs each site.

Counted in memory per minute, added to the database every few seconds (and at shutdown) with an
upsert that adds, so that counts survive restarts and add up over every node. The same counts
feed Prometheus counters for operators (`/metrics`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from typing import Any

from prometheus_client import Counter, Gauge
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

FRAMES_SENT = Counter("imagechat_pubsub_messages", "WebSocket frames sent to viewers", ["tenant"])
BYTES_SENT = Counter("imagechat_pubsub_bytes", "Bytes of WebSocket frames sent to viewers", ["tenant"])
CONNECTIONS_OPENED = Counter("imagechat_connections_opened", "Live connections opened", ["tenant"])
CONNECTIONS_OPEN = Gauge("imagechat_connections_open", "Live connections open now", ["tenant"])
MARKERS_CREATED = Counter("imagechat_markers_created", "Markers created", ["tenant"])


def minute_of(stamp_seconds: float) -> int:
    return int(stamp_seconds // 60) * 60_000


class Usage:
    def __init__(self, engine: AsyncEngine, flush_seconds: float = 5.0) -> None:
        self._engine = engine
        self._flush_seconds = flush_seconds
        self._counts: dict[tuple[str, int], dict[str, int]] = defaultdict(lambda: dict.fromkeys(METRICS, 0))
        self._task: asyncio.Task[None] | None = None

    # -- counting (hot path: dictionary adds only) ---------------------------------------------

    def _add(self, tenant_id: str, metric: str, amount: int = 1) -> None:
        self._counts[(tenant_id, minute_of(time.time()))][metric] += amount

    def frame_sent(self, tenant_id: str, size: int) -> None:
        self._add(tenant_id, "messages")
        self._add(tenant_id, "bytes", size)
        FRAMES_SENT.labels(tenant_id).inc()
        BYTES_SENT.labels(tenant_id).inc(size)

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
            await asyncio.sleep(self._flush_seconds)
            try:
                await self.flush()
            except Exception:  # the database may be briefly away: keep counting, retry later
                log.exception("storing usage counts failed; will retry")

    async def flush(self) -> None:
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
