"""How a webhook POST is signed, and how a receiver checks it (the README shows the same check).

The signature is HMAC-SHA256, keyed with the tenant's secret, over `<timestamp>.<body>`: the
timestamp (Unix seconds, also sent in its own header) is signed with the body, so a receiver that
refuses old timestamps cannot be fed a replayed POST."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

ID_HEADER = "ImageChat-Webhook-Id"  # stable per event and URL: the same on every retry
TIMESTAMP_HEADER = "ImageChat-Timestamp"
SIGNATURE_HEADER = "ImageChat-Signature"
VERSION = "v1"
TOLERANCE_SECONDS = 300  # a receiver's window for the timestamp


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """`v1=<hex>`: the value of the signature header."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"{VERSION}={digest}"


def signed_headers(secret: str, delivery_id: str, body: bytes, now: float | None = None) -> dict[str, str]:
    timestamp = int(time.time() if now is None else now)
    return {
        "Content-Type": "application/json",
        ID_HEADER: delivery_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(secret, timestamp, body),
    }


def verify(secret: str, headers: Mapping[str, str], body: bytes, now: float | None = None,
           tolerance: float = TOLERANCE_SECONDS) -> bool:
    """What a receiver does: the signature matches and the timestamp is recent."""
    try:
        timestamp = int(headers[TIMESTAMP_HEADER])
        given = headers[SIGNATURE_HEADER]
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    return hmac.compare_digest(given, signature(secret, timestamp, body))
