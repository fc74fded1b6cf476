"""Bring a database to the latest schema with Alembic (run by `imagechat serve` at start)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from alembic import command
from alembic.config import Config


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", "imagechat.storage:migrations")
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str) -> None:
    # The migration environment runs its own event loop: keep it off any loop the caller runs.
    with ThreadPoolExecutor(1) as thread:
        thread.submit(command.upgrade, alembic_config(database_url), "head").result()
