"""Delivers every event of a tenant's images to its webhooks: at least once, in order per image,
retried with backoff for a day.

The outbox is the events table itself: each change commits its event there in its own
transaction, and events are kept. A cursor row per webhook and image says how far delivery got;
an event is sent only once the previous one of its image was accepted (2xx), and the cursor moves
on only after that answer, so a server that stops at any point sends the event again when it
starts (same `ImageChat-Webhook-Id`: receivers drop repeats by it). Several nodes share the work:
a node leases a cursor row before sending (an atomic UPDATE), so no event goes out twice at once.

A node wakes at once after its own commits (`wake`, from the REST handlers) and otherwise looks
for due work every second (other nodes' commits, retries that came due)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from dataclasses import dataclass

import httpx
from sqlalchemy import and_, func, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from imagechat.config import Settings
from imagechat.storage.database import WRITE
from imagechat.storage.schema import events, images, tenants, webhook_cursors as cursors, webhooks
from imagechat.storage.store import now_ms
from imagechat.webhooks.signing import signed_headers

log = logging.getLogger("imagechat.webhooks")
POLL_SECONDS = 1.0  # looks for due deliveries this often besides the wake-ups
MAX_CONCURRENT = 8  # images being delivered at once by one node
EVENTS_PER_READ = 20  # events read from the log at a time, for one image
BACKOFF_CAP_SECONDS = 3600.0  # retries of one event are at most this far apart
ERROR_CHARS = 300  # of a failure's description kept in the cursor

Key = tuple[str, int]  # (webhook id, image id)


def backoff_seconds(attempts: int, base: float) -> float:
    """Exponential, capped, jittered (50-100 %): receivers coming back are not hit all at once."""
    return min(BACKOFF_CAP_SECONDS, base * 2 ** (attempts - 1)) * random.uniform(0.5, 1.0)


def event_body(delivery_id: str, webhook_id: str, tenant_id: str, url_id: str | None, event: object) -> bytes:
    """What a webhook receives: the event as on the wire, and where it happened."""
    body = {"id": delivery_id, "webhook": webhook_id, "tenant": tenant_id, "urlId": url_id, "event": event}
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


async def post(client: httpx.AsyncClient, url: str, body: bytes, headers: dict[str, str],
               timeout: float) -> str | None:
    """None when the receiver accepted it (2xx), else what went wrong. The answer's body is not
    read; the whole exchange is bounded (httpx's timeouts bound each read, not their sum)."""
    try:
        async with asyncio.timeout(timeout), client.stream("POST", url, content=body, headers=headers) as response:
            status = response.status_code
    except httpx.HTTPError as error:
        return f"{type(error).__name__}: {error}"[:ERROR_CHARS]
    except TimeoutError:
        return f"no answer within {timeout} s"
    return None if 200 <= status < 300 else f"HTTP {status}"


@dataclass
class Claim:
    """A leased cursor, with what sending needs."""

    url: str
    tenant_id: str
    secret: str
    url_id: str
    delivered_seq: int
    attempts: int
    failing_since: int | None


class Deliverer:
    def __init__(self, engine: AsyncEngine, settings: Settings) -> None:
        self._engine = engine
        self._writer = engine.execution_options(**WRITE)
        self._timeout = settings.webhook_timeout_seconds
        self._retry_base = settings.webhook_retry_base_seconds
        self._retry_for_ms = int(settings.webhook_retry_for_seconds * 1000)
        # A lease outlasts one POST and its bookkeeping; it is renewed after each event.
        self._lease_ms = int((3 * settings.webhook_timeout_seconds + 5) * 1000)
        self._client = httpx.AsyncClient(timeout=settings.webhook_timeout_seconds, follow_redirects=False,
                                         limits=httpx.Limits(max_connections=MAX_CONCURRENT))
        self._wake = asyncio.Event()
        # The tenants that have webhooks, as of the last poll: a commit of any other tenant (and
        # every commit on a server with no webhooks) costs a set lookup, not a query.
        self._tenants: set[str] = set()
        self._running: dict[Key, asyncio.Task[None]] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="webhook-delivery")

    def wake(self, tenant_id: str) -> None:
        """An event of this tenant was committed: look for deliveries now, if it has webhooks."""
        if tenant_id in self._tenants:
            self._wake.set()

    async def stop(self) -> None:
        leased = list(self._running)
        tasks = [task for task in (self._task, *self._running.values()) if task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(Exception):  # else the leases run out by themselves
            await self._release(leased)
        await self._client.aclose()

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                self._tenants = await self._tenants_with_webhooks()
                due = await self._due() if self._tenants else []
            except Exception:  # the database may be briefly away: try again at the next poll
                log.exception("looking for webhook deliveries failed")
                due = []
            for key in due:
                if len(self._running) >= MAX_CONCURRENT:
                    break
                if key not in self._running:
                    task = asyncio.create_task(self._deliver(key), name=f"webhook-{key[0]}-{key[1]}")
                    self._running[key] = task
                    task.add_done_callback(lambda task, key=key: self._done(key, task))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)

    def _done(self, key: Key, task: asyncio.Task[None]) -> None:
        self._running.pop(key, None)
        if not task.cancelled() and task.exception() is not None:  # its lease runs out, then it is retried
            log.error("webhook delivery %s failed", key, exc_info=task.exception())
        self._wake.set()  # a slot is free, and the image may have new events

    async def _tenants_with_webhooks(self) -> set[str]:
        async with self._engine.connect() as conn:
            return set((await conn.execute(select(webhooks.c.tenant_id).distinct())).scalars())

    async def _due(self) -> list[Key]:
        """Images with events past their cursor (or none yet), not waiting for a retry, not leased."""
        now = now_ms()
        query = (
            select(webhooks.c.id, images.c.id)
            .select_from(webhooks.join(images, images.c.tenant_id == webhooks.c.tenant_id).outerjoin(
                cursors, and_(cursors.c.webhook_id == webhooks.c.id, cursors.c.image_id == images.c.id)))
            .where(images.c.seq > func.coalesce(cursors.c.delivered_seq, 0),
                   func.coalesce(cursors.c.next_attempt_at, 0) <= now,
                   func.coalesce(cursors.c.lease_until, 0) <= now)
            .limit(4 * MAX_CONCURRENT)
        )
        async with self._engine.connect() as conn:
            return [(webhook_id, image_id) for webhook_id, image_id in (await conn.execute(query)).all()]

    async def _deliver(self, key: Key) -> None:
        claim = await self._claim(key)
        if claim is None:
            return  # another node has it, or it is not due after all
        webhook_id, image_id = key
        while True:
            async with self._engine.connect() as conn:
                batch = (await conn.execute(
                    select(events.c.seq, events.c.payload)
                    .where(events.c.image_id == image_id, events.c.seq > claim.delivered_seq)
                    .order_by(events.c.seq).limit(EVENTS_PER_READ)
                )).all()
            if not batch:
                await self._release([key])
                return
            for seq, payload in batch:
                delivery_id = f"{webhook_id}.{image_id}.{seq}"
                body = event_body(delivery_id, webhook_id, claim.tenant_id, claim.url_id, json.loads(payload))
                error = await post(self._client, claim.url, body, signed_headers(claim.secret, delivery_id, body),
                                   self._timeout)
                if error is None:
                    await self._record(key, delivered_seq=seq, attempts=0, failing_since=None, last_error=None,
                                       lease_until=now_ms() + self._lease_ms)
                    claim.delivered_seq, claim.attempts, claim.failing_since = seq, 0, None
                    continue
                now = now_ms()
                failing_since = claim.failing_since or now
                if now - failing_since >= self._retry_for_ms:  # a day of trying: give this one up
                    log.warning("webhook %s gave up on event %s of image %s after %s attempts: %s",
                                webhook_id, seq, image_id, claim.attempts + 1, error)
                    await self._record(key, delivered_seq=seq, attempts=0, failing_since=None, last_error=error,
                                       given_up=cursors.c.given_up + 1, lease_until=now + self._lease_ms)
                    claim.delivered_seq, claim.attempts, claim.failing_since = seq, 0, None
                    continue
                attempts = claim.attempts + 1
                delay = backoff_seconds(attempts, self._retry_base)
                log.info("webhook %s: event %s of image %s failed (%s), retry %s in %.1f s",
                         webhook_id, seq, image_id, error, attempts, delay)
                await self._record(key, attempts=attempts, failing_since=failing_since, last_error=error,
                                   next_attempt_at=now + int(delay * 1000), lease_until=0)
                return

    async def _claim(self, key: Key) -> Claim | None:
        webhook_id, image_id = key
        now = now_ms()
        async with self._writer.begin() as conn:
            await conn.execute(_insert(conn).values(webhook_id=webhook_id, image_id=image_id, delivered_seq=0)
                               .on_conflict_do_nothing())
            leased = await conn.execute(
                update(cursors)
                .where(cursors.c.webhook_id == webhook_id, cursors.c.image_id == image_id,
                       cursors.c.lease_until <= now, cursors.c.next_attempt_at <= now)
                .values(lease_until=now + self._lease_ms)
            )
            if leased.rowcount != 1:
                return None
            row = (await conn.execute(
                select(webhooks.c.url, webhooks.c.tenant_id, tenants.c.secret, images.c.url_id,
                       cursors.c.delivered_seq, cursors.c.attempts, cursors.c.failing_since)
                .select_from(cursors.join(webhooks, webhooks.c.id == cursors.c.webhook_id)
                             .join(tenants, tenants.c.id == webhooks.c.tenant_id)
                             .join(images, images.c.id == cursors.c.image_id))
                .where(cursors.c.webhook_id == webhook_id, cursors.c.image_id == image_id)
            )).one()
        return Claim(*row)

    async def _record(self, key: Key, **values: object) -> None:
        async with self._writer.begin() as conn:
            await conn.execute(update(cursors).where(cursors.c.webhook_id == key[0], cursors.c.image_id == key[1])
                               .values(**values))

    async def _release(self, keys: list[Key]) -> None:
        if keys:
            async with self._writer.begin() as conn:
                await conn.execute(update(cursors).where(tuple_(cursors.c.webhook_id, cursors.c.image_id).in_(keys))
                                   .values(lease_until=0))


def _insert(conn: AsyncConnection):  # type: ignore[no-untyped-def]
    """INSERT with ON CONFLICT for this connection's database."""
    return (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(cursors)
