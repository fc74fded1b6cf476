"""Engine creation: one code path for SQLite (default) and PostgreSQL."""

from __future__ import annotations

import os

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

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


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        # Let SQLAlchemy, not the driver, emit BEGIN, so that writers can take the lock up front.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(connection) -> None:  # type: ignore[no-untyped-def]
        # A deferred transaction that later writes can fail with SQLITE_BUSY without waiting;
        # BEGIN IMMEDIATE queues writers on the busy timeout instead, across processes too.
        immediate = connection.get_execution_options().get("imagechat_write")
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
