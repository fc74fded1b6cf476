"""Tenants: each site using ImageChat, with the origins allowed to use it and its API secret."""

from __future__ import annotations

import json
import re
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from imagechat.storage.database import WRITE
from imagechat.errors import ApiError, not_found
from imagechat.storage.schema import tenants

SELF = "self"  # in an allow-list: the origin the ImageChat server itself is served from
CACHE_SECONDS = 5.0  # the CLI changes tenants from another process: lookups refresh this often
CACHE_ENTRIES = 10_000  # known and unknown ids; the least recently used go first
_ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?")
_TENANT_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")


@dataclass(frozen=True)
class Tenant:
    id: str
    name: str
    origins: tuple[str, ...]
    secret: str
    readonly: bool

    def allows_origin(self, origin: str | None, own_origin: str) -> bool:
        if not origin:
            return False
        return origin in self.origins or (SELF in self.origins and origin == own_origin)


def clean_origin(origin: str) -> str:
    """`https://site.example[:port]`, or `self`; a trailing slash is forgiven."""
    origin = origin.strip().rstrip("/")
    if origin != SELF and not _ORIGIN.fullmatch(origin):
        raise ValueError(f"not an origin (scheme://host[:port]): {origin!r}")
    return origin


def tenant_id_for(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:63]
    if not _TENANT_ID.fullmatch(slug):
        raise ValueError(f"cannot make a tenant id from {name!r}: pass --id")
    return slug


class Tenants:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._cache: OrderedDict[str, tuple[float, Tenant | None]] = OrderedDict()

    async def get(self, tenant_id: str) -> Tenant | None:
        if not _TENANT_ID.fullmatch(tenant_id):  # no such tenant can exist: no query, no cache entry
            return None
        cached = self._cache.get(tenant_id)
        if cached is not None and time.monotonic() - cached[0] < CACHE_SECONDS:
            self._cache.move_to_end(tenant_id)
            return cached[1]
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(tenants).where(tenants.c.id == tenant_id))).mappings().first()
        tenant = None if row is None else _tenant(row)
        self._cache[tenant_id] = (time.monotonic(), tenant)
        self._cache.move_to_end(tenant_id)
        if len(self._cache) > CACHE_ENTRIES:
            self._cache.popitem(last=False)
        return tenant

    async def require(self, tenant_id: str) -> Tenant:
        tenant = await self.get(tenant_id)
        if tenant is None:
            raise not_found("tenant", tenant_id[:64])
        return tenant

    # -- administration (the `imagechat tenant` commands) ---------------------------------------

    async def create(self, name: str, origins: list[str], tenant_id: str | None = None,
                     readonly: bool = False) -> Tenant:
        tenant = Tenant(
            id=tenant_id or tenant_id_for(name), name=name, origins=tuple(clean_origin(o) for o in origins),
            secret=secrets.token_urlsafe(32), readonly=readonly,
        )
        if not _TENANT_ID.fullmatch(tenant.id):
            raise ValueError("a tenant id is 1 to 63 characters of a-z 0-9 - (not starting with -)")
        async with self._engine.execution_options(**WRITE).begin() as conn:
            if (await conn.execute(select(tenants.c.id).where(tenants.c.id == tenant.id))).first():
                raise ApiError(409, "tenant_exists", f"tenant {tenant.id!r} exists already")
            await conn.execute(insert(tenants).values(
                id=tenant.id, name=name, origins=json.dumps(list(tenant.origins)), secret=tenant.secret,
                readonly=readonly, created_at=int(time.time() * 1000),
            ))
        return tenant

    async def all(self) -> list[Tenant]:
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(tenants).order_by(tenants.c.id))).mappings()
            return [_tenant(row) for row in rows]

    async def update(self, tenant_id: str, *, origins: list[str] | None = None,
                     readonly: bool | None = None, new_secret: bool = False) -> Tenant:
        values: dict[str, object] = {}
        if origins is not None:
            values["origins"] = json.dumps([clean_origin(o) for o in origins])
        if readonly is not None:
            values["readonly"] = readonly
        if new_secret:
            values["secret"] = secrets.token_urlsafe(32)
        async with self._engine.execution_options(**WRITE).begin() as conn:
            result = await conn.execute(update(tenants).where(tenants.c.id == tenant_id).values(**values))
            if result.rowcount == 0:
                raise not_found("tenant", tenant_id)
        self._cache.pop(tenant_id, None)
        return await self.require(tenant_id)

    async def delete(self, tenant_id: str) -> None:
        """Delete a tenant with all its images, markers, comments and events."""
        async with self._engine.execution_options(**WRITE).begin() as conn:
            result = await conn.execute(delete(tenants).where(tenants.c.id == tenant_id))
            if result.rowcount == 0:
                raise not_found("tenant", tenant_id)
        self._cache.pop(tenant_id, None)


def _tenant(row) -> Tenant:  # type: ignore[no-untyped-def]
    return Tenant(
        id=row["id"], name=row["name"], origins=tuple(json.loads(row["origins"])),
        secret=row["secret"], readonly=bool(row["readonly"]),
    )
