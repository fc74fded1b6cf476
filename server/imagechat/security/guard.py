"""The trust boundary: every request passes here before anything is read, stored or broadcast.
Tenant, origin, rate limits, identity and read-only mode are checked in this one place."""

from __future__ import annotations

import hmac
import logging
import secrets
from typing import Any

from starlette.requests import HTTPConnection

from imagechat import protocol
from imagechat.config import Settings
from imagechat.security.cors import let_read
from imagechat.errors import ApiError, invalid
from imagechat.security.ratelimit import RateLimiter
from imagechat.security.sso import SsoError, verify_sso
from imagechat.security.tenants import Tenant, Tenants
from imagechat.security.tokens import Identity, TokenSigner, bearer_token
from imagechat.security.validation import clean_name

log = logging.getLogger("imagechat.guard")


def own_origin(connection: HTTPConnection) -> str:
    """The origin this server is reached at (for the `self` entry of allow-lists)."""
    scheme = {"ws": "http", "wss": "https"}.get(connection.url.scheme, connection.url.scheme)
    return f"{scheme}://{connection.headers.get('host', '')}"


def client_ip(connection: HTTPConnection) -> str:
    return connection.client.host if connection.client else "unknown"


class Guard:
    def __init__(self, tenants: Tenants, tokens: TokenSigner, settings: Settings) -> None:
        self.tenants = tenants
        self.tokens = tokens
        self._ip_limits = RateLimiter(settings.ip_requests_per_minute, burst=max(10, int(settings.ip_requests_per_minute // 4)))
        self._write_limits = RateLimiter(settings.user_changes_per_minute, burst=max(5, int(settings.user_changes_per_minute // 3)))
        self._max_connections = settings.max_connections_per_ip
        self._connections: dict[str, int] = {}

    async def tenant(self, connection: HTTPConnection, *, check_origin: bool, tenant_id: str | None = None) -> Tenant:
        """The tenant the request names (in its path, unless given). A browser's request (it has an
        Origin) must come from one of the tenant's allowed origins; a change must, Origin or not."""
        origin = connection.headers.get("origin")
        if origin is not None:
            # Allowed or refused below, that origin may read the answer: a refusal shows only itself.
            let_read(connection.scope, origin)
        # Per address, before the lookup: invented tenant ids must not buy a query each.
        self._limit(self._ip_limits, client_ip(connection), connection)
        tenant = await self.tenants.require(tenant_id or connection.path_params["tenant"])
        if check_origin or origin is not None:
            self.check_origin(connection, tenant)
        return tenant

    async def preflight(self, connection: HTTPConnection, tenant_id: str) -> str:
        """The origin of a CORS preflight, if the tenant allows it (ApiError otherwise)."""
        await self.tenant(connection, check_origin=True, tenant_id=tenant_id)
        return connection.headers["origin"]

    def check_origin(self, connection: HTTPConnection, tenant: Tenant) -> None:
        origin = connection.headers.get("origin")
        if not tenant.allows_origin(origin, own_origin(connection)):
            self._refused(connection, protocol.ORIGIN_NOT_ALLOWED)
            raise ApiError(403, protocol.ORIGIN_NOT_ALLOWED, f"origin {origin!r} may not use tenant {tenant.id!r}")

    async def writer(self, connection: HTTPConnection) -> tuple[Tenant, Identity]:
        """Who writes (creates, edits, deletes): allowed origin, signed-in user, writable tenant."""
        tenant = await self.tenant(connection, check_origin=True)
        identity = self.identify(connection, tenant)
        if tenant.readonly:
            raise ApiError(403, protocol.READONLY, f"tenant {tenant.id!r} is read-only: viewing only")
        self._limit(self._write_limits, f"{tenant.id}|{identity.id}", connection)
        return tenant, identity

    async def tenant_owner(self, connection: HTTPConnection) -> Tenant:
        """The site's owner: `Authorization: Secret <API secret>`, or a signed-on admin."""
        tenant = await self.tenant(connection, check_origin=False)
        scheme, _, credential = (connection.headers.get("authorization") or "").partition(" ")
        if scheme.lower() == "bearer" and protocol.ADMIN in self.identify(connection, tenant).roles:
            return tenant
        if scheme.lower() != "secret" or not credential:
            raise ApiError(401, "missing_secret", "send Authorization: Secret <the tenant's API secret>")
        if not hmac.compare_digest(credential.strip().encode("utf-8", "surrogatepass"), tenant.secret.encode()):
            self._refused(connection, "invalid_secret")
            raise ApiError(401, "invalid_secret", "the API secret does not match this tenant")
        return tenant

    def identify(self, connection: HTTPConnection, tenant: Tenant, token: str | None = None) -> Identity:
        try:
            if token is None:
                token = bearer_token(connection.headers.get("authorization"))
            return self.tokens.verify(token, tenant)
        except ApiError as error:
            self._refused(connection, error.code)
            raise

    async def sign_in(self, connection: HTTPConnection, tenant: Tenant, body: dict[str, Any]) -> Identity:
        """The identity a new session token is for: a signed-on user of the site, or an
        anonymous one (who keeps their author id when they come back to change their name)."""
        self._limit(self._write_limits, f"{tenant.id}|sign-in|{client_ip(connection)}", connection)
        if "sso" in body:
            if not isinstance(body["sso"], str):
                raise invalid("sso", "must be the signed payload string")
            try:
                user = verify_sso(body["sso"], tenant.secret)
            except SsoError as error:
                self._refused(connection, error.code)
                raise ApiError(error.status, error.code, str(error)) from None
            return Identity(id=f"sso:{user.id}", name=user.name, roles=user.roles)
        name = clean_name(body.get("name"), "name")
        author_id = f"anon-{secrets.token_urlsafe(12)}"
        if connection.headers.get("authorization"):
            try:
                previous = self.tokens.verify(bearer_token(connection.headers.get("authorization")), tenant)
            except ApiError:
                previous = None  # expired or foreign: a new anonymous author
            if previous is not None and previous.id.startswith("anon-"):
                author_id = previous.id
        return Identity(id=author_id, name=name)

    # -- WebSocket connections per address -----------------------------------------------------

    def open_connection(self, connection: HTTPConnection) -> bool:
        ip = client_ip(connection)
        if self._connections.get(ip, 0) >= self._max_connections:
            self._refused(connection, "too_many_connections")
            return False
        self._connections[ip] = self._connections.get(ip, 0) + 1
        return True

    def close_connection(self, connection: HTTPConnection) -> None:
        ip = client_ip(connection)
        self._connections[ip] -= 1
        if not self._connections[ip]:
            del self._connections[ip]

    def _limit(self, limiter: RateLimiter, key: str, connection: HTTPConnection) -> None:
        try:
            limiter.take(key)
        except ApiError:
            self._refused(connection, "rate_limited")
            raise

    @staticmethod
    def _refused(connection: HTTPConnection, reason: str) -> None:
        # Never the token, never any content: who, from where, and why.
        log.warning("refused %s %s from %s (origin %s): %s", connection.scope.get("method", "WS"),
                    connection.url.path, client_ip(connection), connection.headers.get("origin"), reason)
