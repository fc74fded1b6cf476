"""A group-commit transaction (storage/transaction.py) on a real SQLite file: rows held until the
next statement, which sees them; a failed savepoint forgets what it held and the seqs it took; a
held row whose client-chosen id is taken is that change's Conflict. The same, through the store,
on SQLite and PostgreSQL: many new markers on one image cost a few statements, not five each."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Column, Connection, Engine, Integer, MetaData, String, Table, create_engine, event, func, select
from sqlalchemy.exc import IntegrityError

from imagechat.storage.database import create_engine as create_store_engine
from imagechat.storage.errors import Conflict
from imagechat.storage.migrate import upgrade
from imagechat.storage.schema import metadata as store_schema
from imagechat.storage.store import Author, Store
from imagechat.storage.transaction import Image, Transaction
from tests.services import run
from tests.test_store import logged_seqs, query

ADA = Author(id="author-ada", name="Ada")
schema = MetaData()
things = Table("things", schema, Column("id", String, primary_key=True), Column("value", Integer))
COUNT_THINGS = select(func.count()).select_from(things)


@pytest.fixture
def conn(tmp_path: Path) -> Any:
    engine = create_engine(f"sqlite:///{tmp_path / 'things.db'}")
    schema.create_all(engine)
    store_schema.create_all(engine)  # the seqs taken are written to its images table
    with engine.connect() as connection:
        yield connection
    engine.dispose()


def test_held_rows_are_written_before_the_next_statement_which_sees_them(conn: Connection) -> None:
    tx = Transaction(conn)
    tx.add(things, {"id": "a", "value": 1})
    tx.add(things, {"id": "b", "value": 2})
    assert conn.execute(COUNT_THINGS).scalar_one() == 0  # held: not written yet
    assert tx.execute(COUNT_THINGS).scalar_one() == 2


def test_a_count_is_kept_and_added_to_until_another_statement_runs(conn: Connection) -> None:
    tx = Transaction(conn)
    assert tx.count("things", COUNT_THINGS, {}) == 0
    tx.add(things, {"id": "a", "value": 1})
    tx.counted("things", 1)
    assert tx.count("things", COUNT_THINGS, {}) == 1  # kept: no statement ran
    tx.execute(things.delete())  # may change what was counted
    assert tx.count("things", COUNT_THINGS, {}) == 0


def test_a_failed_savepoint_forgets_its_rows_and_the_seqs_it_took(conn: Connection) -> None:
    tx = Transaction(conn)
    tx.hold("demo", Image(id=7, url_id="img", seq=3, epoch="e"))
    with tx.savepoint():
        assert tx.claimed(7).seq == 4
        tx.add(things, {"id": "kept", "value": 4})
    with pytest.raises(RuntimeError), tx.savepoint():
        assert tx.claimed_url("demo", "img").seq == 5
        tx.add(things, {"id": "undone", "value": 5})
        raise RuntimeError("refused")
    assert tx.claimed(7).seq == 5  # the refused change's seq is taken again: no gap
    assert [row.id for row in tx.execute(select(things.c.id))] == ["kept"]


def test_a_taken_id_is_the_conflict_of_the_change_that_chose_it(conn: Connection) -> None:
    tx = Transaction(conn)
    tx.execute(things.insert().values(id="taken", value=0))
    tx.add(things, {"id": "taken", "value": 1}, "marker")
    with pytest.raises(Conflict) as refused:
        tx.flush()
    assert "a marker with id 'taken' already exists" in str(refused.value)
    # Several changes' rows: not one change's fault, the batch is written again one by one.
    tx.add(things, {"id": "new", "value": 2}, "marker")
    tx.add(things, {"id": "taken", "value": 3}, "marker")
    with pytest.raises(IntegrityError):
        tx.flush()


# -- through the store, on SQLite and PostgreSQL -----------------------------------------------


@pytest.fixture
def url(tmp_path: Path, database) -> str:
    url = database() or f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(url)
    return url


async def create_counting_statements(url: str, count: int, **chosen: str) -> tuple[list[Any], list[str]]:
    """`count` new markers on one image at once (the n-th with `chosen[n]` as its marker id), and
    the statements the database was sent for them."""
    engine = create_store_engine(url)
    statements = []

    def note(*args: Any) -> None:
        statements.append(args[2])

    # On every engine: SQLite's runner has a synchronous engine of its own.
    event.listen(Engine, "before_cursor_execute", note)
    store = Store(engine)
    try:
        answers = await asyncio.gather(*(
            store.create_marker("demo", "img", ADA, 0.5, 0.5, f"comment {n}", None, marker_id=chosen.get(str(n)))
            for n in range(count)
        ), return_exceptions=True)
    finally:
        event.remove(Engine, "before_cursor_execute", note)
        await store.close()
        await engine.dispose()
    return answers, statements


def test_many_new_markers_on_one_image_cost_a_few_statements(url: str) -> None:
    answers, statements = run(create_counting_statements(url, 60))
    assert sorted(answer.seq for answer in answers) == list(range(1, 61))
    assert logged_seqs(url) == list(range(1, 61))
    assert query(url, "SELECT seq FROM images WHERE url_id = 'img'") == [(60,)]
    assert query(url, "SELECT count(*) FROM markers") == query(url, "SELECT count(*) FROM comments") == [(60,)]
    # Five statements each when written one by one: 300.
    assert len(statements) < 60, f"60 new markers took {len(statements)} statements"
    # Fewer changes than the cap (500) so far: fewer markers, nothing to count.
    assert not [statement for statement in statements if "count(" in statement.lower()]


def test_a_refused_marker_among_many_leaves_the_others_and_no_gap(url: str) -> None:
    run(create_counting_statements(url, 1, **{"0": "taken-id"}))
    answers, _statements = run(create_counting_statements(url, 20, **{"7": "taken-id"}))
    assert isinstance(answers[7], Conflict)
    assert all(not isinstance(answer, Exception) for n, answer in enumerate(answers) if n != 7)
    assert logged_seqs(url) == list(range(1, 21))  # the first marker, then 19 of the 20
    assert query(url, "SELECT count(*) FROM markers") == [(20,)]


@pytest.mark.parametrize("chosen", ["marker", "comment"])
def test_a_lone_change_whose_chosen_id_is_taken_gets_a_conflict_naming_it(url: str, chosen: str) -> None:
    """A lone change's rows go in one statement on PostgreSQL: the refusal still names the right id."""

    async def create(n: int) -> Any:
        engine = create_store_engine(url)
        store = Store(engine)
        try:
            ids = {"marker_id": f"marker-{n}", "comment_id": f"comment-{n}"}
            ids[f"{chosen}_id"] = f"taken-{chosen}"
            return await store.create_marker("demo", "img", ADA, 0.5, 0.5, "hello", None, **ids)
        except Conflict as refused:
            return refused
        finally:
            await store.close()
            await engine.dispose()

    assert run(create(1)).seq == 1
    refused = run(create(2))
    assert isinstance(refused, Conflict)
    assert f"a {chosen} with id 'taken-{chosen}' already exists" in str(refused)
    assert logged_seqs(url) == [1]  # nothing of it kept, its seq not taken
    assert query(url, "SELECT count(*) FROM markers") == query(url, "SELECT count(*) FROM comments") == [(1,)]
