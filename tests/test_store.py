"""Storage on real databases (a SQLite file; PostgreSQL): seq order under concurrent writers in
one and in several processes, and a change written atomically with its event."""

from __future__ import annotations

import asyncio
import subprocess
from concurrent.futures import ThreadPoolExecutor
import sys
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from imagechat.storage.database import create_engine
from imagechat.storage.migrate import alembic_config, upgrade
from imagechat.storage.store import Author, Store
from tests.services import run

ADA = Author(id="author-ada", name="Ada")


@pytest.fixture
def url(tmp_path: Path, database) -> str:
    url = database() or f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(url)
    return url


async def create_many(url: str, count: int, url_id: str = "img") -> list[int]:
    engine = create_engine(url)
    store = Store(engine)
    try:
        changes = await asyncio.gather(
            *(store.create_marker("demo", url_id, ADA, 0.5, 0.5, f"comment {n}", None) for n in range(count))
        )
    finally:
        await engine.dispose()
    return [change.seq for change in changes]


def query(url: str, sql: str, **params) -> list[tuple]:
    async def execute() -> list[tuple]:
        engine = create_engine(url)
        try:
            async with engine.begin() as conn:
                result = await conn.execute(text(sql), params)
                return [tuple(row) for row in result] if result.returns_rows else []
        finally:
            await engine.dispose()

    return run(execute())


def logged_seqs(url: str, url_id: str = "img") -> list[int]:
    rows = query(url, "SELECT e.seq FROM events e JOIN images i ON i.id = e.image_id "
                      "WHERE i.url_id = :url_id ORDER BY e.seq", url_id=url_id)
    return [seq for (seq,) in rows]


def test_seq_is_gap_free_under_concurrent_writers_in_one_process(url: str) -> None:
    seqs = run(create_many(url, 40))
    assert sorted(seqs) == list(range(1, 41))
    assert logged_seqs(url) == list(range(1, 41))


def test_seq_is_gap_free_under_writers_in_separate_processes(url: str) -> None:
    script = (
        "import asyncio, sys; from tests.test_store import create_many; "
        "print(asyncio.run(create_many(sys.argv[1], 25)))"
    )
    root = Path(__file__).resolve().parent.parent
    workers = [
        subprocess.Popen([sys.executable, "-c", script, url], cwd=root, stdout=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    outputs = [worker.communicate(timeout=120)[0] for worker in workers]
    assert all(worker.returncode == 0 for worker in workers), outputs
    assert logged_seqs(url) == list(range(1, 76))
    assert query(url, "SELECT seq FROM images WHERE url_id = 'img'") == [(75,)]
    assert query(url, "SELECT count(*) FROM markers") == [(75,)]


def test_each_image_has_its_own_seq(url: str) -> None:
    run(create_many(url, 3, "first"))
    run(create_many(url, 2, "second"))
    assert logged_seqs(url, "first") == [1, 2, 3]
    assert logged_seqs(url, "second") == [1, 2]


def test_a_change_whose_event_cannot_be_written_is_not_stored(url: str) -> None:
    run(create_many(url, 1))
    # Occupy the next seq so that writing the event fails after the marker row is inserted.
    query(url, "INSERT INTO events (image_id, seq, type, payload, created_at) "
               "SELECT id, 2, 'x', '{}', 0 FROM images WHERE url_id = 'img'")
    with pytest.raises(IntegrityError):
        run(create_many(url, 1))
    assert query(url, "SELECT count(*) FROM markers") == [(1,)]
    assert query(url, "SELECT count(*) FROM comments") == [(1,)]
    assert query(url, "SELECT seq FROM images") == [(1,)]


def test_event_payload_is_the_wire_event(url: str) -> None:
    seqs = run(create_many(url, 1))
    [(kind, payload)] = query(url, "SELECT type, payload FROM events WHERE seq = :seq", seq=seqs[0])
    assert kind == "new-image-chat"
    assert payload.startswith('{"type":"new-image-chat","seq":1,') and " " not in payload.split('"text"')[0]


def test_migrating_a_0003_database_scopes_ids_to_tenants(tmp_path: Path, database) -> None:
    url = database() or f"sqlite:///{tmp_path / 'old.db'}"
    with ThreadPoolExecutor(1) as thread:  # Alembic runs its own event loop
        thread.submit(command.upgrade, alembic_config(url), "0003").result()
    query(url, "INSERT INTO tenants (id, name, created_at) VALUES ('other', 'Other', 0)")
    query(url, "INSERT INTO images (id, tenant_id, url_id, seq, epoch, created_at) "
               "VALUES (1, 'demo', 'img', 2, 'e1', 0), (2, 'other', 'img', 1, 'e2', 0)")
    query(url, "INSERT INTO markers (id, image_id, x, y, author_id, author_name, created_at, updated_at) "
               "VALUES ('marker-one', 1, 0.5, 0.5, 'a', 'Ada', 1, 1), ('marker-two', 2, 0.5, 0.5, 'b', 'Bo', 1, 1)")
    query(url, "INSERT INTO comments (id, marker_id, author_id, author_name, text, created_at, updated_at) "
               "VALUES ('comment-1', 'marker-one', 'a', 'Ada', 'hi', 1, 1), ('comment-2', 'marker-one', 'a', 'Ada', "
               "'again', 2, 2), ('comment-3', 'marker-two', 'b', 'Bo', 'there', 1, 1)")
    root = Path(__file__).resolve().parent.parent
    subprocess.run([sys.executable, "-m", "imagechat", "migrate", "--database-url", url], cwd=root, check=True)

    assert query(url, "SELECT tenant_id, id FROM markers ORDER BY id") == [("demo", "marker-one"), ("other", "marker-two")]
    assert query(url, "SELECT tenant_id, id, marker_id FROM comments ORDER BY id") == [
        ("demo", "comment-1", "marker-one"), ("demo", "comment-2", "marker-one"), ("other", "comment-3", "marker-two")]

    async def use() -> dict:
        engine = create_engine(url)
        store = Store(engine)
        try:
            # The other tenant may now use demo's ids; demo's thread is untouched by it.
            await store.create_marker("other", "img", ADA, 0.1, 0.1, "mine", None, "marker-one", "comment-1")
            await store.delete_marker("other", "marker-two", Author(id="b", name="Bo"), None)
            return await store.snapshot("demo", "img")
        finally:
            await engine.dispose()

    snapshot = run(use())
    assert [(m["id"], m["commentCount"], m["comments"][0]["text"]) for m in snapshot["markers"]] == [("marker-one", 2, "hi")]
    assert query(url, "SELECT tenant_id, id FROM comments ORDER BY tenant_id, id") == [
        ("demo", "comment-1"), ("demo", "comment-2"), ("other", "comment-1")]  # comment-3 went with its marker
