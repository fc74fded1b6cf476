"""The webhooks of each tenant, as the CLI manages them: add, list, remove, and a signed test POST."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
from sqlalchemy import delete, func, insert, literal, select
from sqlalchemy.ext.asyncio import AsyncEngine

from imagechat.errors import not_found
from imagechat.storage.database import WRITE
from imagechat.storage.schema import images, tenants, webhook_cursors as cursors, webhooks
from imagechat.storage.store import now_ms
from imagechat.webhooks.delivery import event_body
from imagechat.webhooks.signing import signed_headers

MAX_WEBHOOKS_PER_TENANT = 10
MAX_URL_CHARS = 2000
TEST_EVENT = {"type": "webhook-test"}  # what `webhook test` sends as the event
TEST_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Webhook:
    id: str
    tenant_id: str
    url: str
    given_up: int = 0  # events dropped after a day of failures
    last_error: str | None = None  # the latest failure of any of its images, if one is pending


def clean_url(url: str) -> str:
    """An absolute http(s) URL with a host; anything else is refused with the reason."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http:// or https:// URL with a host: {url!r}")
    if len(url) > MAX_URL_CHARS:
        raise ValueError(f"URL longer than {MAX_URL_CHARS} characters")
    return url


async def add(engine: AsyncEngine, tenant_id: str, url: str) -> Webhook:
    """A new webhook receives the events committed from now on (not the history before it)."""
    url = clean_url(url)
    webhook = Webhook(secrets.token_urlsafe(8), tenant_id, url)
    async with engine.execution_options(**WRITE).begin() as conn:
        if (await conn.execute(select(tenants.c.id).where(tenants.c.id == tenant_id))).first() is None:
            raise not_found("tenant", tenant_id)
        count = (await conn.execute(select(func.count()).where(webhooks.c.tenant_id == tenant_id))).scalar_one()
        if count >= MAX_WEBHOOKS_PER_TENANT:
            raise ValueError(f"tenant {tenant_id!r} already has {count} webhooks (at most {MAX_WEBHOOKS_PER_TENANT})")
        await conn.execute(insert(webhooks).values(id=webhook.id, tenant_id=tenant_id, url=url,
                                                   created_at=now_ms()))
        # Existing images start at their current event.
        await conn.execute(insert(cursors).from_select(
            ["webhook_id", "image_id", "delivered_seq"],
            select(literal(webhook.id), images.c.id, images.c.seq)
            .where(images.c.tenant_id == tenant_id)))
    return webhook


async def listing(engine: AsyncEngine, tenant_id: str | None = None) -> list[Webhook]:
    last_error = (select(cursors.c.last_error).where(cursors.c.webhook_id == webhooks.c.id,
                                                     cursors.c.attempts > 0).limit(1).scalar_subquery())
    given_up = (select(func.coalesce(func.sum(cursors.c.given_up), 0))
                .where(cursors.c.webhook_id == webhooks.c.id).scalar_subquery())
    query = select(webhooks.c.id, webhooks.c.tenant_id, webhooks.c.url, given_up, last_error)
    if tenant_id is not None:
        query = query.where(webhooks.c.tenant_id == tenant_id)
    async with engine.connect() as conn:
        rows = (await conn.execute(query.order_by(webhooks.c.tenant_id, webhooks.c.created_at))).all()
    return [Webhook(*row) for row in rows]


async def remove(engine: AsyncEngine, webhook_id: str) -> None:
    async with engine.execution_options(**WRITE).begin() as conn:
        await conn.execute(delete(cursors).where(cursors.c.webhook_id == webhook_id))
        if (await conn.execute(delete(webhooks).where(webhooks.c.id == webhook_id))).rowcount == 0:
            raise not_found("webhook", webhook_id)


async def send_test(engine: AsyncEngine, webhook_id: str) -> tuple[bool, str]:
    """POST a signed test event: whether it was accepted (2xx), and the answer's status or why none came."""
    async with engine.connect() as conn:
        row = (await conn.execute(
            select(webhooks.c.url, webhooks.c.tenant_id, tenants.c.secret)
            .join(tenants, tenants.c.id == webhooks.c.tenant_id).where(webhooks.c.id == webhook_id)
        )).first()
    if row is None:
        raise not_found("webhook", webhook_id)
    url, tenant_id, secret = row
    delivery_id = f"test.{secrets.token_urlsafe(8)}"
    body = event_body(delivery_id, webhook_id, tenant_id, None, TEST_EVENT)
    try:
        async with httpx.AsyncClient(timeout=TEST_TIMEOUT_SECONDS, follow_redirects=False) as client:
            async with client.stream("POST", url, content=body,
                                     headers=signed_headers(secret, delivery_id, body)) as answer:
                return 200 <= answer.status_code < 300, f"HTTP {answer.status_code}"
    except httpx.HTTPError as error:
        return False, f"no answer: {type(error).__name__}: {error}"
