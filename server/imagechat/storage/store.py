"""Reads and writes. Each change and the event that records it commit in one transaction.

A change takes its image's row first: `UPDATE images SET seq = seq + 1` both locks it (PostgreSQL)
and takes the change's seq. Then it reads what it changes and writes: all changes of one image
take their locks in one order (image, markers, comments), so they queue instead of deadlocking. A
change that touches no row (deleted meanwhile) is `NotFound`, with no event; a refused one rolls
back its savepoint, seq included, so seqs stay gap-free. Changes are group-committed
(`storage.commits`). Refusals are the domain errors of `storage.errors`: storage knows no HTTP.

Reads are synchronous SQLAlchemy Core functions of a `Connection`, changes of the `Transaction`
that holds the rows they add until they can be written together (`storage.transaction`); both are
run by the database's `Runner` (`storage.database`)."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, CursorResult, and_, bindparam, delete, func, insert, select, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from imagechat import protocol
from imagechat.storage.commits import GroupCommit
from imagechat.storage.database import runner_for
from imagechat.storage.errors import Forbidden, Full, NotFound
from imagechat.storage.schema import comments, events, images, markers
from imagechat.storage.transaction import Image, Transaction


@dataclass(frozen=True)
class Author:
    """Who writes, as storage needs it: stored with what they write, and whether they moderate."""

    id: str
    name: str
    can_moderate: bool = False


@dataclass(frozen=True)
class Committed:
    """A committed change: its image, and its event encoded once (to publish and to answer)."""

    tenant_id: str
    url_id: str
    seq: int
    event: str


def now_ms() -> int:
    return int(time.time() * 1000)


def new_epoch() -> str:
    """An image's history's name (new after a restore): 72 random bits, 12 characters."""
    return secrets.token_urlsafe(9)


def new_id() -> str:
    """64 random bits: ids are scoped per tenant, and a client-chosen one that is taken is refused."""
    return secrets.token_urlsafe(8)


class Store:
    def __init__(self, engine: AsyncEngine, max_markers_per_image: int = 500) -> None:
        self._runner = runner_for(engine)
        self._commits: GroupCommit[Committed] = GroupCommit(self._runner, one_lane=engine.dialect.name == "sqlite")
        self._max_markers = max_markers_per_image

    async def close(self) -> None:
        await self._commits.close()
        await self._runner.close()

    # -- reads ---------------------------------------------------------------------------------

    async def snapshot(self, tenant_id: str, url_id: str) -> dict[str, Any]:
        """The image's markers, each with the first comment of its thread and `commentCount`, and
        the `seq` of the last change they include. Bounded by the marker cap, whatever the threads
        hold (the rest of a thread is read with `thread`). An image nobody has commented on yet
        is an empty conversation at seq 0."""

        def read(conn: Connection) -> dict[str, Any]:
            image = _find_image(conn, tenant_id, url_id)
            if image is None:
                return {"urlId": url_id, "seq": 0, "epoch": None, "markers": []}
            marker_rows = conn.execute(
                select(markers)
                .where(and_(markers.c.tenant_id == tenant_id, markers.c.image_id == image["id"]))
                .order_by(markers.c.created_at, markers.c.id)
            ).mappings()
            firsts = _first_comments(conn, tenant_id, image["id"])
            return {
                "urlId": url_id,
                "seq": image["seq"],
                "epoch": image["epoch"],
                "markers": [protocol.snapshot_marker_json(row, *firsts[row["id"]]) for row in marker_rows],
            }

        return await self._runner.read(read)

    async def thread(self, tenant_id: str, marker_id: str, after: str | None, limit: int) -> dict[str, Any]:
        """A page of a marker's comments, oldest first, after the comment `after`; `next` is the
        cursor of the following page (None on the last). `seq` is the image's seq as of the read."""

        def read(conn: Connection) -> dict[str, Any]:
            marker = _find_marker(conn, tenant_id, marker_id)
            seq = conn.execute(select(images.c.seq).where(images.c.id == marker["image_id"])).scalar_one()
            query = select(comments).where(_in_thread(tenant_id, marker_id))
            if after is not None:
                query = query.where(_after(conn, tenant_id, marker_id, after))
            rows = conn.execute(query.order_by(comments.c.created_at, comments.c.id).limit(limit + 1)).mappings().all()
            page = [protocol.comment_json(row) for row in rows[:limit]]
            return {"markerId": marker_id, "seq": seq, "comments": page, "next": page[-1]["id"] if len(rows) > limit else None}

        return await self._runner.read(read)

    async def position(self, tenant_id: str, url_id: str) -> tuple[int, str | None]:
        """The image's current `seq` and `epoch` (0 and None before its first change)."""

        def read(conn: Connection) -> tuple[int, str | None]:
            image = _find_image(conn, tenant_id, url_id)
            return (0, None) if image is None else (image["seq"], image["epoch"])

        return await self._runner.read(read)

    async def events_after(self, tenant_id: str, url_id: str, since: int, upto: int, limit: int) -> list[tuple[int, str]]:
        """At most `limit` logged events after `since` up to `upto`, oldest first: (seq, the event
        as sent on the wire). Replays read the log a page at a time, as the socket drains."""

        def read(conn: Connection) -> list[tuple[int, str]]:
            rows = conn.execute(
                select(events.c.seq, events.c.payload)
                .join(images, images.c.id == events.c.image_id)
                .where(and_(images.c.tenant_id == tenant_id, images.c.url_id == url_id,
                            events.c.seq > since, events.c.seq <= upto))
                .order_by(events.c.seq)
                .limit(limit)
            )
            return [(seq, payload) for seq, payload in rows]

        return await self._runner.read(read)

    async def rotate_epochs(self) -> int:
        """New epochs for every image: run after restoring a backup, so that clients that saw
        history the backup lacks reload instead of resuming. Returns the number of images."""

        def write(conn: Connection) -> int:
            ids = [image_id for (image_id,) in conn.execute(select(images.c.id))]
            for image_id in ids:
                conn.execute(update(images).where(images.c.id == image_id).values(epoch=new_epoch()))
            return len(ids)

        return await self._runner.write(write)

    # -- changes -------------------------------------------------------------------------------

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
        def change(tx: Transaction) -> Committed:
            image = _claim_image(tx, tenant_id, url_id)
            counted = ("markers", image.id)
            # Each marker was made by one of the image's changes, so an image with fewer changes
            # than the cap before this one has fewer markers: only a busy image is counted.
            if image.seq > self._max_markers:
                count = tx.count(counted, COUNT_MARKERS, {"tenant": tenant_id, "image": image.id})
                if count >= self._max_markers:
                    raise Full("image", f"{count} markers")
            stamp = now_ms()
            marker_row = {
                "tenant_id": tenant_id,
                "id": marker_id or new_id(),
                "image_id": image.id,
                "x": x,
                "y": y,
                "author_id": author.id,
                "author_name": author.name,
                "created_at": stamp,
                "updated_at": stamp,
            }
            comment_row = _comment_row(tenant_id, comment_id, marker_row["id"], author, text, stamp)
            tx.add(markers, marker_row, "marker")
            tx.add(comments, comment_row, "comment")
            tx.counted(counted, 1)
            marker = protocol.new_marker_json(marker_row, comment_row)
            return _record(tx, tenant_id, image, protocol.NEW_IMAGE_CHAT, broadcast_id, {"marker": marker})

        return await self._commits.submit((tenant_id, url_id), change)

    async def add_comment(
        self,
        tenant_id: str,
        marker_id: str,
        author: Author,
        text: str,
        broadcast_id: str | None,
        comment_id: str | None = None,
    ) -> Committed:
        def change(tx: Transaction) -> Committed:
            image = _claim_image_of(tx, _find_marker(tx, tenant_id, marker_id))
            count = tx.execute(COUNT_COMMENTS, {"tenant": tenant_id, "marker": marker_id}).scalar_one()
            if count >= protocol.MAX_COMMENTS_PER_THREAD:
                raise Full("thread", f"{count} comments")
            row = _comment_row(tenant_id, comment_id, marker_id, author, text, now_ms())
            _touch_marker(tx, tenant_id, marker_id, row["created_at"])
            tx.add(comments, row, "comment")
            data = {"markerId": marker_id, "change": protocol.COMMENT_ADDED, "comment": protocol.comment_json(row)}
            return _record(tx, tenant_id, image, protocol.IMAGE_CHAT_UPDATED, broadcast_id, data)

        return await self._commits.submit((tenant_id, marker_id), change)

    async def edit_comment(
        self, tenant_id: str, comment_id: str, author: Author, text: str, broadcast_id: str | None
    ) -> Committed:
        def change(tx: Transaction) -> Committed:
            comment = _find_comment(tx, tenant_id, comment_id)
            if comment["author_id"] != author.id:
                raise Forbidden("only the author of a comment can edit it")
            image = _claim_image_of(tx, comment)
            stamp = now_ms()
            _touch_marker(tx, tenant_id, comment["marker_id"], stamp)
            _must_touch(tx, EDIT_COMMENT, "comment", comment_id, tenant=tenant_id, comment=comment_id, text=text, stamp=stamp)
            edited = protocol.comment_json({**comment, "text": text, "updated_at": stamp})
            data = {"markerId": comment["marker_id"], "change": protocol.COMMENT_EDITED, "comment": edited}
            return _record(tx, tenant_id, image, protocol.IMAGE_CHAT_UPDATED, broadcast_id, data)

        return await self._commits.submit((tenant_id, comment_id), change)

    async def delete_comment(
        self, tenant_id: str, comment_id: str, author: Author, broadcast_id: str | None
    ) -> Committed:
        """Deleting the last comment of a thread deletes its marker: an empty pin means nothing."""

        def change(tx: Transaction) -> Committed:
            comment = _find_comment(tx, tenant_id, comment_id)
            if comment["author_id"] != author.id and not author.can_moderate:
                raise Forbidden("only the author of a comment, or a moderator, can delete it")
            image = _claim_image_of(tx, comment)
            marker_id = comment["marker_id"]
            count = tx.execute(COUNT_COMMENTS, {"tenant": tenant_id, "marker": marker_id}).scalar_one()
            if count <= 1:  # this one: the marker goes, and the comment with it (cascade)
                _must_touch(tx, DELETE_MARKER, "marker", marker_id, tenant=tenant_id, marker=marker_id)
                return _record(tx, tenant_id, image, protocol.DELETED_IMAGE_CHAT, broadcast_id, {"markerId": marker_id})
            _touch_marker(tx, tenant_id, marker_id, now_ms())
            _must_touch(tx, DELETE_COMMENT, "comment", comment_id, tenant=tenant_id, comment=comment_id)
            data = {"markerId": marker_id, "change": protocol.COMMENT_DELETED, "commentId": comment_id}
            return _record(tx, tenant_id, image, protocol.IMAGE_CHAT_UPDATED, broadcast_id, data)

        return await self._commits.submit((tenant_id, comment_id), change)

    async def delete_marker(
        self, tenant_id: str, marker_id: str, author: Author, broadcast_id: str | None
    ) -> Committed:
        def change(tx: Transaction) -> Committed:
            marker = _find_marker(tx, tenant_id, marker_id)
            if marker["author_id"] != author.id and not author.can_moderate:
                raise Forbidden("only the author of a marker, or a moderator, can delete it")
            image = _claim_image_of(tx, marker)
            # Its comments go with it (cascade), after it in the lock order.
            _must_touch(tx, DELETE_MARKER, "marker", marker_id, tenant=tenant_id, marker=marker_id)
            return _record(tx, tenant_id, image, protocol.DELETED_IMAGE_CHAT, broadcast_id, {"markerId": marker_id})

        return await self._commits.submit((tenant_id, marker_id), change)

    async def resolve_marker(
        self, tenant_id: str, marker_id: str, author: Author, resolved: bool, broadcast_id: str | None
    ) -> Committed:
        """Mark a thread resolved (when, and by whom: the name), or open again. A thread's author
        or a moderator may; saying it twice is a change like any other (a new event)."""

        def change(tx: Transaction) -> Committed:
            marker = _find_marker(tx, tenant_id, marker_id)
            if marker["author_id"] != author.id and not author.can_moderate:
                raise Forbidden("only the author of a thread, or a moderator, can resolve or reopen it")
            image = _claim_image_of(tx, marker)
            stamp = now_ms()
            at, by = (stamp, author.name) if resolved else (None, None)
            _must_touch(tx, RESOLVE_MARKER, "marker", marker_id, tenant=tenant_id, marker=marker_id,
                        stamp=stamp, at=at, by=by)
            data: dict[str, Any] = {"markerId": marker_id}
            if resolved:
                data.update(change=protocol.THREAD_RESOLVED, resolvedAt=at, resolvedBy=by)
            else:
                data["change"] = protocol.THREAD_REOPENED
            return _record(tx, tenant_id, image, protocol.IMAGE_CHAT_UPDATED, broadcast_id, data)

        return await self._commits.submit((tenant_id, marker_id), change)


# -- statements --------------------------------------------------------------------------------
# The changes' statements are built once, their values bound at each run: building a statement
# costs more CPU than executing it.

_CLAIM = (
    update(images).values(seq=images.c.seq + 1)
    .returning(images.c.id, images.c.url_id, images.c.seq, images.c.epoch)
)
CLAIM_BY_URL = _CLAIM.where(and_(images.c.tenant_id == bindparam("tenant"), images.c.url_id == bindparam("url")))
CLAIM_BY_ID = _CLAIM.where(images.c.id == bindparam("image"))
COUNT_MARKERS = select(func.count()).select_from(markers).where(
    and_(markers.c.tenant_id == bindparam("tenant"), markers.c.image_id == bindparam("image"))
)
COUNT_COMMENTS = select(func.count()).select_from(comments).where(
    and_(comments.c.tenant_id == bindparam("tenant"), comments.c.marker_id == bindparam("marker"))
)
MARKER_KEY = and_(markers.c.tenant_id == bindparam("tenant"), markers.c.id == bindparam("marker"))
COMMENT_KEY = and_(comments.c.tenant_id == bindparam("tenant"), comments.c.id == bindparam("comment"))
TOUCH_MARKER = update(markers).where(MARKER_KEY).values(updated_at=bindparam("stamp"))
RESOLVE_MARKER = update(markers).where(MARKER_KEY).values(
    updated_at=bindparam("stamp"), resolved_at=bindparam("at"), resolved_by=bindparam("by")
)
EDIT_COMMENT = update(comments).where(COMMENT_KEY).values(text=bindparam("text"), updated_at=bindparam("stamp"))
DELETE_MARKER = delete(markers).where(MARKER_KEY)
DELETE_COMMENT = delete(comments).where(COMMENT_KEY)
FIND_MARKER = select(markers, images.c.url_id).join(images, markers.c.image_id == images.c.id).where(MARKER_KEY)
FIND_COMMENT = (
    select(comments, markers.c.image_id, images.c.url_id)
    .join(markers, and_(markers.c.tenant_id == comments.c.tenant_id, markers.c.id == comments.c.marker_id))
    .join(images, markers.c.image_id == images.c.id)
    .where(COMMENT_KEY)
)


# -- taking an image ---------------------------------------------------------------------------


def _claim(tx: Transaction, tenant_id: str, statement: Any, **key: Any) -> Image | None:
    """Lock the image the statement (CLAIM_*) names and take its next seq (None: no such image)."""
    row = tx.execute(statement, key).first()
    return None if row is None else tx.hold(tenant_id, Image(*row))


def _claim_image(tx: Transaction, tenant_id: str, url_id: str) -> Image:
    """The image named by its tenant and URL id, created on its first change."""
    image = tx.claimed_url(tenant_id, url_id) or _claim(tx, tenant_id, CLAIM_BY_URL, tenant=tenant_id, url=url_id)
    if image is not None:
        return image
    tx.flush()  # before the savepoint: what is held is not undone with it
    try:
        with tx.conn.begin_nested():
            tx.conn.execute(insert(images).values(tenant_id=tenant_id, url_id=url_id, seq=0,
                                                  epoch=new_epoch(), created_at=now_ms()))
    except IntegrityError:
        pass  # another node created it first (use theirs), or there is no such tenant (below)
    image = _claim(tx, tenant_id, CLAIM_BY_URL, tenant=tenant_id, url=url_id)
    if image is None:
        raise NotFound("tenant", tenant_id)
    return image


def _claim_image_of(tx: Transaction, found: dict[str, Any]) -> Image:
    """The image of a marker or comment found by `_find_marker` / `_find_comment`."""
    image = tx.claimed(found["image_id"]) or _claim(tx, found["tenant_id"], CLAIM_BY_ID, image=found["image_id"])
    if image is None:  # the image went (its tenant was removed) since the marker was read
        raise NotFound("image", found["url_id"])
    return image


def _record(
    tx: Transaction, tenant_id: str, image: Image, kind: str, broadcast_id: str | None, data: dict[str, Any]
) -> Committed:
    """Log the change's event. The first event of an image carries its epoch: a viewer that
    opened the image before it existed learns the epoch to resume in."""
    if image.seq == 1:
        data = {"epoch": image.epoch, **data}
    payload = protocol.dumps(protocol.event(kind, image.seq, broadcast_id, **data))
    tx.add(events, {"image_id": image.id, "seq": image.seq, "type": kind, "broadcast_id": broadcast_id,
                    "payload": payload, "created_at": now_ms()})
    return Committed(tenant_id, image.url_id, image.seq, payload)


# -- rows --------------------------------------------------------------------------------------


def _must_touch(tx: Transaction, statement: Any, what: str, key: str, **values: Any) -> None:
    """Run an UPDATE or DELETE that must touch its row: none touched means it is gone."""
    result: CursorResult[Any] = tx.execute(statement, values)
    if result.rowcount == 0:
        raise NotFound(what, key)


def _touch_marker(tx: Transaction, tenant_id: str, marker_id: str, stamp: int) -> None:
    """Mark the thread as changed; under the image's lock this also tells it still exists."""
    _must_touch(tx, TOUCH_MARKER, "marker", marker_id, tenant=tenant_id, marker=marker_id, stamp=stamp)


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


def _in_thread(tenant_id: str, marker_id: str) -> Any:
    return and_(comments.c.tenant_id == tenant_id, comments.c.marker_id == marker_id)


# -- finding -----------------------------------------------------------------------------------


def _find_image(conn: Connection, tenant_id: str, url_id: str) -> dict[str, Any] | None:
    row = conn.execute(
        select(images).where(and_(images.c.tenant_id == tenant_id, images.c.url_id == url_id))
    ).mappings().first()
    return None if row is None else dict(row)


def _find_marker(conn: Connection | Transaction, tenant_id: str, marker_id: str) -> dict[str, Any]:
    """A marker's row, with its image's `url_id`."""
    row = conn.execute(FIND_MARKER, {"tenant": tenant_id, "marker": marker_id}).mappings().first()
    if row is None:
        raise NotFound("marker", marker_id)
    return dict(row)


def _find_comment(conn: Connection | Transaction, tenant_id: str, comment_id: str) -> dict[str, Any]:
    """A comment's row, with its marker's `image_id` and its image's `url_id`."""
    row = conn.execute(FIND_COMMENT, {"tenant": tenant_id, "comment": comment_id}).mappings().first()
    if row is None:
        raise NotFound("comment", comment_id)
    return dict(row)


def _after(conn: Connection, tenant_id: str, marker_id: str, comment_id: str) -> Any:
    """The condition "later in the thread than this comment" (threads are ordered by time, then id)."""
    cursor = conn.execute(
        select(comments.c.created_at, comments.c.id).where(and_(_in_thread(tenant_id, marker_id), comments.c.id == comment_id))
    ).first()
    if cursor is None:
        raise NotFound("comment", comment_id)
    return tuple_(comments.c.created_at, comments.c.id) > tuple_(*cursor)


def _first_comments(conn: Connection, tenant_id: str, image_id: int) -> dict[str, tuple[dict[str, Any], int]]:
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
    rows = conn.execute(select(ranked).where(ranked.c.rank == 1)).mappings()
    return {row["marker_id"]: (protocol.comment_json(row), row["total"]) for row in rows}
