"""What storage refuses, in its own terms: no HTTP here. The edges map these once each, to an HTTP
answer (api/errors.py) and to a live error frame (live/endpoint.py). `code` is the error code
clients see."""

from __future__ import annotations


class StorageError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class NotFound(StorageError):
    """No such tenant, marker or comment (or deleted meanwhile): nothing changed."""

    def __init__(self, what: str, key: str) -> None:
        super().__init__(f"{what}_not_found", f"no {what} {key!r}")


class Forbidden(StorageError):
    """The author may not do this to someone else's comment or marker."""

    def __init__(self, message: str) -> None:
        super().__init__("forbidden", message)


class Conflict(StorageError):
    """A client-chosen id the tenant already uses."""

    def __init__(self, what: str, key: str) -> None:
        super().__init__("id_taken", f"a {what} with id {key!r} already exists")


class Full(StorageError):
    """An image or a thread holds the most it may."""

    def __init__(self, what: str, holds: str) -> None:
        super().__init__(f"{what}_full", f"this {what} has {holds}, the most it may have")


class Busy(StorageError):
    """A write kept colliding with concurrent ones: try again shortly."""

    def __init__(self) -> None:
        super().__init__("busy", "this conversation is too busy right now: try again")
