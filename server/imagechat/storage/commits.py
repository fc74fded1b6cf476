"""Group commit: the changes that arrive while a transaction is being written wait for it, then go
together into the next one: one commit (one fsync) for all of them. Every caller still gets its
own change's answer, only once it is durable, and a refused change must not undo the others: when
one is refused, the transaction is rolled back and the batch written again with each change in a
savepoint of its own (refusals are rare; savepoints for every change would cost two statements each).

Changes queue in lanes, one transaction at a time per lane. SQLite has one writer whatever we do,
so it has one lane. On PostgreSQL a lane is what a change names (an image, a marker, a comment):
each transaction then locks a single image, so two nodes' transactions never wait on each other
in opposite orders, and changes to different images commit side by side.
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from imagechat.storage.database import Runner
from imagechat.storage.errors import Busy
from imagechat.storage.transaction import Transaction

T = TypeVar("T")
Change = Callable[[Transaction], T]

# Changes written in one transaction at most, and waiting in one lane at most (past it: Busy).
MAX_BATCH = 200
MAX_WAITING = 10_000
# Attempts at a transaction that lost a lock conflict anyway (a deadlock with something outside
# the lock order, a serialization failure, a SQLite file busy with another process).
ATTEMPTS = 5
RETRY_BASE_SECONDS = 0.01
CONFLICT_SQLSTATES = {"40001", "40P01"}  # serialization_failure, deadlock_detected


def is_conflict(error: DBAPIError) -> bool:
    """A transient lock conflict, which rerunning the transaction can get past."""
    return getattr(error.orig, "sqlstate", None) in CONFLICT_SQLSTATES or "database is locked" in str(error.orig)


class _Waiting(Generic[T]):
    __slots__ = ("change", "answer")

    def __init__(self, change: Change[T], answer: asyncio.Future[T]) -> None:
        self.change = change
        self.answer = answer


class GroupCommit(Generic[T]):
    def __init__(self, runner: Runner, *, one_lane: bool) -> None:
        self._runner = runner
        self._one_lane = one_lane
        self._lanes: dict[Hashable, deque[_Waiting[T]]] = {}
        self._drains: set[asyncio.Task[None]] = set()

    async def submit(self, lane: Hashable, change: Change[T]) -> T:
        """Run `change` in the lane's next transaction; its result once committed, or its error."""
        key = None if self._one_lane else lane
        waiting = self._lanes.get(key)
        if waiting is None:
            waiting = self._lanes[key] = deque()
            drain = asyncio.create_task(self._drain(key, waiting), name="group-commit")
            self._drains.add(drain)
            drain.add_done_callback(self._drains.discard)
        elif len(waiting) >= MAX_WAITING:
            raise Busy()
        answer: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        waiting.append(_Waiting(change, answer))
        return await answer

    async def _drain(self, key: Hashable, waiting: deque[_Waiting[T]]) -> None:
        """Commit what waits in the lane, a batch at a time, until it is empty."""
        try:
            while waiting:
                batch = [waiting.popleft() for _ in range(min(len(waiting), MAX_BATCH))]
                batch = [item for item in batch if not item.answer.cancelled()]  # its caller left
                if batch:
                    await self._commit(batch)
        finally:
            del self._lanes[key]

    async def _commit(self, batch: list[_Waiting[T]]) -> None:
        changes = [item.change for item in batch]
        try:
            outcomes = await self._with_retries(changes)
        except BaseException as error:
            for item in batch:
                if not item.answer.done():
                    item.answer.set_exception(error if isinstance(error, Exception) else Busy())
            if not isinstance(error, Exception):
                raise
            return
        for item, outcome in zip(batch, outcomes):
            if item.answer.done():
                continue
            if isinstance(outcome, Exception):
                item.answer.set_exception(outcome)
            else:
                item.answer.set_result(outcome)

    async def _with_retries(self, changes: list[Change[T]]) -> list[T | Exception]:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return await self._write(changes)
            except DBAPIError as error:
                if not is_conflict(error):
                    raise
                # Jittered, growing pauses so that the transactions that collided do not meet again.
                await asyncio.sleep(random.uniform(0, RETRY_BASE_SECONDS * 2**attempt))
        raise Busy()

    async def _write(self, changes: list[Change[T]]) -> list[T | Exception]:
        """All changes in one go, the common case; if one is refused, nothing is written and
        they are written again, each in a savepoint (two more statements each on PostgreSQL)."""
        try:
            return await self._runner.write(lambda conn: all_at_once(conn, changes))
        except Exception as error:  # a StorageError (refused), or a database error or bug of one change
            if isinstance(error, DBAPIError) and is_conflict(error):
                raise  # the whole transaction lost a lock conflict: retried whole
            refusal = error
        if len(changes) == 1:
            return [refusal]
        return await self._runner.write(lambda conn: one_by_one(conn, changes))

    async def close(self) -> None:
        """Wait for the batches under way (their changes were accepted)."""
        if self._drains:
            await asyncio.wait(set(self._drains))


def all_at_once(conn: Connection, changes: list[Change[T]]) -> list[T]:
    """The changes, then the rows they hold written together."""
    tx = Transaction(conn)
    outcomes = [change(tx) for change in changes]
    tx.flush()
    return outcomes


def one_by_one(conn: Connection, changes: list[Change[T]]) -> list[T | Exception]:
    """Each change in its own savepoint: one refused (or failing) undoes itself alone. A lock
    conflict ends the whole transaction, which is retried whole."""
    tx = Transaction(conn)
    outcomes: list[T | Exception] = []
    for change in changes:
        outcome: T | Exception
        try:
            with tx.savepoint():  # its held rows are written before it is released: they may fail it
                outcome = change(tx)
        except Exception as refused:  # a StorageError, or a database error or bug of this change
            if isinstance(refused, DBAPIError) and is_conflict(refused):
                raise
            outcome = refused
        outcomes.append(outcome)
    return outcomes
