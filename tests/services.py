"""PostgreSQL and Redis for the tests: the machine's own servers when they answer, else throwaway
instances started from the binaries, else the tests that need them are skipped with the reason."""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncpg
import httpx
import pytest

POSTGRES_URL = os.environ.get("IMAGECHAT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
POSTGRES_BIN = sorted(Path("/usr/lib/postgresql").glob("*/bin"))


def run(coroutine):
    """asyncio.run in a thread of its own: Playwright's sync API may hold this thread's loop."""
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, coroutine).result()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def polled(condition: Callable[[], bool], timeout: float) -> bool:
    """Whether `condition` came to hold within `timeout` seconds: the tests' one polling loop, for
    what lies outside the browser (a starting process, a port, a server's state)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)  # the interval between two looks at the condition
    return True


def wait_until(condition: Callable[[], bool], timeout: float = 10) -> None:
    assert polled(condition, timeout), "condition not met in time"


def answers_health(url: str, verify: bool | str = True) -> bool:
    """Whether an ImageChat server at `url` says it is up."""
    try:
        return httpx.get(f"{url}/healthz", timeout=2, verify=verify).status_code == 200
    except httpx.TransportError:
        return False


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


async def _answers(url: str) -> bool:
    try:
        connection = await asyncpg.connect(url, timeout=3)
    except (OSError, asyncpg.PostgresError, asyncio.TimeoutError):
        return False
    await connection.close()
    return True


class Postgres:
    """A PostgreSQL server on which each test server gets a database of its own."""

    def __init__(self, admin_url: str, process_dir: Path | None = None) -> None:
        self.admin_url = admin_url
        self._dir = process_dir
        self._databases: list[str] = []

    @classmethod
    def find_or_start(cls) -> "Postgres":
        if run(_answers(POSTGRES_URL)):
            return cls(POSTGRES_URL)
        if not POSTGRES_BIN:
            pytest.skip(reason=f"PostgreSQL does not answer at {POSTGRES_URL} and its binaries are not installed "
                        "(scripts/dev test installs them)")
        return cls._throwaway(POSTGRES_BIN[-1])

    @classmethod
    def _throwaway(cls, binaries: Path) -> "Postgres":
        folder = Path(tempfile.mkdtemp(prefix="imagechat-pg-"))
        port = free_port()
        prefix: list[str] = []
        if os.geteuid() == 0:  # initdb refuses root: run the cluster as the postgres user
            prefix = ["runuser", "-u", "postgres", "--"]
            shutil.chown(folder, pwd.getpwnam("postgres").pw_uid)
        subprocess.run([*prefix, str(binaries / "initdb"), "-D", str(folder / "data"), "-U", "postgres",
                        "--auth=trust"], check=True, capture_output=True)
        subprocess.run([*prefix, str(binaries / "pg_ctl"), "-D", str(folder / "data"), "-l", str(folder / "log"),
                        "-o", f"-p {port} -k {folder} -c listen_addresses=127.0.0.1", "start"],
                       check=True, capture_output=True)
        url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        if not polled(lambda: port_open(port), 30):
            pytest.skip(reason=f"a throwaway PostgreSQL did not start: {(folder / 'log').read_text()[-500:]}")
        postgres = cls(url, folder)
        postgres._stop_command = [*prefix, str(binaries / "pg_ctl"), "-D", str(folder / "data"), "stop", "-m", "fast"]
        return postgres

    def new_database(self) -> str:
        name = f"imagechat_test_{uuid.uuid4().hex[:12]}"

        async def create() -> None:
            connection = await asyncpg.connect(self.admin_url)
            try:
                await connection.execute(f'CREATE DATABASE "{name}"')
            finally:
                await connection.close()

        run(create())
        self._databases.append(name)
        return self.admin_url.rsplit("/", 1)[0] + "/" + name

    def close(self) -> None:
        # All at once: each DROP DATABASE waits for a checkpoint, and PostgreSQL serves the drops
        # waiting together with one (one by one, a run's databases took tens of seconds).
        at_once = asyncio.Semaphore(10)

        async def drop(name: str) -> None:
            async with at_once:
                connection = await asyncpg.connect(self.admin_url)
                try:
                    await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                finally:
                    await connection.close()

        async def drop_all() -> None:
            await asyncio.gather(*(drop(name) for name in self._databases))

        run(drop_all())
        if self._dir is not None:
            subprocess.run(self._stop_command, capture_output=True)


class Redis:
    """A throwaway redis-server on a free port, which a test may stop and start again."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip(reason="redis-server is not installed (scripts/dev test installs it)")
        self._binary = binary
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> "Redis":
        self.process = subprocess.Popen(
            [self._binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        assert polled(lambda: port_open(self.port), 30), "redis-server did not start"
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
