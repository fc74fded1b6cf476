"""The wire format: event types and their JSON shapes, shared by REST responses and live events."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

NEW_IMAGE_CHAT = "new-image-chat"
IMAGE_CHAT_UPDATED = "image-chat-updated"
DELETED_IMAGE_CHAT = "deleted-image-chat"

# `change` values of an `image-chat-updated` event.
COMMENT_ADDED = "comment-added"
COMMENT_EDITED = "comment-edited"
COMMENT_DELETED = "comment-deleted"


def dumps(value: Any) -> str:
    """Compact JSON: no whitespace, UTF-8 text kept as is."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def comment_json(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "author": {"id": row["author_id"], "name": row["author_name"]},
        "text": row["text"],
        "createdAt": row["created_at"],
        "updatedAt": row["updated_at"],
    }


def marker_json(row: Mapping[str, Any], comments: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "x": row["x"],
        "y": row["y"],
        "author": {"id": row["author_id"], "name": row["author_name"]},
        "createdAt": row["created_at"],
        "comments": comments,
    }


def snapshot_marker_json(row: Mapping[str, Any], first_comment: dict[str, Any], comment_count: int) -> dict[str, Any]:
    """A marker as a snapshot carries it: only its thread's first comment, and how many it holds
    (the rest is read page by page), so that a snapshot's size is bounded by the marker cap."""
    return {**marker_json(row, [first_comment]), "commentCount": comment_count}


def event(kind: str, seq: int, broadcast_id: str | None, **data: Any) -> dict[str, Any]:
    return {"type": kind, "seq": seq, "broadcastId": broadcast_id, **data}
