"""Checks on client input. Each failure names the field; nothing is stored before all pass."""

from __future__ import annotations

import math
import re
import unicodedata
from typing import Any

from imagechat import protocol
from imagechat.errors import invalid

_ID = re.compile(r"[A-Za-z0-9_-]{8,%d}" % protocol.MAX_ID_CHARS)
# Control characters other than line breaks and tabs are dropped from text.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069]")


def clean_id(value: Any, field: str) -> str:
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise invalid(field, f"must be 8 to {protocol.MAX_ID_CHARS} characters of A-Z a-z 0-9 _ -")
    return value


def optional_id(body: dict[str, Any], field: str) -> str | None:
    value = body.get(field)
    return None if value is None else clean_id(value, field)


def _unicode(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise invalid(field, "must be a string")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, e.g. "\ud800" in the JSON
        raise invalid(field, "must be valid Unicode text") from None
    return value


def clean_text(value: Any, field: str = "text", max_chars: int = protocol.MAX_COMMENT_CHARS) -> str:
    value = _unicode(value, field)
    text = _CONTROL.sub("", unicodedata.normalize("NFC", value)).replace("\r\n", "\n").strip()
    if not text:
        raise invalid(field, "must not be empty")
    if len(text) > max_chars:
        raise invalid(field, f"must be at most {max_chars} characters (got {len(text)})")
    return text


def clean_name(value: Any, field: str) -> str:
    return " ".join(clean_text(value, field, protocol.MAX_NAME_CHARS).split())


def clean_url_id(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise invalid("urlId", "must be a non-empty string")
    value = _unicode(value, "urlId")
    if len(value) > protocol.MAX_URL_ID_CHARS:
        raise invalid("urlId", f"must be at most {protocol.MAX_URL_ID_CHARS} characters")
    if _CONTROL.search(value) or any(ch in value for ch in "\t\n\r"):
        raise invalid("urlId", "must not contain control characters")
    return value


def clean_flag(value: Any, field: str) -> bool:
    """A JSON true or false (not 0, 1 or a string)."""
    if not isinstance(value, bool):
        raise invalid(field, "must be true or false")
    return value


def clean_fraction(value: Any, field: str) -> float:
    """A position as a fraction of the image's width or height."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise invalid(field, "must be a number")
    if isinstance(value, int) and not 0 <= value <= 1:  # may be too large for a float
        raise invalid(field, "must be between 0 and 1 (a fraction of the image size)")
    if not math.isfinite(value):
        raise invalid(field, "must be a number")
    if not 0 <= value <= 1:
        raise invalid(field, "must be between 0 and 1 (a fraction of the image size)")
    return protocol.round_position(float(value))
