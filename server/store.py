"""Reads and changes. Each change and the event that records it commit in one transaction."""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from imagechat import limits, protocol
from imagechat.database import WRITE
from imagechat.errors import ApiError, forbidden, not_found
from imagechat.auth import Identity
from imagechat.schema import comments, events, images, markers, tenants


@dataclass(frozen=True)
class Change:
    """A committed change: the event to publish on `channel`, and the REST response body."""

    channel: str
    seq: int
    event: str
    result: dict[str, Any]


def image_channel(tenant_id: str, url_id: str) -> str:
    return f"image:{tenant_id}:{url_id}"


def now_ms() -> int:
    return int(time.time() * 1000)


def new_id() -> str:
    return secrets.token_urlsafe(12)


class Store:
    def __init__(self, engine: AsyncEngine, max_markers_per_image: int = 500) -> None:
        self._engine = engine
        self._writer = engine.execution_options(**WRITE)
        self._max_markers = max_markers_per_image

    # -- reads ---------------------------------------------------------------------------------

    async def snapshot(self, tenant_id: str, url_id: str) -> dict[str, Any]:
        """The image's markers with their comments, and the `seq` of the last change they include.
        An image nobody has commented on yet is an empty conversation at seq 0."""
        async with self._engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                conn = await conn.execution_options(isolation_level="REPEATABLE READ")
            async with conn.begin():
                await self._require_tenant(conn, tenant_id)
                image = await self._find_image(conn, tenant_id, url_id)
                if image is None:
                    return {"urlId": url_id, "seq": 0, "epoch": None, "markers": []}
                marker_rows = (
                    await conn.execute(
                        select(markers)
                        .where(markers.c.image_id == image["id"])
                        .order_by(markers.c.created_at, markers.c.id)
                    )
                ).mappings()
                comment_rows = (
                    await conn.execute(
                        select(comments)
                        .join(markers, comments.c.marker_id == markers.c.id)
                        .where(markers.c.image_id == image["id"])
                        .order_by(comments.c.created_at, comments.c.id)
                    )
                ).mappings()
                threads: dict[str, list[dict[str, Any]]] = {}
                for row in comment_rows:
                    threads.setdefault(row["marker_id"], []).append(protocol.comment_json(row))
                return {
                    "urlId": url_id,
                    "seq": image["seq"],
                    "epoch": image["epoch"],
                    "markers": [protocol.marker_json(row, threads.get(row["id"], [])) for row in marker_rows],
                }

    async def position(self, tenant_id: str, url_id: str) -> tuple[int, str | None]:
        """The image's current `seq` and `epoch` (0 and None before its first change)."""
        async with self._engine.connect() as conn:
            image = await self._find_image(conn, tenant_id, url_id)
            return (0, None) if image is None else (image["seq"], image["epoch"])

    async def events_after(self, tenant_id: str, url_id: str, since: int, upto: int, limit: int) -> list[str] | None:
        """The logged events after `since` up to `upto`, oldest first, as sent on the wire; None
        when more than `limit` are missing (the client reloads the snapshot instead)."""
        async with self._engine.connect() as conn:
            image = await self._find_image(conn, tenant_id, url_id)
            if image is None:
                return []
            if upto - since > limit:
                return None
            rows = await conn.execute(
                select(events.c.payload)
                .where(and_(events.c.image_id == image["id"], events.c.seq > since, events.c.seq <= upto))
                .order_by(events.c.seq)
            )
            return [payload for (payload,) in rows]

    async def rotate_epochs(self) -> int:
        """New epochs for every image: run after restoring a backup, so that clients that saw
        history the backup lacks reload instead of resuming. Returns the number of images."""
        async with self._writer.begin() as conn:
            ids = [image_id for (image_id,) in await conn.execute(select(images.c.id))]
            for image_id in ids:
                await conn.execute(update(images).where(images.c.id == image_id).values(epoch=uuid.uuid4().hex))
            return len(ids)

    # -- changes -------------------------------------------------------------------------------

    async def create_marker(
        self,
        tenant_id: str,
        url_id: str,
        author: Identity,
        x: float,
        y: float,
        text: str,
        broadcast_id: str | None,
        marker_id: str | None = None,
        comment_id: str | None = None,
    ) -> Change:
        async with self._writer.begin() as conn:
            await self._require_tenant(conn, tenant_id)
            image = await self._get_or_create_image(conn, tenant_id, url_id)
            await self._lock_image(conn, image["id"])
            count = (
                await conn.execute(select(func.count()).select_from(markers).where(markers.c.image_id == image["id"]))
            ).scalar_one()
            if count >= self._max_markers:
                raise ApiError(409, "image_full", f"this image has {count} markers, the most it may have")
            stamp = now_ms()
            marker_row = {
                "id": marker_id or new_id(),
                "image_id": image["id"],
                "x": x,
                "y": y,
                "author_id": author.id,
                "author_name": author.name,
                "created_at": stamp,
                "updated_at": stamp,
            }
            comment_row = self._comment_row(comment_id, marker_row["id"], author, text, stamp)
            await self._insert_new(conn, markers, marker_row, "marker")
            await self._insert_new(conn, comments, comment_row, "comment")
            marker = protocol.marker_json(marker_row, [protocol.comment_json(comment_row)])
            return await self._record(
                conn, tenant_id, image, protocol.NEW_IMAGE_CHAT, broadcast_id, {"marker": marker}
            )

    async def add_comment(
        self,
        tenant_id: str,
        marker_id: str,
        author: Identity,
        text: str,
        broadcast_id: str | None,
        comment_id: str | None = None,
    ) -> Change:
        async with self._writer.begin() as conn:
            await self._require_tenant(conn, tenant_id)
            _, image = await self._find_marker(conn, tenant_id, marker_id)
            await self._lock_image(conn, image["id"])
            marker, image = await self._find_marker(conn, tenant_id, marker_id)  # still there?
            count = (
                await conn.execute(select(func.count()).select_from(comments).where(comments.c.marker_id == marker_id))
            ).scalar_one()
            if count >= limits.MAX_COMMENTS_PER_THREAD:
                raise ApiError(409, "thread_full", f"this thread has {count} comments, the most it may have")
            row = self._comment_row(comment_id, marker_id, author, text, now_ms())
            await self._insert_new(conn, comments, row, "comment")
            await self._touch_marker(conn, marker_id, row["created_at"])
            data = {"markerId": marker_id, "change": protocol.COMMENT_ADDED, "comment": protocol.comment_json(row)}
            return await self._record(conn, tenant_id, image, protocol.IMAGE_CHAT_UPDATED, broadcast_id, data)

    async def edit_comment(
        self, tenant_id: str, comment_id: str, author: Identity, text: str, broadcast_id: str | None
    ) -> Change:
        async with self._writer.begin() as conn:
            await self._require_tenant(conn, tenant_id)
            comment, image = await self._find_comment(conn, tenant_id, comment_id)
            if comment["author_id"] != author.id:
                raise forbidden("only the author of a comment can edit it")
            stamp = now_ms()
            await conn.execute(
                update(comments).where(comments.c.id == comment_id).values(text=text, updated_at=stamp)
            )
            await self._touch_marker(conn, comment["marker_id"], stamp)
            edited = protocol.comment_json({**comment, "text": text, "updated_at": stamp})
            data = {"markerId": comment["marker_id"], "change": protocol.COMMENT_EDITED, "comment": edited}
            return await self._record(conn, tenant_id, image, protocol.IMAGE_CHAT_UPDATED, broadcast_id, data)

    async def delete_comment(
        self, tenant_id: str, comment_id: str, author: Identity, broadcast_id: str | None
    ) -> Change:
        """Deleting the last comment of a thread deletes its marker: an empty pin means nothing."""
        async with self._writer.begin() as conn:
            await self._require_tenant(conn, tenant_id)
            _, image = await self._find_comment(conn, tenant_id, comment_id)
            await self._lock_image(conn, image["id"])
            comment, image = await self._find_comment(conn, tenant_id, comment_id)  # still there?
            if comment["author_id"] != author.id and not author.can_moderate:
                raise forbidden("only the author of a comment, or a moderator, can delete it")
            marker_id = comment["marker_id"]
            await conn.execute(delete(comments).where(comments.c.id == comment_id))
            remaining = (
                await conn.execute(select(func.count()).select_from(comments).where(comments.c.marker_id == marker_id))
            ).scalar_one()
            if remaining == 0:
                await conn.execute(delete(markers).where(markers.c.id == marker_id))
                return await self._record(
                    conn, tenant_id, image, protocol.DELETED_IMAGE_CHAT, broadcast_id, {"markerId": marker_id}
                )
            await self._touch_marker(conn, marker_id, now_ms())
            data = {"markerId": marker_id, "change": protocol.COMMENT_DELETED, "commentId": comment_id}
            return await self._record(conn, tenant_id, image, protocol.IMAGE_CHAT_UPDATED, broadcast_id, data)

    async def delete_marker(
        self, tenant_id: str, marker_id: str, author: Identity, broadcast_id: str | None
    ) -> Change:
        async with self._writer.begin() as conn:
            await self._require_tenant(conn, tenant_id)
            marker, image = await self._find_marker(conn, tenant_id, marker_id)
            if marker["author_id"] != author.id and not author.can_moderate:
                raise forbidden("only the author of a marker, or a moderator, can delete it")
            await conn.execute(delete(comments).where(comments.c.marker_id == marker_id))
            await conn.execute(delete(markers).where(markers.c.id == marker_id))
            return await self._record(
                conn, tenant_id, image, protocol.DELETED_IMAGE_CHAT, broadcast_id, {"markerId": marker_id}
            )

    # -- helpers -------------------------------------------------------------------------------

    async def _record(
        self,
        conn: AsyncConnection,
        tenant_id: str,
        image: dict[str, Any],
        kind: str,
        broadcast_id: str | None,
        data: dict[str, Any],
    ) -> Change:
        """Take the image's next seq (the UPDATE locks its row until commit) and log the event."""
        seq = (
            await conn.execute(
                update(images)
                .where(images.c.id == image["id"])
                .values(seq=images.c.seq + 1)
                .returning(images.c.seq)
            )
        ).scalar_one()
        payload = protocol.dumps(protocol.event(kind, seq, broadcast_id, **data))
        await conn.execute(
            insert(events).values(
                image_id=image["id"], seq=seq, type=kind, broadcast_id=broadcast_id,
                payload=payload, created_at=now_ms(),
            )
        )
        return Change(image_channel(tenant_id, image["url_id"]), seq, payload, {"seq": seq, **data})

    @staticmethod
    def _comment_row(comment_id: str | None, marker_id: str, author: Identity, text: str, stamp: int) -> dict[str, Any]:
        return {
            "id": comment_id or new_id(),
            "marker_id": marker_id,
            "author_id": author.id,
            "author_name": author.name,
            "text": text,
            "created_at": stamp,
            "updated_at": stamp,
        }

    @staticmethod
    async def _insert_new(conn: AsyncConnection, table: Any, row: dict[str, Any], what: str) -> None:
        """Insert a row whose id the client may have chosen; a taken id is a conflict."""
        exists = (await conn.execute(select(table.c.id).where(table.c.id == row["id"]))).first()
        if exists is not None:
            raise ApiError(409, "id_taken", f"a {what} with id {row['id']!r} already exists")
        try:
            async with conn.begin_nested():
                await conn.execute(insert(table).values(**row))
        except IntegrityError:
            raise ApiError(409, "id_taken", f"a {what} with id {row['id']!r} already exists") from None

    @staticmethod
    async def _lock_image(conn: AsyncConnection, image_id: int) -> None:
        """Serialise this image's changes from here on (PostgreSQL row lock; SQLite's writers are
        serialised by BEGIN IMMEDIATE already), so that counts read next stay true until commit."""
        await conn.execute(select(images.c.id).where(images.c.id == image_id).with_for_update())

    @staticmethod
    async def _touch_marker(conn: AsyncConnection, marker_id: str, stamp: int) -> None:
        await conn.execute(update(markers).where(markers.c.id == marker_id).values(updated_at=stamp))

    @staticmethod
    async def _require_tenant(conn: AsyncConnection, tenant_id: str) -> None:
        found = (await conn.execute(select(tenants.c.id).where(tenants.c.id == tenant_id))).first()
        if found is None:
            raise not_found("tenant", tenant_id)

    @staticmethod
    async def _find_image(conn: AsyncConnection, tenant_id: str, url_id: str) -> dict[str, Any] | None:
        row = (
            await conn.execute(
                select(images).where(and_(images.c.tenant_id == tenant_id, images.c.url_id == url_id))
            )
        ).mappings().first()
        return None if row is None else dict(row)

    async def _get_or_create_image(self, conn: AsyncConnection, tenant_id: str, url_id: str) -> dict[str, Any]:
        image = await self._find_image(conn, tenant_id, url_id)
        if image is not None:
            return image
        try:
            async with conn.begin_nested():
                await conn.execute(
                    insert(images).values(
                        tenant_id=tenant_id, url_id=url_id, seq=0,
                        epoch=uuid.uuid4().hex, created_at=now_ms(),
                    )
                )
        except IntegrityError:
            pass  # another process created it first: use theirs
        image = await self._find_image(conn, tenant_id, url_id)
        assert image is not None
        return image

    @staticmethod
    async def _find_marker(
        conn: AsyncConnection, tenant_id: str, marker_id: str
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        row = (
            await conn.execute(
                select(markers, images.c.url_id)
                .join(images, markers.c.image_id == images.c.id)
                .where(and_(markers.c.id == marker_id, images.c.tenant_id == tenant_id))
            )
        ).mappings().first()
        if row is None:
            raise not_found("marker", marker_id)
        return dict(row), {"id": row["image_id"], "url_id": row["url_id"]}

    @staticmethod
    async def _find_comment(
        conn: AsyncConnection, tenant_id: str, comment_id: str
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        row = (
            await conn.execute(
                select(comments, markers.c.image_id, images.c.url_id)
                .join(markers, comments.c.marker_id == markers.c.id)
                .join(images, markers.c.image_id == images.c.id)
                .where(and_(comments.c.id == comment_id, images.c.tenant_id == tenant_id))
            )
        ).mappings().first()
        if row is None:
            raise not_found("comment", comment_id)
        return dict(row), {"id": row["image_id"], "url_id": row["url_id"]}
