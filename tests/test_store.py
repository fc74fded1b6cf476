"""Storage on real databases (a SQLite file; PostgreSQL): seq order under concurrent writers in
one and in several processes, and a change written atomically with its event."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from imagechat.auth import Identity
from imagechat.database import create_engine
from imagechat.migrate import upgrade
from imagechat.store import Store
from tests.services import run

ADA = Identity(id="author-ada", name="Ada")


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
