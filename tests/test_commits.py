"""Group commit (storage/commits.py) on a real SQLite file: changes that wait together commit
together, a refused change undoes only itself, a lost lock conflict is retried whole."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from imagechat.storage.commits import GroupCommit
from imagechat.storage.database import Runner, Work, create_engine, runner_for
from imagechat.storage.errors import Full
from imagechat.storage.transaction import Transaction
from tests.services import run


class CountingRunner:
    """The real SQLite runner, counting the write transactions it runs."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self.writes = 0

    async def read(self, work: Work[Any]) -> Any:
        return await self.runner.read(work)

    async def write(self, work: Work[Any]) -> Any:
        self.writes += 1
        return await self.runner.write(work)

    async def close(self) -> None:
        await self.runner.close()


def insert(value: int) -> Any:
    def change(tx: Transaction) -> int:
        tx.execute(text("INSERT INTO things (value) VALUES (:value)"), {"value": value})
        return value

    return change


def stored(path: Path) -> list[int]:
    with sqlite3.connect(path) as db:
        return [value for (value,) in db.execute("SELECT value FROM things ORDER BY value")]


async def with_commits(path: Path, body: Any, *, one_lane: bool = True) -> Any:
    engine = create_engine(f"sqlite:///{path}")
    runner = CountingRunner(runner_for(engine))
    await runner.write(lambda conn: conn.execute(text("CREATE TABLE things (value INTEGER PRIMARY KEY)")))
    runner.writes = 0
    try:
        return await body(GroupCommit(runner, one_lane=one_lane), runner)
    finally:
        await runner.close()
        await engine.dispose()


def test_changes_that_wait_together_commit_in_few_transactions(tmp_path: Path) -> None:
    async def body(commits: GroupCommit[int], runner: CountingRunner) -> tuple[list[int], int]:
        answers = await asyncio.gather(*(commits.submit(n % 3, insert(n)) for n in range(100)))
        return answers, runner.writes

    answers, writes = run(with_commits(tmp_path / "db.sqlite", body))
    assert answers == list(range(100))  # each caller gets its own change's answer
    assert stored(tmp_path / "db.sqlite") == list(range(100))
    assert writes <= 3, f"100 changes waiting together took {writes} transactions"


def test_a_refused_change_undoes_only_itself(tmp_path: Path) -> None:
    def refused(tx: Transaction) -> int:
        tx.execute(text("INSERT INTO things (value) VALUES (1000)"))  # written, then undone
        raise Full("image", "too much")

    async def body(commits: GroupCommit[int], runner: CountingRunner) -> list[Any]:
        changes = [insert(n) for n in range(5)] + [refused] + [insert(n) for n in range(5, 10)]
        return await asyncio.gather(*(commits.submit("lane", change) for change in changes), return_exceptions=True)

    answers = run(with_commits(tmp_path / "db.sqlite", body))
    assert isinstance(answers[5], Full)
    assert answers[:5] + answers[6:] == list(range(10))
    assert stored(tmp_path / "db.sqlite") == list(range(10))


def test_a_database_error_in_one_change_fails_that_change_alone(tmp_path: Path) -> None:
    async def body(commits: GroupCommit[int], runner: CountingRunner) -> list[Any]:
        changes = [insert(1), insert(2), insert(1), insert(3)]  # the second 1 breaks the primary key
        return await asyncio.gather(*(commits.submit("lane", change) for change in changes), return_exceptions=True)

    answers = run(with_commits(tmp_path / "db.sqlite", body))
    assert answers[:2] == [1, 2] and answers[3] == 3
    assert "UNIQUE constraint failed" in str(answers[2])
    assert stored(tmp_path / "db.sqlite") == [1, 2, 3]


def test_a_lost_lock_conflict_reruns_the_whole_batch(tmp_path: Path) -> None:
    attempts = []

    def collides_once(tx: Transaction) -> int:
        attempts.append(1)
        if len(attempts) == 1:
            raise OperationalError("INSERT ...", {}, sqlite3.OperationalError("database is locked"))
        return insert(99)(tx)

    async def body(commits: GroupCommit[int], runner: CountingRunner) -> list[Any]:
        return await asyncio.gather(commits.submit("lane", insert(1)), commits.submit("lane", collides_once))

    assert run(with_commits(tmp_path / "db.sqlite", body)) == [1, 99]
    assert len(attempts) == 2
    assert stored(tmp_path / "db.sqlite") == [1, 99]


def test_a_caller_that_left_before_its_turn_changes_nothing(tmp_path: Path) -> None:
    gone_cancelled = threading.Event()

    def first(tx: Transaction) -> int:
        gone_cancelled.wait(10)  # the next change waits for this transaction meanwhile
        return insert(1)(tx)

    async def body(commits: GroupCommit[int], runner: CountingRunner) -> None:
        writing = asyncio.create_task(commits.submit("lane", first))
        while runner.writes == 0:  # until the first transaction is under way
            await asyncio.sleep(0)
        gone = asyncio.create_task(commits.submit("lane", insert(2)))
        await asyncio.sleep(0)
        gone.cancel()
        gone_cancelled.set()
        assert await writing == 1
        with pytest.raises(asyncio.CancelledError):
            await gone
        await commits.close()

    run(with_commits(tmp_path / "db.sqlite", body))
    assert stored(tmp_path / "db.sqlite") == [1]
