"""Reads and writes. Each write and the event that records it commit in one transaction.

Every write locks its image's row first (found by a plain read), then re-reads what it changes:
all writes of one image take their locks in one order (image, markers, comments), so they queue
instead of deadlocking. A write that touches no row (deleted meanwhile) is `NotFound`, with no
event. Refusals are the domain errors of `storage.errors`; storage knows nothing of HTTP."""

from __future__ import annotations

import asyncio
import random
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import CursorResult, and_, delete, func, insert, select, tuple_, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from imagechat import protocol
from imagechat.storage.database import WRITE
from imagechat.storage.errors import Busy, Conflict, Forbidden, Full, NotFound
from imagechat.storage.schema import comments, events, images, markers, tenants

# Attempts at a write whose transaction lost a lock conflict anyway (a deadlock with something
# outside this order, a serialization failure, a busy SQLite file); each reruns it whole.
ATTEMPTS = 5
RETRY_BASE_SECONDS = 0.01
CONFLICT_SQLSTATES = {"40001", "40P01"}  # serialization_failure, deadlock_detected


@dataclass(frozen=True)
class Author:
    """Who writes, as storage needs it: stored with what they write, and whether they moderate."""

    id: str
    name: str
    can_moderate: bool = False


@dataclass(frozen=True)
class Committed:
    """A committed write: its image, and its event encoded once (to publish and to answer)."""

    tenant_id: str
    url_id: str
    seq: int
    event: str


def now_ms() -> int:
    return int(time.time() * 1000)


def new_id() -> str:
    return secrets.token_urlsafe(12)


def is_conflict(error: DBAPIError) -> bool:
    """A transient lock conflict, which rerunning the transaction can get past."""
    return getattr(error.orig, "sqlstate", None) in CONFLICT_SQLSTATES or "database is locked" in str(error.orig)


class Store:
    def __init__(self, engine: AsyncEngine, max_markers_per_image: int = 500) -> None:
        self._engine = engine
        self._writer = engine.execution_options(**WRITE)
        self._max_markers = max_markers_per_image

    # -- reads ---------------------------------------------------------------------------------

    async def snapshot(self, tenant_id: str, url_id: str) -> dict[str, Any]:
        """The image's markers, each with the first comment of its thread and `commentCount`, and
        the `seq` of the last change they include. Bounded by the marker cap, whatever the threads
        hold (the rest of a thread is read with `thread`). An image nobody has commented on yet
        is an empty conversation at seq 0."""
        async with self._reader() as conn:
            await self._require_tenant(conn, tenant_id)
            image = await self._find_image(conn, tenant_id, url_id)
            if image is None:
                return {"urlId": url_id, "seq": 0, "epoch": None, "markers": []}
            marker_rows = (
                await conn.execute(
                    select(markers)
                    .where(and_(markers.c.tenant_id == tenant_id, markers.c.image_id == image["id"]))
                    .order_by(markers.c.created_at, markers.c.id)
                )
            ).mappings()
            firsts = await self._first_comments(conn, tenant_id, image["id"])
            return {
                "urlId": url_id,
                "seq": image["seq"],
                "epoch": image["epoch"],
                "markers": [protocol.snapshot_marker_json(row, *firsts[row["id"]]) for row in marker_rows],
            }

    async def thread(self, tenant_id: str, marker_id: str, after: str | None, limit: int) -> dict[str, Any]:
        """A page of a marker's comments, oldest first, after the comment `after`; `next` is the
        cursor of the following page (None on the last). `seq` is the image's seq as of the read."""
        async with self._reader() as conn:
            await self._require_tenant(conn, tenant_id)
            _, image = await self._find_marker(conn, tenant_id, marker_id)
            seq = (await conn.execute(select(images.c.seq).where(images.c.id == image["id"]))).scalar_one()
            query = select(comments).where(self._in_thread(tenant_id, marker_id))
            if after is not None:
                query = query.where(await self._after(conn, tenant_id, marker_id, after))
            rows = (
                await conn.execute(query.order_by(comments.c.created_at, comments.c.id).limit(limit + 1))
            ).mappings().all()
            page = [protocol.comment_json(row) for row in rows[:limit]]
            return {"markerId": marker_id, "seq": seq, "comments": page, "next": page[-1]["id"] if len(rows) > limit else None}

    async def position(self, tenant_id: str, url_id: str) -> tuple[int, str | None]:
        """The image's current `seq` and `epoch` (0 and None before its first change)."""
        async with self._engine.connect() as conn:
            image = await self._find_image(conn, tenant_id, url_id)
            return (0, None) if image is None else (image["seq"], image["epoch"])

    async def events_after(self, tenant_id: str, url_id: str, since: int, upto: int, limit: int) -> list[tuple[int, str]]:
        """At most `limit` logged events after `since` up to `upto`, oldest first: (seq, the event
        as sent on the wire). Replays read the log a page at a time, as the socket drains."""
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                select(events.c.seq, events.c.payload)
                .join(images, images.c.id == events.c.image_id)
                .where(and_(images.c.tenant_id == tenant_id, images.c.url_id == url_id,
                            events.c.seq > since, events.c.seq <= upto))
                .order_by(events.c.seq)
                .limit(limit)
            )
            return [(seq, payload) for seq, payload in rows]

    async def rotate_epochs(self) -> int:
        """New epochs for every image: run after restoring a backup, so that clients that saw
        history the backup lacks reload instead of resuming. Returns the number of images."""
        async with self._writer.begin() as conn:
            ids = [image_id for (image_id,) in await conn.execute(select(images.c.id))]
            for image_id in ids:
                await conn.execute(update(images).where(images.c.id == image_id).values(epoch=uuid.uuid4().hex))
            return len(ids)

    # -- writes --------------------------------------------------------------------------------

    async def create_marker(
        self,
        tenant_id: str,
        url_id: str,
        author: Author,
        x: float,
        y: float,
        text: str,
        broadcast_id: str | None,
        marker_id: str | None = None,
        comment_id: str | None = None,
    ) -> Committed:
        async def write(conn: AsyncConnection) -> Committed:
            await self._require_tenant(conn, tenant_id)
            image = await self._get_or_create_image(conn, tenant_id, url_id)
            await self._lock_image(conn, image["id"])
            count = (
                await conn.execute(
                    select(func.count()).select_from(markers)
                    .where(and_(markers.c.tenant_id == tenant_id, markers.c.image_id == image["id"]))
                )
            ).scalar_one()
            if count >= self._max_markers:
                raise Full("image", f"{count} markers")
            stamp = now_ms()
            marker_row = {
                "tenant_id": tenant_id,
                "id": marker_id or new_id(),
                "image_id": image["id"],
                "x": x,
                "y": y,
                "author_id": author.id,
                "author_name": author.name,
                "created_at": stamp,
                "updated_at": stamp,
            }
            comment_row = self._comment_row(tenant_id, comment_id, marker_row["id"], author, text, stamp)
            await self._insert_new(conn, markers, marker_row, "marker")
            await self._insert_new(conn, comments, comment_row, "comment")
            marker = protocol.marker_json(marker_row, [protocol.comment_json(comment_row)])
            return await self._record(conn, tenant_id, image, protocol.NEW_IMAGE_CHAT, broadcast_id, {"marker": marker})

        return await self._commit(write)

    async def add_comment(
        self,
        tenant_id: str,
        marker_id: str,
        author: Author,
        text: str,
        broadcast_id: str | None,
        comment_id: str | None = None,
    ) -> Committed:
        async def write(conn: AsyncConnection) -> Committed:
            _, image = await self._locked(conn, tenant_id, self._find_marker, marker_id)
            count = (
                await conn.execute(select(func.count()).select_from(comments).where(self._in_thread(tenant_id, marker_id)))
            ).scalar_one()
            if count >= protocol.MAX_COMMENTS_PER_THREAD:
                raise Full("thread", f"{count} comments")
            row = self._comment_row(tenant_id, comment_id, marker_id, author, text, now_ms())
            await self._touch_marker(conn, tenant_id, marker_id, row["created_at"])
            await self._insert_new(conn, comments, row, "comment")
            data = {"markerId": marker_id, "change": protocol.COMMENT_ADDED, "comment": protocol.comment_json(row)}
            return await self._record(conn, tenant_id, image, protocol.IMAGE_CHAT_UPDATED, broadcast_id, data)

        return await self._commit(write)

    async def edit_comment(
        self, tenant_id: str, comment_id: str, author: Author, text: str, broadcast_id: str | None
    ) -> Committed:
        async def write(conn: AsyncConnection) -> Committed:
            comment, image = await self._locked(conn, tenant_id, self._find_comment, comment_id)
            if comment["author_id"] != author.id:
                raise Forbidden("only the author of a comment can edit it")
            stamp = now_ms()
            await self._touch_marker(conn, tenant_id, comment["marker_id"], stamp)
            await self._must_touch(
                conn,
                update(comments).where(self._comment_key(tenant_id, comment_id)).values(text=text, updated_at=stamp),
                "comment", comment_id,
            )
            edited = protocol.comment_json({**comment, "text": text, "updated_at": stamp})
            data = {"markerId": comment["marker_id"], "change": protocol.COMMENT_EDITED, "comment": edited}
            return await self._record(conn, tenant_id, image, protocol.IMAGE_CHAT_UPDATED, broadcast_id, data)

        return await self._commit(write)

    async def delete_comment(
        self, tenant_id: str, comment_id: str, author: Author, broadcast_id: str | None
    ) -> Committed:
        """Deleting the last comment of a thread deletes its marker: an empty pin means nothing."""
        async def write(conn: AsyncConnection) -> Committed:
            comment, image = await self._locked(conn, tenant_id, self._find_comment, comment_id)
            if comment["author_id"] != author.id and not author.can_moderate:
                raise Forbidden("only the author of a comment, or a moderator, can delete it")
            marker_id = comment["marker_id"]
            count = (
                await conn.execute(select(func.count()).select_from(comments).where(self._in_thread(tenant_id, marker_id)))
            ).scalar_one()
            if count == 1:  # this one: the marker goes, and the comment with it (cascade)
                await self._must_touch(conn, delete(markers).where(self._marker_key(tenant_id, marker_id)), "marker", marker_id)
                return await self._record(
                    conn, tenant_id, image, protocol.DELETED_IMAGE_CHAT, broadcast_id, {"markerId": marker_id}
                )
            await self._touch_marker(conn, tenant_id, marker_id, now_ms())
            await self._must_touch(conn, delete(comments).where(self._comment_key(tenant_id, comment_id)), "comment", comment_id)
            data = {"markerId": marker_id, "change": protocol.COMMENT_DELETED, "commentId": comment_id}
            return await self._record(conn, tenant_id, image, protocol.IMAGE_CHAT_UPDATED, broadcast_id, data)

        return await self._commit(write)

    async def delete_marker(
        self, tenant_id: str, marker_id: str, author: Author, broadcast_id: str | None
    ) -> Committed:
        async def write(conn: AsyncConnection) -> Committed:
            marker, image = await self._locked(conn, tenant_id, self._find_marker, marker_id)
            if marker["author_id"] != author.id and not author.can_moderate:
                raise Forbidden("only the author of a marker, or a moderator, can delete it")
            # Its comments go with it (cascade), after it in the lock order.
            await self._must_touch(conn, delete(markers).where(self._marker_key(tenant_id, marker_id)), "marker", marker_id)
            return await self._record(
                conn, tenant_id, image, protocol.DELETED_IMAGE_CHAT, broadcast_id, {"markerId": marker_id}
            )

        return await self._commit(write)

    # -- helpers -------------------------------------------------------------------------------

    @asynccontextmanager
    async def _reader(self) -> AsyncIterator[AsyncConnection]:
        """A read-only transaction seeing one state throughout (REPEATABLE READ on PostgreSQL)."""
        async with self._engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                conn = await conn.execution_options(isolation_level="REPEATABLE READ")
            async with conn.begin():
                yield conn

    async def _commit(self, work: Callable[[AsyncConnection], Awaitable[Committed]]) -> Committed:
        """Run `work` in a write transaction, rerun whole after a transient lock conflict."""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                async with self._writer.begin() as conn:
                    return await work(conn)
            except DBAPIError as error:
                if not is_conflict(error):
                    raise
                # Jittered, growing pauses so that the transactions that collided do not meet again.
                await asyncio.sleep(random.uniform(0, RETRY_BASE_SECONDS * 2**attempt))
        raise Busy()

    async def _locked(
        self,
        conn: AsyncConnection,
        tenant_id: str,
        find: Callable[[AsyncConnection, str, str], Awaitable[tuple[dict[str, Any], dict[str, Any]]]],
        key: str,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The marker or comment `find` reads, and its image, with the image locked: found first
        by a plain read, then read again under the lock (NotFound if deleted meanwhile)."""
        await self._require_tenant(conn, tenant_id)
        _, image = await find(conn, tenant_id, key)
        await self._lock_image(conn, image["id"])
        return await find(conn, tenant_id, key)

    async def _record(
        self,
        conn: AsyncConnection,
        tenant_id: str,
        image: dict[str, Any],
        kind: str,
        broadcast_id: str | None,
        data: dict[str, Any],
    ) -> Committed:
        """Take the image's next seq and log the event. The first event of an image carries its
        epoch: a viewer that opened the image before it existed learns the epoch to resume in."""
        seq, epoch = (
            await conn.execute(
                update(images)
                .where(images.c.id == image["id"])
                .values(seq=images.c.seq + 1)
                .returning(images.c.seq, images.c.epoch)
            )
        ).one()
        if seq == 1:
            data = {"epoch": epoch, **data}
        payload = protocol.dumps(protocol.event(kind, seq, broadcast_id, **data))
        await conn.execute(
            insert(events).values(
                image_id=image["id"], seq=seq, type=kind, broadcast_id=broadcast_id,
                payload=payload, created_at=now_ms(),
            )
        )
        return Committed(tenant_id, image["url_id"], seq, payload)

    @staticmethod
    async def _must_touch(conn: AsyncConnection, statement: Any, what: str, key: str) -> None:
        """Run an UPDATE or DELETE that must touch its row: none touched means it is gone."""
        result: CursorResult[Any] = await conn.execute(statement)
        if result.rowcount == 0:
            raise NotFound(what, key)

    @staticmethod
    def _comment_row(
        tenant_id: str, comment_id: str | None, marker_id: str, author: Author, text: str, stamp: int
    ) -> dict[str, Any]:
        return {
            "tenant_id": tenant_id,
            "id": comment_id or new_id(),
            "marker_id": marker_id,
            "author_id": author.id,
            "author_name": author.name,
            "text": text,
            "created_at": stamp,
            "updated_at": stamp,
        }

    @staticmethod
    def _marker_key(tenant_id: str, marker_id: str) -> Any:
        return and_(markers.c.tenant_id == tenant_id, markers.c.id == marker_id)

    @staticmethod
    def _comment_key(tenant_id: str, comment_id: str) -> Any:
        return and_(comments.c.tenant_id == tenant_id, comments.c.id == comment_id)

    @staticmethod
    def _in_thread(tenant_id: str, marker_id: str) -> Any:
        return and_(comments.c.tenant_id == tenant_id, comments.c.marker_id == marker_id)

    @staticmethod
    async def _after(conn: AsyncConnection, tenant_id: str, marker_id: str, comment_id: str) -> Any:
        """The condition "later in the thread than this comment" (threads are ordered by time, then id)."""
        cursor = (
            await conn.execute(
                select(comments.c.created_at, comments.c.id)
                .where(and_(Store._in_thread(tenant_id, marker_id), comments.c.id == comment_id))
            )
        ).first()
        if cursor is None:
            raise NotFound("comment", comment_id)
        return tuple_(comments.c.created_at, comments.c.id) > tuple_(*cursor)

    @staticmethod
    async def _insert_new(conn: AsyncConnection, table: Any, row: dict[str, Any], what: str) -> None:
        """Insert a row whose id the client may have chosen; an id the tenant already uses is a conflict."""
        key = and_(table.c.tenant_id == row["tenant_id"], table.c.id == row["id"])
        if (await conn.execute(select(table.c.id).where(key))).first() is not None:
            raise Conflict(what, row["id"])
        try:
            async with conn.begin_nested():
                await conn.execute(insert(table).values(**row))
        except IntegrityError:
            raise Conflict(what, row["id"]) from None

    @staticmethod
    async def _first_comments(conn: AsyncConnection, tenant_id: str, image_id: int) -> dict[str, tuple[dict[str, Any], int]]:
        """Each thread's first comment and its number of comments, by marker id."""
        ranked = (
            select(
                comments,
                func.row_number().over(
                    partition_by=comments.c.marker_id, order_by=(comments.c.created_at, comments.c.id)
                ).label("rank"),
                func.count().over(partition_by=comments.c.marker_id).label("total"),
            )
            .join(markers, and_(markers.c.tenant_id == comments.c.tenant_id, markers.c.id == comments.c.marker_id))
            .where(and_(comments.c.tenant_id == tenant_id, markers.c.image_id == image_id))
            .subquery()
        )
        rows = (await conn.execute(select(ranked).where(ranked.c.rank == 1))).mappings()
        return {row["marker_id"]: (protocol.comment_json(row), row["total"]) for row in rows}

    @staticmethod
    async def _lock_image(conn: AsyncConnection, image_id: int) -> None:
        """Serialise this image's writes from here on (PostgreSQL row lock; SQLite's writers are
        serialised by BEGIN IMMEDIATE already), so that what is read next stays true until commit."""
        await conn.execute(select(images.c.id).where(images.c.id == image_id).with_for_update())

    @staticmethod
    async def _touch_marker(conn: AsyncConnection, tenant_id: str, marker_id: str, stamp: int) -> None:
        await conn.execute(update(markers).where(Store._marker_key(tenant_id, marker_id)).values(updated_at=stamp))

    @staticmethod
    async def _require_tenant(conn: AsyncConnection, tenant_id: str) -> None:
        found = (await conn.execute(select(tenants.c.id).where(tenants.c.id == tenant_id))).first()
        if found is None:
            raise NotFound("tenant", tenant_id)

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
                .where(and_(markers.c.tenant_id == tenant_id, markers.c.id == marker_id))
            )
        ).mappings().first()
        if row is None:
            raise NotFound("marker", marker_id)
        return dict(row), {"id": row["image_id"], "url_id": row["url_id"]}

    @staticmethod
    async def _find_comment(
        conn: AsyncConnection, tenant_id: str, comment_id: str
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        row = (
            await conn.execute(
                select(comments, markers.c.image_id, images.c.url_id)
                .join(markers, and_(markers.c.tenant_id == comments.c.tenant_id, markers.c.id == comments.c.marker_id))
                .join(images, markers.c.image_id == images.c.id)
                .where(and_(comments.c.tenant_id == tenant_id, comments.c.id == comment_id))
            )
        ).mappings().first()
        if row is None:
            raise NotFound("comment", comment_id)
        return dict(row), {"id": row["image_id"], "url_id": row["url_id"]}
