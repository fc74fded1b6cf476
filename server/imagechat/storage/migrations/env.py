"""Alembic environment: runs migrations through the same async engine as the server."""

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from imagechat.storage.database import create_engine
from imagechat.storage.schema import metadata


def run_migrations(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations() -> None:
    engine = create_engine(context.config.get_main_option("sqlalchemy.url"))
    async with engine.connect() as connection:
        await connection.run_sync(run_migrations)
    await engine.dispose()


asyncio.run(run_async_migrations())
