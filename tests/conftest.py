"""Shared fixtures: real `imagechat serve` processes on free ports, and Debian's Chromium."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext

import imagechat.protocol
import imagechat_widget
from tests.services import Postgres, Redis, answers_health, free_port, polled, run, wait_until  # noqa: F401 (tests import wait_until from here)

# In the browser the widget's `imagechat_widget.protocol` is the server's own protocol.py, served
# under that name (never copied): the same module stands in for it here.
sys.modules["imagechat_widget.protocol"] = imagechat.protocol
imagechat_widget.protocol = imagechat.protocol

CHROMIUM = os.environ.get("IMAGECHAT_CHROMIUM", "/usr/bin/chromium")
# Without the networking flags Chromium tries to reach outside hosts at start.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
]


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """Workers for `-n auto` (pyproject's default): one more than the cores, as the tests spend
    much of their time waiting on servers and browsers (IMAGECHAT_TEST_WORKERS to change; `-n 0`
    runs the suite in this process alone)."""
    return int(os.environ.get("IMAGECHAT_TEST_WORKERS") or (os.cpu_count() or 1) + 1)


class ServerProcess:
    """`python -m imagechat serve` on its own port and SQLite file, as a user would run it."""

    def __init__(self, db_path: Path, port: int | None = None, *flags: str, env: dict[str, str] | None = None,
                 scheme: str = "http", verify: bool | str = True, database_url: str | None = None) -> None:
        self.db_path = db_path
        self.database_url = database_url or f"sqlite:///{db_path}"
        self.flags = flags
        self.env = {**os.environ, **(env or {})}
        self.port = port or free_port()
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self.ws_url = f"{scheme.replace('http', 'ws')}://127.0.0.1:{self.port}/api/v1/tenants/demo/live"
        self.verify = verify  # for https test servers: the CA file that signed their certificate
        self.log_path = db_path.with_suffix(".log")
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> "ServerProcess":
        command = [
            sys.executable, "-m", "imagechat", "serve", "--port", str(self.port),
            "--database-url", self.database_url, *self.flags,
        ]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=self.env)
        if not polled(self._healthy, 30):
            raise RuntimeError(f"server did not start: {self.log_path.read_text()[-2000:]}")
        return self

    def _healthy(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(f"server exited: {self.log_path.read_text()[-2000:]}")
        return answers_health(self.url, verify=self.verify)

    def kill(self) -> None:
        """Stop at once, as a crash or a power cut would: no goodbye to any client."""
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def sign_in(self, name: str = "Ada", tenant: str = "demo", **body: str) -> dict[str, str]:
        """Headers of a signed-in user calling from the server's own origin (the demo site's),
        as the widget sends them: the session token, and the browser's Origin."""
        answer = httpx.post(f"{self.url}/api/v1/tenants/{tenant}/sessions",
                            json=body or {"name": name}, headers={"Origin": self.url}, verify=self.verify)
        assert answer.status_code == 201, answer.text
        return {"Authorization": f"Bearer {answer.json()['token']}", "Origin": self.url}

    def author_id(self, headers: dict[str, str]) -> str:
        """The author id a session token stands for (its claims are plain base64 JSON)."""
        import base64
        import json

        body = headers["Authorization"].split(".")[1]
        return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))["a"]

    def cli(self, *arguments: str) -> str:
        """Run an `imagechat` command on this server's database; its output."""
        done = subprocess.run(
            [sys.executable, "-m", "imagechat", *arguments, "--database-url", self.database_url],
            capture_output=True, text=True, check=True,
        )
        return done.stdout

    def rows(self) -> dict[str, list[tuple]]:
        """Every stored row, read straight from the database (not through the server)."""
        tables = ("tenants", "images", "markers", "comments", "events")
        if self.database_url.startswith("postgresql"):
            import asyncpg

            async def fetch() -> dict[str, list[tuple]]:
                connection = await asyncpg.connect(self.database_url)
                try:
                    return {table: sorted((tuple(row) for row in await connection.fetch(f"SELECT * FROM {table}")),
                                          key=repr) for table in tables}
                finally:
                    await connection.close()

            return run(fetch())
        with sqlite3.connect(self.db_path) as db:
            return {table: sorted(db.execute(f"SELECT * FROM {table}").fetchall(), key=repr) for table in tables}


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for a whole session; tests keep apart by using their own image ids."""
    process = ServerProcess(tmp_path_factory.mktemp("server") / "imagechat.db").start()
    yield process
    process.stop()


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A server with an empty database, for tests that look at the whole of what is stored."""
    process = ServerProcess(tmp_path / "imagechat.db").start()
    yield process
    process.stop()


@pytest.fixture
def server_with(tmp_path: Path) -> Iterator:
    """Start servers with extra `imagechat serve` flags, each on its own empty database."""
    started: list[ServerProcess] = []

    def start(*flags: str, **options) -> ServerProcess:
        process = ServerProcess(tmp_path / f"imagechat-{len(started)}.db", None, *flags, **options).start()
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    server = Postgres.find_or_start()
    yield server
    server.close()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest):
    """For suites that run on both databases: makes a new, empty database's URL (None: SQLite)."""
    if request.param == "sqlite":
        return lambda: None
    return request.getfixturevalue("postgres").new_database


NO_RATE_LIMITS = ("--ip-requests-per-minute", "100000", "--user-changes-per-minute", "100000")


@pytest.fixture(scope="module")
def unlimited_server(tmp_path_factory: pytest.TempPathFactory, database) -> Iterator[ServerProcess]:
    """A module's shared server on each database, with rate limits out of the way."""
    process = ServerProcess(tmp_path_factory.mktemp("unlimited") / "imagechat.db", None, *NO_RATE_LIMITS,
                            database_url=database()).start()
    yield process
    process.stop()


@pytest.fixture
def unlimited_fresh_server(server_with, database) -> ServerProcess:
    """An empty database on each database kind, with rate limits out of the way."""
    return server_with(*NO_RATE_LIMITS, database_url=database())


def new_url_id() -> str:
    return f"img-{uuid.uuid4().hex}"


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


@pytest.fixture
def redis_server() -> Iterator[Redis]:
    server = Redis().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture
def new_context(browser: Browser) -> Iterator:
    """New browser contexts (one per user or device) on a server; confirm dialogs are accepted."""
    opened: list[BrowserContext] = []

    def open_context(server: ServerProcess, **options: Any) -> BrowserContext:
        """`options`: Playwright's context options, e.g. a device (`playwright.devices["Pixel 7"]`)."""
        context = browser.new_context(**{"viewport": {"width": 1280, "height": 900}, **options}, base_url=server.url)
        context.on("dialog", lambda dialog: dialog.accept())
        opened.append(context)
        return context

    yield open_context
    for context in opened:
        context.close()
