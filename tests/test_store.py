"""Storage on a real SQLite file: seq order under concurrent writers, and atomic change + event."""

from __future__ import annotations

import asyncio
import sqlite3
from concurrent.futures import ThreadPoolExecutor
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError

from imagechat.database import create_engine
from imagechat.auth import Identity
from imagechat.migrate import upgrade
from imagechat.store import Store

ADA = Identity(id="author-ada", name="Ada")


def run(coroutine):
    """asyncio.run in a thread of its own: Playwright's sync API may hold this thread's loop."""
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, coroutine).result()


@pytest.fixture
def database(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'store.db'}"
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


def logged_seqs(url: str, url_id: str = "img") -> list[int]:
    with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
        rows = db.execute(
            "SELECT e.seq FROM events e JOIN images i ON i.id = e.image_id WHERE i.url_id = ? ORDER BY e.seq",
            (url_id,),
        )
        return [seq for (seq,) in rows]


def test_seq_is_gap_free_under_concurrent_writers_in_one_process(database: str) -> None:
    seqs = run(create_many(database, 40))
    assert sorted(seqs) == list(range(1, 41))
    assert logged_seqs(database) == list(range(1, 41))


def test_seq_is_gap_free_under_writers_in_separate_processes(database: str) -> None:
    script = (
        "import asyncio, sys; from tests.test_store import create_many; "
        "print(asyncio.run(create_many(sys.argv[1], 25)))"
    )
    root = Path(__file__).resolve().parent.parent
    workers = [
        subprocess.Popen([sys.executable, "-c", script, database], cwd=root, stdout=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    outputs = [worker.communicate(timeout=120)[0] for worker in workers]
    assert all(worker.returncode == 0 for worker in workers), outputs
    assert logged_seqs(database) == list(range(1, 76))
    with sqlite3.connect(database.removeprefix("sqlite:///")) as db:
        assert db.execute("SELECT seq FROM images WHERE url_id = 'img'").fetchone() == (75,)
        assert db.execute("SELECT count(*) FROM markers").fetchone() == (75,)


def test_each_image_has_its_own_seq(database: str) -> None:
    run(create_many(database, 3, "first"))
    run(create_many(database, 2, "second"))
    assert logged_seqs(database, "first") == [1, 2, 3]
    assert logged_seqs(database, "second") == [1, 2]


def test_a_change_whose_event_cannot_be_written_is_not_stored(database: str) -> None:
    run(create_many(database, 1))
    path = database.removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:
        # Occupy the next seq so that writing the event fails after the marker row is inserted.
        db.execute("INSERT INTO events (image_id, seq, type, payload, created_at) SELECT id, 2, 'x', '{}', 0 "
                   "FROM images WHERE url_id = 'img'")
    with pytest.raises(IntegrityError):
        run(create_many(database, 1))
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM markers").fetchone() == (1,)
        assert db.execute("SELECT count(*) FROM comments").fetchone() == (1,)
        assert db.execute("SELECT seq FROM images").fetchone() == (1,)


def test_event_payload_is_the_wire_event(database: str) -> None:
    seqs = run(create_many(database, 1))
    with sqlite3.connect(database.removeprefix("sqlite:///")) as db:
        kind, payload = db.execute("SELECT type, payload FROM events WHERE seq = ?", (seqs[0],)).fetchone()
    assert kind == "new-image-chat"
    assert payload.startswith('{"type":"new-image-chat","seq":1,') and " " not in payload.split('"text"')[0]
