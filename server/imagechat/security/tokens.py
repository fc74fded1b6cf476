"""Who is acting: session tokens that the server signs, for anonymous and signed-on users.

A token binds a tenant, an author id, a display name and roles, with an expiry, under the
server's key (HMAC-SHA256; the key lives in the database so that every node shares it). It also
names the tenant's current API secret by a short digest: rotating the secret (or deleting and
re-creating the tenant) revokes every session of the tenant. The widget keeps the token in
localStorage and sends it as `Authorization: Bearer ...`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass, field

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from imagechat import protocol
from imagechat.errors import ApiError
from imagechat.security.tenants import Tenant
from imagechat.storage.database import WRITE
from imagechat.storage.schema import server_keys
from imagechat.storage.store import Author

SESSION_SECONDS = 30 * 24 * 3600


@dataclass(frozen=True)
class Identity:
    id: str
    name: str
    roles: tuple[str, ...] = field(default_factory=tuple)

    @property
    def can_moderate(self) -> bool:
        return protocol.can_moderate(self.roles)

    def author(self) -> Author:
        """This identity as storage records it."""
        return Author(self.id, self.name, self.can_moderate)


def unauthorized(code: str, message: str) -> ApiError:
    return ApiError(401, code, message)


class TokenSigner:
    """Issues and verifies session tokens under the server's key."""

    def __init__(self, key: bytes, lifetime_seconds: int = SESSION_SECONDS) -> None:
        self._key = key
        self._lifetime = lifetime_seconds

    def issue(self, tenant: Tenant, identity: Identity) -> tuple[str, int]:
        """A token for `identity` on `tenant`, and when it expires (unix seconds)."""
        expires = int(time.time()) + self._lifetime
        claims = {"t": tenant.id, "g": _generation(tenant), "a": identity.id, "n": identity.name,
                  "r": list(identity.roles), "e": expires}
        body = base64.urlsafe_b64encode(json.dumps(claims, separators=(",", ":")).encode()).rstrip(b"=").decode()
        return f"v1.{body}.{self._sign(body)}", expires

    def verify(self, token: str, tenant: Tenant) -> Identity:
        if not token.isascii():
            raise unauthorized(protocol.INVALID_TOKEN, "the session token is not one this server signed")
        version, _, rest = token.partition(".")
        body, _, signature = rest.partition(".")
        if version != "v1" or not body or not hmac.compare_digest(self._sign(body), signature):
            raise unauthorized(protocol.INVALID_TOKEN, "the session token is not one this server signed")
        try:
            claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        except (ValueError, binascii.Error):
            raise unauthorized(protocol.INVALID_TOKEN, "the session token is malformed") from None
        if claims.get("t") != tenant.id:
            raise unauthorized(protocol.WRONG_TENANT, "the session token belongs to another tenant")
        if claims.get("g") != _generation(tenant):
            raise unauthorized(protocol.EXPIRED_TOKEN, "the tenant's secret changed since this session began: sign in again")
        if claims.get("e", 0) < time.time():
            raise unauthorized(protocol.EXPIRED_TOKEN, "the session token has expired: sign in again")
        return Identity(id=claims["a"], name=claims["n"], roles=tuple(claims.get("r", ())))

    def _sign(self, body: str) -> str:
        digest = hmac.new(self._key, body.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


async def signing_key(engine: AsyncEngine, configured: str | None) -> bytes:
    """The configured key, or else the one stored in the database (made on first start)."""
    if configured:
        return configured.encode()
    async with engine.execution_options(**WRITE).begin() as conn:
        stored = (await conn.execute(select(server_keys.c.value).where(server_keys.c.name == "session"))).scalar()
        if stored is None:
            stored = secrets.token_urlsafe(48)
            try:
                async with conn.begin_nested():
                    await conn.execute(insert(server_keys).values(name="session", value=stored))
            except IntegrityError:  # another node made it first
                stored = (await conn.execute(
                    select(server_keys.c.value).where(server_keys.c.name == "session"))).scalar_one()
    return stored.encode()


def bearer_token(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized("missing_token", "sign in first: send Authorization: Bearer <session token>")
    return token.strip()


def _generation(tenant: Tenant) -> str:
    return hashlib.sha256(tenant.secret.encode()).hexdigest()[:12]
