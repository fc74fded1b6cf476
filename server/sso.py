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
import time
from typing import Any

MAX_AGE_SECONDS = 600  # a payload older than this is refused: sign one per page view
ROLES = ("admin", "moderator")


class SsoError(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


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


def verify_sso(sso: str, secret: str, *, max_age: float = MAX_AGE_SECONDS, now: float | None = None) -> dict[str, Any]:
    """The user document of a payload signed with `secret` and fresh enough; SsoError otherwise."""
    payload, _, signature = sso.partition(".")
    if not payload or not signature or not secret or not sso.isascii():
        raise SsoError("invalid_sso", "the sign-on payload is not in the payload.signature form")
    if not hmac.compare_digest(_signature(secret, payload), signature):
        raise SsoError("invalid_sso", "the sign-on payload's signature does not match this tenant's secret")
    try:
        document = json.loads(_b64decode(payload))
    except (ValueError, binascii.Error):
        raise SsoError("invalid_sso", "the sign-on payload is not base64url JSON") from None
    if not isinstance(document, dict) or not isinstance(document.get("ts"), (int, float)):
        raise SsoError("invalid_sso", 'the sign-on payload needs "id", "name" and "ts"')
    age = (time.time() if now is None else now) - document["ts"]
    if age > max_age:
        raise SsoError("expired_sso", f"the sign-on payload is {int(age)} s old (at most {max_age:g} s)")
    if age < -60:
        raise SsoError("invalid_sso", "the sign-on payload is dated in the future")
    return document


def _signature(secret: str, payload: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
