"""A group-commit transaction as the changes in it see it: most statements run at once, but the
rows a change adds, the seqs it takes and the markers it counts are kept here and written together.

A batch of 20 new markers on one image (the busy case: a review session, a class) would otherwise
cost 100 statements, five each; here it costs a few: the image is claimed (locked, seq taken) once,
then one UPDATE writes the last seq taken and one multi-row INSERT each writes the markers,
comments and events. On PostgreSQL a lone change's rows go in one statement (the others as
data-modifying CTEs of the last): two round trips between BEGIN and COMMIT, not four. Whatever a
change reads must see what came before it, so every other statement first writes what is held
(`flush`), as an ORM's autoflush does.

Held state goes with the database's: a change in a savepoint that is refused rolls back the rows
it wrote, and `savepoint` forgets what it held and restores the seqs and counts of before.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Connection, CursorResult, MetaData, Table, bindparam, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.dml import UpdateBase

from imagechat.storage.errors import Conflict
from imagechat.storage.schema import images

SET_SEQ = update(images).where(images.c.id == bindparam("image")).values(seq=bindparam("seq"))


@dataclass(frozen=True)
class Image:
    """An image as a change holds it: locked, with the seq taken for the change."""

    id: int
    url_id: str
    seq: int
    epoch: str


@dataclass(frozen=True)
class _Row:
    values: dict[str, Any]
    what: str | None  # "marker", "comment": a row whose id a client may choose (a conflict is theirs)


class Transaction:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._one_statement = conn.dialect.name == "postgresql"  # SQLite has no DML in a WITH clause
        self._held: dict[Table, list[_Row]] = {}
        # Images claimed so far, by id (and their ids by tenant and URL id): the seq last taken,
        # and the one the database has.
        self._claimed: dict[int, Image] = {}
        self._by_url: dict[tuple[str, str], int] = {}
        self._written_seq: dict[int, int] = {}
        self._counts: dict[Any, int] = {}

    def execute(self, statement: Any, parameters: dict[str, Any] | None = None) -> CursorResult[Any]:
        """Run a statement now, after writing what is held (it may read or change those rows)."""
        self.flush()
        self._counts.clear()  # the statement may add or remove what was counted
        return self.conn.execute(statement, parameters)

    # -- images and seqs -----------------------------------------------------------------------

    def claimed(self, image_id: int) -> Image | None:
        """The image, if this transaction holds it already, with its next seq taken."""
        image = self._claimed.get(image_id)
        if image is not None:
            image = self._claimed[image_id] = replace(image, seq=image.seq + 1)
        return image

    def claimed_url(self, tenant_id: str, url_id: str) -> Image | None:
        image_id = self._by_url.get((tenant_id, url_id))
        return None if image_id is None else self.claimed(image_id)

    def hold(self, tenant_id: str, image: Image) -> Image:
        """An image just claimed from the database: locked, its seq taken and written there."""
        self._claimed[image.id] = image
        self._by_url[(tenant_id, image.url_id)] = image.id
        self._written_seq[image.id] = image.seq
        return image

    # -- counts --------------------------------------------------------------------------------

    def count(self, key: Any, statement: Any, parameters: dict[str, Any]) -> int:
        """A count of rows, kept until another statement runs; `counted` adds to it."""
        if key not in self._counts:
            self._counts[key] = self.execute(statement, parameters).scalar_one()
        return self._counts[key]

    def counted(self, key: Any, added: int) -> None:
        if key in self._counts:
            self._counts[key] += added

    # -- rows ----------------------------------------------------------------------------------

    def add(self, table: Table, values: dict[str, Any], what: str | None = None) -> None:
        """Insert a row, held until the next statement or the end of the change. `what`: its id may
        be a client's choice, and one already taken is that client's `Conflict`."""
        self._held.setdefault(table, []).append(_Row(values, what))

    def flush(self) -> None:
        """Write what is held: the seqs taken, then the rows of each table."""
        seqs = {image_id: image.seq for image_id, image in self._claimed.items()
                if self._written_seq[image_id] != image.seq}
        held, self._held = self._held, {}
        inserts = [(table, held[table]) for table in _in_dependency_order(held) if table in held]
        # One row per table: SQLAlchemy caches the compiled form of single-row INSERTs, not of
        # multi-row ones (compiling costs more than a round trip), so a batch goes a table at a time.
        if self._one_statement and len(seqs) + len(inserts) > 1 and all(len(rows) == 1 for _table, rows in inserts):
            self._write_at_once(seqs, inserts)
        else:
            for image_id, seq in seqs.items():
                self.conn.execute(SET_SEQ, {"image": image_id, "seq": seq})
            for table, rows in inserts:
                try:
                    self.conn.execute(table.insert(), [row.values for row in rows])
                except IntegrityError:
                    _raise_conflict(rows)
                    raise  # several changes' rows: the batch is written again, a change at a time
        self._written_seq.update(seqs)

    def _write_at_once(self, seqs: dict[int, int], inserts: list[tuple[Table, list[_Row]]]) -> None:
        """One statement, built once for each shape of write, its values bound."""
        shape = (len(seqs), tuple((table, tuple(rows[0].values)) for table, rows in inserts))
        parameters = {f"image_{n}": image_id for n, image_id in enumerate(seqs)}
        parameters |= {f"seq_{n}": seq for n, seq in enumerate(seqs.values())}
        for table, rows in inserts:
            parameters |= {f"{table.name}_{column}": value for column, value in rows[0].values.items()}
        try:
            self.conn.execute(_write_at_once_statement(shape), parameters)
        except IntegrityError as error:
            violated = getattr(error.orig.__cause__, "table_name", None)  # asyncpg names the table
            _raise_conflict(next((rows for table, rows in inserts if table.name == violated), []))
            raise

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """Run a change in a savepoint, written out before it is released: if it fails, the
        database and what is held here are as they were before it."""
        before = dict(self._claimed), dict(self._by_url), dict(self._written_seq), dict(self._counts)
        try:
            with self.conn.begin_nested():
                yield
                self.flush()
        except BaseException:
            self._claimed, self._by_url, self._written_seq, self._counts = before
            self._held.clear()
            raise


def _raise_conflict(rows: list[_Row]) -> None:
    """The rows that broke a unique constraint are one client's chosen id: that is their Conflict."""
    if len(rows) == 1 and rows[0].what is not None:
        raise Conflict(rows[0].what, rows[0].values["id"]) from None


@functools.lru_cache(maxsize=64)
def _write_at_once_statement(shape: tuple[int, tuple[tuple[Table, tuple[str, ...]], ...]]) -> UpdateBase:
    """Seq updates and single-row INSERTs as data-modifying CTEs of the last of them."""
    seq_count, inserts = shape
    statements: list[UpdateBase] = [
        update(images).where(images.c.id == bindparam(f"image_{n}")).values(seq=bindparam(f"seq_{n}"))
        for n in range(seq_count)
    ]
    statements += [
        table.insert().values({column: bindparam(f"{table.name}_{column}") for column in columns})
        for table, columns in inserts
    ]
    *first, last = statements
    return last.add_cte(*(statement.cte(f"write_{n}") for n, statement in enumerate(first)))


def _in_dependency_order(held: dict[Table, list[_Row]]) -> list[Table]:
    """The tables of their schema, each after the tables its rows refer to."""
    return _sorted_tables(next(iter(held)).metadata) if held else []


@functools.cache
def _sorted_tables(schema: MetaData) -> list[Table]:
    return schema.sorted_tables  # a topological sort each time it is read
