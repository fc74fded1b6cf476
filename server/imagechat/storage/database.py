"""Engines, and where the store's database work runs: one code path for SQLite (default) and
PostgreSQL.

The store writes its reads and changes as plain synchronous SQLAlchemy Core functions of a
`Connection`; a `Runner` runs each one in a transaction, in the way that is cheapest for its
database. SQLite's driver is synchronous: through aiosqlite every statement is three trips to a
worker thread and back, so the store's work runs whole in threads of its own (one writer: SQLite
has one anyway; a few readers), a trip per transaction. asyncpg is asynchronous: the same
functions run on the event loop through SQLAlchemy's `run_sync`."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol, TypeVar

from sqlalchemy import Connection, Engine, create_engine as create_sync_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

T = TypeVar("T")
Work = Callable[[Connection], T]
# Threads that read a SQLite file at once (WAL: readers never wait for the writer).
SQLITE_READ_THREADS = 4

ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}

# Execution option that marks a connection whose transaction writes (see `_begin`).
WRITE = {"imagechat_write": True}


def async_url(url: str) -> str:
    """`sqlite:///x.db` -> `sqlite+aiosqlite:///x.db`; URLs naming a driver are kept."""
    parsed = make_url(url)
    if parsed.drivername in ASYNC_DRIVERS:
        parsed = parsed.set(drivername=ASYNC_DRIVERS[parsed.drivername])
    return parsed.render_as_string(hide_password=False)


def create_engine(url: str) -> AsyncEngine:
    engine = create_async_engine(async_url(url))
    if engine.dialect.name == "sqlite":
        _create_private_file(engine.url.database)
        _configure_sqlite(engine)
    return engine


def _create_private_file(path: str | None) -> None:
    """The database holds API secrets and the session-signing key: only its owner may read it.
    SQLite gives its -wal and -shm files the mode of the database file."""
    if not path or path == ":memory:" or path.startswith("file:"):
        return
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))


def _configure_sqlite(engine: AsyncEngine | Engine) -> None:
    sync_engine = engine.sync_engine if isinstance(engine, AsyncEngine) else engine

    @event.listens_for(sync_engine, "connect")
    def _connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        # Let SQLAlchemy, not the driver, emit BEGIN, so that writers can take the lock up front.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _begin(connection) -> None:  # type: ignore[no-untyped-def]
        # A deferred transaction that later writes can fail with SQLITE_BUSY without waiting;
        # BEGIN IMMEDIATE queues writers on the busy timeout instead, across processes too.
        immediate = connection.get_execution_options().get("imagechat_write")
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class Runner(Protocol):
    """Runs the store's synchronous work, each call in one transaction of its own."""

    async def read(self, work: Work[T]) -> T: ...
    async def write(self, work: Work[T]) -> T: ...
    async def close(self) -> None: ...


def runner_for(engine: AsyncEngine) -> Runner:
    if engine.dialect.name == "sqlite":
        return ThreadRunner(engine)
    return LoopRunner(engine)


class ThreadRunner:
    """SQLite: a synchronous engine on the same file, its writes in one thread, reads in a few.
    Each thread keeps its connection between transactions: taking one from the pool and giving
    it back cost a sixth of a lone change's time in the writer."""

    def __init__(self, engine: AsyncEngine) -> None:
        url = engine.url.set(drivername="sqlite")
        self._engine = create_sync_engine(url, pool_size=SQLITE_READ_THREADS + 1)
        _configure_sqlite(self._engine)
        self._writer = self._engine.execution_options(**WRITE)
        self._write_thread = ThreadPoolExecutor(1, thread_name_prefix="imagechat-write")
        self._read_threads = ThreadPoolExecutor(SQLITE_READ_THREADS, thread_name_prefix="imagechat-read")
        self._kept = threading.local()  # this thread's connection
        self._connections: list[Connection] = []  # every thread's, to close at the end

    async def read(self, work: Work[T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._read_threads, self._in_transaction, self._engine, work)

    async def write(self, work: Work[T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._write_thread, self._in_transaction, self._writer, work)

    async def close(self) -> None:
        for threads in (self._write_thread, self._read_threads):
            await asyncio.get_running_loop().run_in_executor(None, threads.shutdown)
        for conn in self._connections:
            conn.close()
        self._engine.dispose()

    def _in_transaction(self, engine: Engine, work: Work[T]) -> T:
        conn: Connection | None = getattr(self._kept, "conn", None)
        if conn is None or conn.invalidated:
            conn = self._kept.conn = engine.connect()
            self._connections.append(conn)
        with conn.begin():
            return work(conn)


class LoopRunner:
    """PostgreSQL (asyncpg): on the event loop, through `run_sync`. Reads see one state throughout."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def read(self, work: Work[T]) -> T:
        async with self._engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="REPEATABLE READ")
            async with conn.begin():
                return await conn.run_sync(work)

    async def write(self, work: Work[T]) -> T:
        async with self._engine.begin() as conn:
            return await conn.run_sync(work)

    async def close(self) -> None:
        pass  # the engine is its owner's to dispose
