"""The trust boundary in-process: security/guard.py with real Tenants on a throwaway SQLite file,
a real TokenSigner and hand-made ASGI scopes. No server, no network, no sleeps."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import time
from typing import Any

import pytest
from sqlalchemy import event
from starlette.requests import HTTPConnection, Request

from imagechat import protocol
from imagechat.config import Settings
from imagechat.errors import ApiError
from imagechat.security.cors import READABLE_BY
from imagechat.security.guard import Guard
from imagechat.security.sso import sign_sso
from imagechat.security.tenants import Tenants
from imagechat.security.tokens import Identity, TokenSigner
from imagechat.storage.database import create_engine
from imagechat.storage.schema import metadata
from tests.services import run

SHOP_ORIGIN = "https://shop.example"
HOST = "chat.example:8000"  # the Host this server is reached at: `self` is http://chat.example:8000
KEY = b"test-signing-key"


class World:
    """One SQLite file with two tenants: `shop` (its site and `self`) and read-only `archive`."""

    def __init__(self, tmp_path) -> None:
        self.engine = create_engine(f"sqlite:///{tmp_path / 'guard.db'}")
        self.tenants = Tenants(self.engine)
        self.tokens = TokenSigner(KEY)
        self.shop, self.archive = self.call(self._setup())
        self.queries: list[str] = []  # the tenant lookups sent to the database from here on
        event.listen(self.engine.sync_engine, "before_cursor_execute", self._record)

    def _record(self, _conn, _cursor, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            self.queries.append(statement)

    async def _setup(self):
        async with self.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        shop = await self.tenants.create("Shop", [SHOP_ORIGIN, "self"], tenant_id="shop")
        archive = await self.tenants.create("Archive", [SHOP_ORIGIN], tenant_id="archive", readonly=True)
        return shop, archive

    def call(self, coroutine):
        """Run a coroutine on a loop of its own; pooled connections do not outlive that loop."""
        async def within() -> Any:
            try:
                return await coroutine
            finally:
                await self.engine.dispose()
        return run(within())

    def guard(self, **settings: Any) -> Guard:
        return Guard(self.tenants, self.tokens, Settings(**settings))

    def token(self, tenant, user_id: str = "anon-alice", name: str = "Alice", roles=()) -> str:
        return self.tokens.issue(tenant, Identity(user_id, name, tuple(roles)))[0]


@pytest.fixture
def world(tmp_path) -> World:
    world = World(tmp_path)
    yield world
    run(world.engine.dispose())


def request(tenant: str = "shop", *, method: str = "GET", origin: str | None = None,
            authorization: str | None = None, ip: str = "1.2.3.4", scheme: str = "http") -> HTTPConnection:
    headers = [(b"host", HOST.encode())]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    if authorization is not None:
        headers.append((b"authorization", authorization.encode()))
    path = f"/api/v1/tenants/{tenant}/" + ("live" if scheme.startswith("ws") else "images")
    scope = {
        "type": "websocket" if scheme.startswith("ws") else "http", "method": method, "path": path,
        "raw_path": path.encode(), "query_string": b"", "root_path": "", "headers": headers,
        "client": (ip, 1234), "server": ("chat.example", 8000), "scheme": scheme,
        "path_params": {"tenant": tenant},
    }
    return HTTPConnection(scope) if scope["type"] == "websocket" else Request(scope)


def refusal(world: World, coroutine) -> ApiError:
    with pytest.raises(ApiError) as raised:
        world.call(coroutine)
    return raised.value


def b64(document: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(document).encode()).rstrip(b"=").decode()


def signed(secret: str, payload: str) -> str:
    return f"{payload}.{hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()}"


# -- tenant lookup -----------------------------------------------------------------------------


def test_tenant_named_in_the_path_is_found(world):
    tenant = world.call(world.guard().tenant(request("shop"), check_origin=False))
    assert (tenant.id, tenant.name, tenant.readonly) == ("shop", "Shop", False)
    assert len(world.queries) == 1


@pytest.mark.parametrize("bad_id", ["Shop", "../shop", "-shop", "shop_1", "a" * 64, "%", "shop\x00"])
def test_impossible_tenant_id_is_404_without_a_query(world, bad_id):
    error = refusal(world, world.guard().tenant(request(), check_origin=False, tenant_id=bad_id))
    assert (error.status, error.code) == (404, protocol.TENANT_NOT_FOUND)
    assert world.queries == []


def test_unknown_tenant_is_404_after_one_query(world):
    error = refusal(world, world.guard().tenant(request("nowhere"), check_origin=False))
    assert (error.status, error.code) == (404, protocol.TENANT_NOT_FOUND)
    assert len(world.queries) == 1


# -- origins -----------------------------------------------------------------------------------


def test_allowed_origin_passes_and_may_read_the_answer(world):
    connection = request(origin=SHOP_ORIGIN)
    assert world.call(world.guard().tenant(connection, check_origin=False)).id == "shop"
    assert connection.scope[READABLE_BY] == SHOP_ORIGIN


def test_request_without_origin_sets_no_reader(world):
    connection = request()
    world.call(world.guard().tenant(connection, check_origin=False))
    assert READABLE_BY not in connection.scope


def test_self_origin_is_the_host_the_server_is_reached_at(world):
    guard = world.guard()
    assert world.call(guard.tenant(request(origin="http://chat.example:8000"), check_origin=True)).id == "shop"
    for other in ("http://chat.example:9000", "https://chat.example:8000", "http://chat.example"):
        error = refusal(world, guard.tenant(request(origin=other), check_origin=True))
        assert (error.status, error.code) == (403, protocol.ORIGIN_NOT_ALLOWED), other


def test_self_origin_of_a_websocket_is_its_http_origin(world):
    connection = request(origin="http://chat.example:8000", scheme="ws")
    assert world.call(world.guard().tenant(connection, check_origin=True)).id == "shop"


def test_own_origin_is_refused_by_a_tenant_without_self(world):
    error = refusal(world, world.guard().tenant(request("archive", origin="http://chat.example:8000"),
                                                check_origin=False))
    assert (error.status, error.code) == (403, protocol.ORIGIN_NOT_ALLOWED)


@pytest.mark.parametrize("origin", ["https://evil.example", "null", "https://shop.example.evil.example",
                                    "http://shop.example", ""])
def test_foreign_origin_is_refused_even_when_not_asked_to_check(world, origin):
    connection = request(origin=origin)
    error = refusal(world, world.guard().tenant(connection, check_origin=False))
    assert (error.status, error.code) == (403, protocol.ORIGIN_NOT_ALLOWED)
    assert connection.scope[READABLE_BY] == origin  # the refusal shows only itself, to that origin


def test_missing_origin_is_refused_only_when_the_origin_must_be_checked(world):
    guard = world.guard()
    error = refusal(world, guard.tenant(request(), check_origin=True))
    assert (error.status, error.code) == (403, protocol.ORIGIN_NOT_ALLOWED)
    assert world.call(guard.tenant(request(), check_origin=False)).id == "shop"


def test_unknown_tenant_refusal_is_readable_by_the_asking_origin(world):
    connection = request("nowhere", origin="https://evil.example")
    error = refusal(world, world.guard().tenant(connection, check_origin=True))
    assert error.code == protocol.TENANT_NOT_FOUND
    assert connection.scope[READABLE_BY] == "https://evil.example"


def test_preflight_answers_the_allowed_origin_and_refuses_others(world):
    guard = world.guard()
    assert world.call(guard.preflight(request(method="OPTIONS", origin=SHOP_ORIGIN), "shop")) == SHOP_ORIGIN
    error = refusal(world, guard.preflight(request(method="OPTIONS", origin="https://evil.example"), "shop"))
    assert (error.status, error.code) == (403, protocol.ORIGIN_NOT_ALLOWED)


# -- rate limits -------------------------------------------------------------------------------


def test_address_limit_refuses_before_the_tenant_lookup(world):
    guard = world.guard(ip_requests_per_minute=1)  # a burst of 10, then one a minute
    for number in range(10):
        error = refusal(world, guard.tenant(request(f"invented-{number}"), check_origin=False))
        assert error.code == protocol.TENANT_NOT_FOUND
    assert len(world.queries) == 10
    error = refusal(world, guard.tenant(request("invented-10"), check_origin=False))
    assert (error.status, error.code) == (429, protocol.RATE_LIMITED)
    assert int(error.headers["Retry-After"]) > 0
    assert len(world.queries) == 10  # the refused request cost no query
    error = refusal(world, guard.tenant(request("shop"), check_origin=False))
    assert error.code == protocol.RATE_LIMITED  # a real tenant is no way around it


def test_address_limit_is_per_address(world):
    guard = world.guard(ip_requests_per_minute=1)
    for _ in range(10):
        world.call(guard.tenant(request(ip="1.2.3.4"), check_origin=False))
    assert refusal(world, guard.tenant(request(ip="1.2.3.4"), check_origin=False)).code == protocol.RATE_LIMITED
    assert world.call(guard.tenant(request(ip="5.6.7.8"), check_origin=False)).id == "shop"


def test_write_limit_is_per_user(world):
    guard = world.guard(user_changes_per_minute=1)  # a burst of 5
    alice = f"Bearer {world.token(world.shop, 'anon-alice')}"
    for _ in range(5):
        world.call(guard.writer(request(method="POST", origin=SHOP_ORIGIN, authorization=alice)))
    error = refusal(world, guard.writer(request(method="POST", origin=SHOP_ORIGIN, authorization=alice)))
    assert (error.status, error.code) == (429, protocol.RATE_LIMITED)
    bob = f"Bearer {world.token(world.shop, 'anon-bob', 'Bob')}"
    _, identity = world.call(guard.writer(request(method="POST", origin=SHOP_ORIGIN, authorization=bob)))
    assert identity.id == "anon-bob"


def test_sign_ins_from_one_address_are_limited(world):
    guard = world.guard(user_changes_per_minute=1)
    for _ in range(5):
        world.call(guard.sign_in(request(method="POST"), world.shop, {"name": "Ann"}))
    error = refusal(world, guard.sign_in(request(method="POST"), world.shop, {"name": "Ann"}))
    assert (error.status, error.code) == (429, protocol.RATE_LIMITED)
    assert world.call(guard.sign_in(request(method="POST", ip="5.6.7.8"), world.shop, {"name": "Ann"})).name == "Ann"


# -- identity ----------------------------------------------------------------------------------


def test_identify_accepts_a_token_this_server_signed(world):
    token = world.token(world.shop, "sso:7", "Mod", roles=[protocol.MODERATOR])
    identity = world.guard().identify(request(authorization=f"Bearer {token}"), world.shop)
    assert identity == Identity("sso:7", "Mod", (protocol.MODERATOR,))
    assert identity.can_moderate


def test_identify_takes_a_token_passed_directly(world):
    token = world.token(world.shop)
    assert world.guard().identify(request(), world.shop, token).id == "anon-alice"


@pytest.mark.parametrize("authorization", [None, "", "Bearer", "Bearer   ", "Basic abc", "Secret abc"])
def test_identify_without_a_bearer_token_is_401_missing_token(world, authorization):
    with pytest.raises(ApiError) as raised:
        world.guard().identify(request(authorization=authorization), world.shop)
    assert (raised.value.status, raised.value.code) == (401, "missing_token")


def forgeries(world: World) -> list[str]:
    good = world.token(world.shop)
    version, body, signature = good.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    admin_body = b64({**claims, "r": [protocol.ADMIN]})
    return [
        TokenSigner(b"another-key").issue(world.shop, Identity("anon-alice", "Alice"))[0],
        f"{version}.{admin_body}.{signature}",  # claims changed, signature kept
        f"{version}.{body}.{signature[:-2]}AA",
        f"v2.{body}.{signature}",
        f"{version}.{body}",
        "garbage",
        f"{version}.{body}.{signature}\u00e9",
    ]


def test_identify_refuses_forged_tokens_with_401_invalid_token(world):
    guard = world.guard()
    for forged in forgeries(world):
        with pytest.raises(ApiError) as raised:
            guard.identify(request(), world.shop, forged)
        assert (raised.value.status, raised.value.code) == (401, protocol.INVALID_TOKEN), forged


def test_identify_refuses_an_expired_token(world):
    expired, _ = TokenSigner(KEY, lifetime_seconds=-1).issue(world.shop, Identity("anon-alice", "Alice"))
    with pytest.raises(ApiError) as raised:
        world.guard().identify(request(authorization=f"Bearer {expired}"), world.shop)
    assert (raised.value.status, raised.value.code) == (401, protocol.EXPIRED_TOKEN)


def test_identify_refuses_another_tenants_token(world):
    with pytest.raises(ApiError) as raised:
        world.guard().identify(request(), world.shop, world.token(world.archive))
    assert (raised.value.status, raised.value.code) == (401, protocol.WRONG_TENANT)


def test_rotating_the_secret_ends_every_session(world):
    token = world.token(world.shop)
    rotated = dataclasses.replace(world.shop, secret="a-new-secret")
    with pytest.raises(ApiError) as raised:
        world.guard().identify(request(), rotated, token)
    assert (raised.value.status, raised.value.code) == (401, protocol.EXPIRED_TOKEN)


# -- writers -----------------------------------------------------------------------------------


def test_writer_is_the_tenant_and_the_signed_in_user(world):
    authorization = f"Bearer {world.token(world.shop, 'anon-alice')}"
    tenant, identity = world.call(world.guard().writer(request(method="POST", origin=SHOP_ORIGIN,
                                                               authorization=authorization)))
    assert (tenant.id, identity.id, identity.name) == ("shop", "anon-alice", "Alice")


def test_writer_must_send_an_allowed_origin_even_without_a_browser(world):
    authorization = f"Bearer {world.token(world.shop)}"
    for origin in (None, "https://evil.example"):
        error = refusal(world, world.guard().writer(request(method="POST", origin=origin, authorization=authorization)))
        assert (error.status, error.code) == (403, protocol.ORIGIN_NOT_ALLOWED), origin


def test_writer_must_be_signed_in(world):
    error = refusal(world, world.guard().writer(request(method="POST", origin=SHOP_ORIGIN)))
    assert (error.status, error.code) == (401, "missing_token")


def test_read_only_tenant_refuses_writes_but_not_reads(world):
    guard = world.guard()
    authorization = f"Bearer {world.token(world.archive)}"
    error = refusal(world, guard.writer(request("archive", method="POST", origin=SHOP_ORIGIN,
                                                authorization=authorization)))
    assert (error.status, error.code) == (403, protocol.READONLY)
    assert world.call(guard.tenant(request("archive", origin=SHOP_ORIGIN), check_origin=True)).readonly


# -- sign-in -----------------------------------------------------------------------------------


def test_anonymous_sign_in_gets_a_fresh_author_id_and_a_clean_name(world):
    guard = world.guard()
    first = world.call(guard.sign_in(request(method="POST"), world.shop, {"name": "  Ann \t  Lee "}))
    second = world.call(guard.sign_in(request(method="POST"), world.shop, {"name": "Ann Lee"}))
    assert first.id.startswith("anon-") and second.id.startswith("anon-") and first.id != second.id
    assert (first.name, first.roles) == ("Ann Lee", ())


@pytest.mark.parametrize("body", [{}, {"name": ""}, {"name": "   "}, {"name": 7}, {"name": "x" * 61}])
def test_anonymous_sign_in_needs_a_name(world, body):
    error = refusal(world, world.guard().sign_in(request(method="POST"), world.shop, body))
    assert (error.status, error.code) == (400, "invalid_field")


def test_anonymous_author_keeps_their_id_when_changing_name(world):
    authorization = f"Bearer {world.token(world.shop, 'anon-keep-me', 'Old')}"
    identity = world.call(world.guard().sign_in(request(method="POST", authorization=authorization),
                                                world.shop, {"name": "New"}))
    assert (identity.id, identity.name) == ("anon-keep-me", "New")


def test_sign_in_never_takes_over_a_non_anonymous_or_foreign_id(world):
    guard = world.guard()
    for token in (world.token(world.shop, "sso:42", "Zoe"), world.token(world.archive, "anon-other"),
                  TokenSigner(KEY, lifetime_seconds=-1).issue(world.shop, Identity("anon-old", "Old"))[0], "junk"):
        identity = world.call(guard.sign_in(request(method="POST", authorization=f"Bearer {token}"),
                                            world.shop, {"name": "Ann"}))
        assert identity.id.startswith("anon-") and identity.id not in ("anon-other", "anon-old"), token


def test_sso_sign_in_is_the_sites_user_with_known_roles_only(world):
    sso = sign_sso(world.shop.secret, "42", "Zoe", roles=["moderator", "ceo"])
    identity = world.call(world.guard().sign_in(request(method="POST"), world.shop, {"sso": sso}))
    assert identity == Identity("sso:42", "Zoe", (protocol.MODERATOR,))


def tampered(sso: str) -> str:
    """The payload with its signature's last hex digit changed (always to another digit)."""
    return sso[:-1] + ("1" if sso.endswith("0") else "0")


def sso_refusals(world: World) -> list[tuple[Any, int, str]]:
    secret = world.shop.secret
    fresh = int(time.time())
    return [
        (sign_sso(world.archive.secret, "42", "Zoe"), 401, protocol.INVALID_SSO),  # another tenant's secret
        (sign_sso(secret, "42", "Zoe", timestamp=time.time() - 3600), 401, protocol.EXPIRED_SSO),
        (sign_sso(secret, "42", "Zoe", timestamp=time.time() + 3600), 401, protocol.INVALID_SSO),
        (tampered(sign_sso(secret, "42", "Zoe")), 401, protocol.INVALID_SSO),
        ("no-signature", 401, protocol.INVALID_SSO),
        ("", 401, protocol.INVALID_SSO),
        (signed(secret, "bm90IGpzb24"), 400, protocol.INVALID_SSO),  # "not json"
        (signed(secret, b64([1, 2])), 400, protocol.INVALID_SSO),
        (signed(secret, b64({"id": "", "name": "Zoe", "ts": fresh})), 400, "invalid_field"),
        (signed(secret, b64({"id": "42", "name": "", "ts": fresh})), 400, "invalid_field"),
        (signed(secret, b64({"id": "42", "name": "Zoe", "ts": "now"})), 400, "invalid_field"),
        (signed(secret, b64({"id": "42", "name": "Zoe", "ts": fresh, "roles": "admin"})), 400, "invalid_field"),
        (42, 400, "invalid_field"),
        (None, 400, "invalid_field"),
    ]


def test_bad_sso_payloads_are_refused(world):
    guard = world.guard(user_changes_per_minute=600)  # a burst of 200: the sign-in limit stays out of this
    for sso, status, code in sso_refusals(world):
        error = refusal(world, guard.sign_in(request(method="POST"), world.shop, {"sso": sso}))
        assert (error.status, error.code) == (status, code), sso


# -- the tenant's owner ------------------------------------------------------------------------


def test_owner_with_the_api_secret_gets_the_tenant(world):
    guard = world.guard()
    for scheme in ("Secret", "secret"):
        tenant = world.call(guard.tenant_owner(request(authorization=f"{scheme} {world.shop.secret}")))
        assert tenant.id == "shop"


@pytest.mark.parametrize("authorization", [None, "Secret", "Secret ", "Basic abc", "Bearer junk-but-not-admin"])
def test_owner_without_a_secret_is_401_missing_secret(world, authorization):
    if authorization == "Bearer junk-but-not-admin":
        authorization = f"Bearer {world.token(world.shop, 'sso:1', 'Mod', roles=[protocol.MODERATOR])}"
    error = refusal(world, world.guard().tenant_owner(request(authorization=authorization)))
    assert (error.status, error.code) == (401, "missing_secret")


def test_owner_with_a_wrong_secret_is_401_invalid_secret(world):
    guard = world.guard()
    for secret in ("wrong", world.archive.secret, world.shop.secret + "x", world.shop.secret[:-1]):
        error = refusal(world, guard.tenant_owner(request(authorization=f"Secret {secret}")))
        assert (error.status, error.code) == (401, "invalid_secret"), secret


def test_signed_on_admin_is_an_owner_but_a_forged_admin_is_not(world):
    guard = world.guard()
    admin = world.token(world.shop, "sso:1", "Boss", roles=[protocol.ADMIN])
    assert world.call(guard.tenant_owner(request(authorization=f"Bearer {admin}"))).id == "shop"
    error = refusal(world, guard.tenant_owner(request(authorization=f"Bearer {forgeries(world)[1]}")))
    assert (error.status, error.code) == (401, protocol.INVALID_TOKEN)


def test_owner_of_an_unknown_tenant_is_404(world):
    error = refusal(world, world.guard().tenant_owner(request("nowhere", authorization=f"Secret {world.shop.secret}")))
    assert (error.status, error.code) == (404, protocol.TENANT_NOT_FOUND)


# -- live connections per address --------------------------------------------------------------


def test_live_connections_are_capped_per_address(world):
    guard = world.guard(max_connections_per_ip=2)
    here = request(scheme="ws")
    assert [guard.open_connection(here) for _ in range(3)] == [True, True, False]
    assert guard.open_connection(request(scheme="ws", ip="5.6.7.8"))


def test_closed_connection_slots_are_reusable(world):
    guard = world.guard(max_connections_per_ip=2)
    here = request(scheme="ws")
    assert guard.open_connection(here) and guard.open_connection(here)
    guard.close_connection(here)
    assert guard.open_connection(here)
    assert not guard.open_connection(here)
    guard.close_connection(here)
    guard.close_connection(here)
    assert [guard.open_connection(here) for _ in range(3)] == [True, True, False]
