"""Single sign-on payloads: a site's backend vouches for its signed-in user.

The site signs a small JSON document with its tenant's API secret (HMAC-SHA256) and puts the
result in the page (`<img ... data-sso="...">`); the widget hands it to the ImageChat server,
which checks the signature and the age before it trusts the user. Sites in Python call
`sign_sso`; the format is simple enough to produce in any language:

    payload   = base64url(JSON {"id", "name", "avatar"?, "roles"?, "ts": unix seconds}), no padding
    signature = hex(HMAC-SHA256(key = API secret, message = payload))
    sso       = payload + "." + signature
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import time
from dataclasses import dataclass
from typing import Any, NoReturn

from imagechat import protocol
from imagechat.errors import invalid
from imagechat.security.validation import clean_name

MAX_AGE_SECONDS = 600  # a payload older than this is refused: sign one per page view
MAX_USER_ID_CHARS = 48
MAX_AVATAR_CHARS = 2048


class SsoError(ValueError):
    """401 when the payload cannot be trusted (signature, age); 400 when a signed one is malformed."""

    def __init__(self, code: str, message: str, status: int = 401) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


@dataclass(frozen=True)
class SsoUser:
    id: str
    name: str
    roles: tuple[str, ...]
    avatar: str | None


def sign_sso(secret: str, user_id: str, name: str, *, avatar: str | None = None,
             roles: tuple[str, ...] | list[str] = (), timestamp: float | None = None) -> str:
    """The `data-sso` value for a signed-in user of your site."""
    document: dict[str, Any] = {"id": str(user_id), "name": name, "ts": int(time.time() if timestamp is None else timestamp)}
    if avatar:
        document["avatar"] = avatar
    if roles:
        document["roles"] = list(roles)
    payload = _b64encode(json.dumps(document, separators=(",", ":")).encode())
    return f"{payload}.{_signature(secret, payload)}"


def verify_sso(sso: str, secret: str, *, max_age: float = MAX_AGE_SECONDS, now: float | None = None) -> SsoUser:
    """The user of a payload signed with `secret` and fresh enough; SsoError (or, for a signed
    payload with a bad field, a 400 `invalid_field` ApiError) otherwise."""
    payload, _, signature = sso.partition(".")
    if not payload or not signature or not secret or not sso.isascii():
        raise SsoError(protocol.INVALID_SSO, "the sign-on payload is not in the payload.signature form")
    if not hmac.compare_digest(_signature(secret, payload), signature):
        raise SsoError(protocol.INVALID_SSO, "the sign-on payload's signature does not match this tenant's secret")
    try:
        document = json.loads(_b64decode(payload), parse_constant=_refuse_constant)
    except (ValueError, binascii.Error, RecursionError):
        raise SsoError(protocol.INVALID_SSO, "the sign-on payload is not base64url JSON", status=400) from None
    if not isinstance(document, dict):
        raise SsoError(protocol.INVALID_SSO, 'the sign-on payload must be a JSON object with "id", "name" and "ts"', 400)
    age = (time.time() if now is None else now) - _timestamp(document.get("ts"))
    if age > max_age:
        raise SsoError(protocol.EXPIRED_SSO, f"the sign-on payload is {int(age)} s old (at most {max_age:g} s)")
    if age < -60:
        raise SsoError(protocol.INVALID_SSO, "the sign-on payload is dated in the future")
    return SsoUser(id=_user_id(document.get("id")), name=clean_name(document.get("name"), "sso.name"),
                   roles=_roles(document.get("roles", [])), avatar=_avatar(document.get("avatar")))


def _refuse_constant(constant: str) -> NoReturn:
    raise ValueError(f"{constant} is not JSON")


def _timestamp(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise invalid("sso.ts", "must be a number: unix seconds")
    try:
        seconds = float(value)
    except OverflowError:  # an integer of hundreds of digits
        seconds = math.inf
    if not math.isfinite(seconds):
        raise invalid("sso.ts", "must be a finite number: unix seconds")
    return seconds


def _user_id(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_USER_ID_CHARS:
        raise invalid("sso.id", f"must be a string of 1 to {MAX_USER_ID_CHARS} characters")
    if not value.isprintable():  # refuses control and format characters, lone surrogates, unassigned
        raise invalid("sso.id", "must be printable text: no control characters, valid Unicode")
    return value


def _roles(value: Any) -> tuple[str, ...]:
    """The known roles among those listed; others are ignored (a site may have more)."""
    if not isinstance(value, list) or not all(isinstance(role, str) for role in value):
        raise invalid("sso.roles", "must be a list of strings")
    return tuple(role for role in protocol.ROLES if role in value)


def _avatar(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_AVATAR_CHARS or not value.isprintable():
        raise invalid("sso.avatar", f"must be a URL string of at most {MAX_AVATAR_CHARS} printable characters")
    return value


def _signature(secret: str, payload: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
