"""Who is acting. For now a self-chosen display name and a stable anonymous author id, sent in
headers; signed tokens and single sign-on replace `author_from_request` without touching callers."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

from starlette.requests import HTTPConnection

from imagechat.errors import ApiError
from imagechat.validation import clean_id, clean_name

AUTHOR_ID_HEADER = "X-ImageChat-Author-Id"
AUTHOR_NAME_HEADER = "X-ImageChat-Author-Name"


@dataclass(frozen=True)
class Author:
    id: str
    name: str


def author_from_request(connection: HTTPConnection) -> Author:
    author_id = connection.headers.get(AUTHOR_ID_HEADER)
    if not author_id:
        raise ApiError(401, "missing_identity", f"the {AUTHOR_ID_HEADER} header is required")
    # Header values are Latin-1 on the wire; names travel percent-encoded to allow any script.
    name = unquote(connection.headers.get(AUTHOR_NAME_HEADER, ""))
    return Author(id=clean_id(author_id, AUTHOR_ID_HEADER), name=clean_name(name, AUTHOR_NAME_HEADER))
