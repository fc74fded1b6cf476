"""`imagechat serve` and `imagechat migrate`."""

from __future__ import annotations

import argparse
import asyncio
import logging

import uvicorn

from imagechat import limits
from imagechat.app import create_app
from imagechat.config import Settings
from imagechat.database import create_engine
from imagechat.migrate import upgrade
from imagechat.store import Store


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="imagechat", description="Live conversations pinned on images.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="migrate the database, then serve the API, widget and demo")
    serve.add_argument("--host", help="interface to listen on (env IMAGECHAT_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (env IMAGECHAT_PORT, default 8000)")
    serve.add_argument("--database-url", help="env IMAGECHAT_DATABASE_URL, default sqlite:///imagechat.db")
    serve.add_argument("--broker-url", help="env IMAGECHAT_BROKER_URL, default memory://")
    serve.add_argument("--heartbeat-seconds", type=float, help="env IMAGECHAT_HEARTBEAT_SECONDS, default 15")
    serve.add_argument("--replay-limit", type=int, help="env IMAGECHAT_REPLAY_LIMIT, default 1000")
    migrate = commands.add_parser("migrate", help="bring the database to the latest schema")
    migrate.add_argument("--database-url", help="env IMAGECHAT_DATABASE_URL, default sqlite:///imagechat.db")
    rotate = commands.add_parser(
        "rotate-epochs", help="after restoring a backup: make every client reload instead of resuming"
    )
    rotate.add_argument("--database-url", help="env IMAGECHAT_DATABASE_URL, default sqlite:///imagechat.db")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    overrides = {key: value for key, value in vars(args).items() if key != "command"}
    settings = Settings.from_env(**overrides)
    upgrade(settings.database_url)
    if args.command == "rotate-epochs":
        print(f"new epochs for {asyncio.run(rotate_epochs(settings.database_url))} images")
    elif args.command == "serve":
        print(f"ImageChat is serving the demo at http://{settings.host}:{settings.port}/demo/", flush=True)
        uvicorn.run(
            create_app(settings),
            host=settings.host,
            port=settings.port,
            ws_max_size=limits.MAX_WS_MESSAGE_BYTES,
            log_level="info",
        )


async def rotate_epochs(database_url: str) -> int:
    engine = create_engine(database_url)
    try:
        return await Store(engine).rotate_epochs()
    finally:
        await engine.dispose()
