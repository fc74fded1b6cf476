"""The `imagechat` command: serve, migrate, rotate-epochs, and tenant administration."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import resource
from collections.abc import Awaitable, Callable
from typing import Any

import uvicorn

from imagechat import protocol
from imagechat.app import create_app
from imagechat.config import Settings
from imagechat.security.connections import protocols
from imagechat.storage.database import create_engine
from imagechat.errors import ApiError
from imagechat.storage.migrate import upgrade
from imagechat.storage.store import Store
from imagechat.security.tenants import Tenant, Tenants
from imagechat.webhooks import admin

# Settings that are not flags: paths of the checkout, and the key (flags show in `ps`; use the env).
NOT_FLAGS = {"public_dir", "widget_dir", "secret_key"}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="imagechat", description="Live conversations pinned on images.")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="migrate the database, then serve the API, widget and demo")
    for option in dataclasses.fields(Settings):
        if option.name not in NOT_FLAGS:
            flag, env = "--" + option.name.replace("_", "-"), f"env IMAGECHAT_{option.name.upper()}"
            if isinstance(option.default, bool):  # --ws-deflate / --no-ws-deflate
                serve.add_argument(flag, action=argparse.BooleanOptionalAction, default=None,
                                   help=f"{env} (1 or 0), default {'on' if option.default else 'off'}")
            else:
                serve.add_argument(flag, type=type(option.default), help=f"{env}, default {option.default!r}")
    database_only = [commands.add_parser("migrate", help="bring the database to the latest schema"),
                     commands.add_parser("rotate-epochs",
                                         help="after restoring a backup: clients reload instead of resuming")]

    tenant = commands.add_parser("tenant", help="manage tenants (the sites using ImageChat)")
    tenant_commands = tenant.add_subparsers(dest="action", required=True)
    create = tenant_commands.add_parser("create", help="add a tenant; prints its id and API secret")
    create.add_argument("name", help="display name, e.g. 'Acme Design'")
    create.add_argument("--origin", action="append", default=[], required=True,
                        help="an origin allowed to use it, e.g. https://acme.example (repeat for more)")
    create.add_argument("--id", help="tenant id (default: made from the name)")
    create.add_argument("--readonly", action="store_true", help="viewing only")
    update = tenant_commands.add_parser("update", help="change a tenant's origins or read-only mode")
    update.add_argument("id")
    update.add_argument("--origin", action="append", help="replaces the allowed origins (repeat for more)")
    update.add_argument("--readonly", action=argparse.BooleanOptionalAction, default=None)
    tenant_commands.add_parser("list", help="every tenant with its origins")
    rotate = tenant_commands.add_parser("rotate-secret", help="new API secret (the old one stops working)")
    rotate.add_argument("id")
    remove = tenant_commands.add_parser("delete", help="delete a tenant and all its threads")
    remove.add_argument("id")
    database_only += [create, update, tenant_commands.choices["list"], rotate, remove]
    database_only += add_webhook_commands(commands)
    for command in database_only:
        command.add_argument("--database-url", help="env IMAGECHAT_DATABASE_URL, default sqlite:///imagechat.db")

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    options = {key: value for key, value in vars(args).items() if key in {f.name for f in dataclasses.fields(Settings)}}
    settings = Settings.from_env(**options)
    upgrade(settings.database_url)
    if args.command == "serve":
        serve_forever(settings)
    elif args.command == "rotate-epochs":
        count = run_with_engine(settings, lambda engine: Store(engine).rotate_epochs())
        print(f"new epochs for {count} images")
    elif args.command == "tenant":
        try:
            run_with_engine(settings, lambda engine: administer(Tenants(engine), args))
        except (ApiError, ValueError) as error:
            parser.exit(2, f"imagechat tenant {args.action}: {error}\n")
    elif args.command == "webhook":
        try:
            accepted = run_with_engine(settings, lambda engine: administer_webhooks(engine, args))
        except (ApiError, ValueError) as error:
            parser.exit(2, f"imagechat webhook {args.action}: {error}\n")
        if not accepted:
            parser.exit(1)


class DenialNoiseFilter(logging.Filter):
    """uvicorn 0.54 logs "returned without completing handshake" as an ERROR even after an ASGI
    denial response (our refused handshakes: too many connections, a Host not served): not an error."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "without completing handshake" not in record.getMessage()


def raise_open_file_limit() -> None:
    """Every connection holds a file descriptor: take all the system allows (the soft limit is often 1024)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):  # e.g. an unlimited hard limit that the system will not grant as is
        logging.getLogger("imagechat").warning("open-file limit stays at %s", soft)


def require_browser_files(settings: Settings) -> None:
    """A wheel built without the browser files (plain `pip install .`) cannot serve its widget:
    say so at once, and how to build one that can."""
    if not (settings.public_dir / "embed.js").is_file() or not (settings.widget_dir / "main.py").is_file():
        raise SystemExit(f"imagechat: the widget's browser files are missing ({settings.public_dir}): "
                         "install a wheel built by `scripts/dev wheel`, or run from a checkout")


def serve_forever(settings: Settings) -> None:
    require_browser_files(settings)
    logging.getLogger("uvicorn.error").addFilter(DenialNoiseFilter())
    raise_open_file_limit()
    http_protocol, ws_protocol = protocols(settings)
    scheme = "https" if settings.ssl_certfile else "http"
    print(f"ImageChat is serving the demo at {scheme}://{settings.host}:{settings.port}/demo/", flush=True)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        ssl_certfile=settings.ssl_certfile or None,
        ssl_keyfile=settings.ssl_keyfile or None,
        http=http_protocol,
        ws=ws_protocol,
        timeout_keep_alive=settings.keep_alive_seconds,
        ws_max_size=protocol.MAX_FRAME_BYTES,
        # A client gone without a close (a killed tab behind a NAT, a dead network) answers no
        # WebSocket ping: its socket is closed within two heartbeats, and it leaves the presence.
        ws_ping_interval=settings.heartbeat_seconds,
        ws_ping_timeout=settings.heartbeat_seconds,
        # Off by default: measured in benchmarks/deflate.py (README, "What a viewer costs").
        ws_per_message_deflate=settings.ws_deflate,
        access_log=settings.access_log,
        log_level="info",
    )


def run_with_engine(settings: Settings, work: Callable[[Any], Awaitable[Any]]) -> Any:
    async def run() -> Any:
        engine = create_engine(settings.database_url)
        try:
            return await work(engine)
        finally:
            await engine.dispose()

    return asyncio.run(run())


async def administer(tenants: Tenants, args: argparse.Namespace) -> None:
    if args.action == "create":
        show(await tenants.create(args.name, args.origin, args.id, args.readonly), with_secret=True)
    elif args.action == "update":
        show(await tenants.update(args.id, origins=args.origin, readonly=args.readonly))
    elif args.action == "list":
        for tenant in await tenants.all():
            show(tenant)
    elif args.action == "rotate-secret":
        show(await tenants.update(args.id, new_secret=True), with_secret=True)
    elif args.action == "delete":
        await tenants.delete(args.id)
        print(f"deleted tenant {args.id}")


def show(tenant: Tenant, with_secret: bool = False) -> None:
    mode = " (read-only)" if tenant.readonly else ""
    print(f"{tenant.id}\t{tenant.name}{mode}\torigins: {' '.join(tenant.origins)}")
    if with_secret:
        print(f"api secret: {tenant.secret}")


# -- webhooks (README, "Webhooks") ---------------------------------------------------------------


def add_webhook_commands(commands: Any) -> list[argparse.ArgumentParser]:
    webhook = commands.add_parser("webhook", help="manage the URLs that receive a tenant's events")
    actions = webhook.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="send the tenant's events from now on to URL; prints the webhook's id")
    add.add_argument("tenant")
    add.add_argument("url", help="an http:// or https:// URL")
    listed = actions.add_parser("list", help="webhooks (of one tenant), with their delivery failures")
    listed.add_argument("tenant", nargs="?")
    remove = actions.add_parser("remove", help="stop sending to a webhook")
    remove.add_argument("id")
    test = actions.add_parser("test", help="send a signed test POST; prints the answer's status")
    test.add_argument("id")
    return [add, listed, remove, test]


async def administer_webhooks(engine: Any, args: argparse.Namespace) -> bool:
    """Do it and print the outcome; False when a test POST was not accepted."""
    if args.action == "add":
        webhook = await admin.add(engine, args.tenant, args.url)
        print(f"{webhook.id}\t{webhook.tenant_id}\t{webhook.url}")
    elif args.action == "list":
        for webhook in await admin.listing(engine, args.tenant):
            failing = f"\tfailing: {webhook.last_error}" if webhook.last_error else ""
            print(f"{webhook.id}\t{webhook.tenant_id}\t{webhook.url}\tgiven up: {webhook.given_up}{failing}")
    elif args.action == "remove":
        await admin.remove(engine, args.id)
        print(f"removed webhook {args.id}")
    elif args.action == "test":
        accepted, status = await admin.send_test(engine, args.id)
        print(status)
        return accepted
    return True
